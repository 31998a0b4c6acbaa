"""Run an exported detector (``tools/export_onnx.py``) with onnxruntime,
numpy and OpenCV only: no torch, mmcv, mmengine or mmdet.

This file stands alone: copy it next to the ``.onnx`` file on the machine
that runs it. ::

    from runtime import Detector
    detector = Detector('det.onnx')
    prediction = detector.predict('image.jpg')   # or a BGR uint8 array
    prediction.bboxes, prediction.scores, prediction.labels, prediction.masks

or ``python runtime.py det.onnx image.jpg ...`` to print the detections.

What it does around the graph is what mmdet's test pipeline and
``predict(..., rescale=True)`` do around the model:

- the image is read as ``LoadImageFromFile`` reads it (``cv2.imread``,
  colour, BGR) and resized as the config's test ``Resize`` does
  (``keep_ratio``: the largest scale that fits the long and short sides,
  sizes rounded half up, OpenCV bilinear); the graph normalises and pads;
- the boxes come back in the original image's pixels (divided by the
  resize's scale factors) and each mask probability map is pasted into the
  original image by mmdet's rule (bilinear sampling at pixel centres of the
  box, zero outside; ``_do_paste_mask``), then thresholded at the config's
  ``mask_thr_binary``.

The export writes what this needs into the file's metadata
(:data:`METADATA_KEY`); a file without it is not one of these exports.
"""
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

#: The metadata entry the export writes, and the format it names.
METADATA_KEY = 'convnext_dense'
FORMAT = 'convnext_dense.detector'
FORMAT_VERSION = 1
#: Graph input and outputs.
INPUT_NAME = 'image'
OUTPUT_NAMES = ('boxes', 'scores', 'labels', 'masks')


class DeploymentError(Exception):
    """An input the runtime cannot use: a file that is not an exported
    detector, an image it cannot read. Its message is one line."""


@dataclass
class Prediction:
    """What mmdet's ``pred_instances`` hold, as arrays, best score first.

    Attributes:
        bboxes: K x 4 float32, x1 y1 x2 y2 in the original image's pixels.
        scores: K float32.
        labels: K int64, indices into :attr:`Detector.classes`.
        masks: K x H x W bool, at the original image's size.
    """
    bboxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    masks: np.ndarray


def read_image(path: Union[str, Path]) -> np.ndarray:
    """The image as ``LoadImageFromFile`` reads it: BGR uint8, H x W x 3.

    Raises:
        DeploymentError: when the file does not exist or OpenCV cannot
            read it.
    """
    if not Path(path).is_file():
        raise DeploymentError(f'{path} does not exist')
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DeploymentError(f'{path} is not an image OpenCV can read: pass '
                              'PNG, JPEG or another image file')
    return image


def resized_size(width: int, height: int, scale: Sequence[int],
                 keep_ratio: bool) -> Tuple[int, int]:
    """(w, h) after mmdet's ``Resize(scale, keep_ratio)`` (mmcv's
    ``rescale_size``)."""
    if not keep_ratio:
        return int(scale[0]), int(scale[1])
    factor = min(max(scale) / max(height, width),
                 min(scale) / min(height, width))
    return int(width * float(factor) + 0.5), int(height * float(factor) + 0.5)


def _paste_weights(centres: np.ndarray, start: np.float32, end: np.float32,
                   size: int) -> np.ndarray:
    """(len(centres), size) bilinear weights of ``grid_sample``
    (``align_corners=False``, zero padding) along one axis, sampling a map
    of ``size`` cells spread over [start, end] at pixel ``centres``."""
    with np.errstate(divide='ignore', invalid='ignore'):
        grid = (centres - start) / (end - start) * np.float32(2) - np.float32(
            1)
    grid[np.isinf(grid)] = 0  # a box of no width or height, as mmdet does
    source = ((grid + np.float32(1)) * np.float32(size) - np.float32(1)) / (
        np.float32(2))
    low = np.floor(source)
    weights = np.zeros((len(centres), size), np.float32)
    rows = np.arange(len(centres))
    for cell, weight in ((low, low + 1 - source), (low + 1, source - low)):
        inside = (cell >= 0) & (cell < size)
        weights[rows[inside], cell[inside].astype(np.int64)] += weight[inside]
    return weights


def paste_mask(probabilities: np.ndarray, box: np.ndarray, height: int,
               width: int, threshold: float) -> np.ndarray:
    """One M x M probability map pasted into an H x W image inside ``box``
    and thresholded (``>= threshold``): mmdet's ``_do_paste_mask`` on the
    CPU, which samples only the pixels around the box."""
    x0, y0, x1, y1 = (np.float32(v) for v in box)
    left, top = max(math.floor(x0) - 1, 0), max(math.floor(y0) - 1, 0)
    right = min(math.ceil(x1) + 1, width)
    bottom = min(math.ceil(y1) + 1, height)
    mask = np.zeros((height, width), bool)
    if right <= left or bottom <= top:
        return mask
    size = probabilities.shape[0]
    rows = _paste_weights(
        np.arange(top, bottom, dtype=np.float32) + np.float32(0.5), y0, y1,
        size)
    cols = _paste_weights(
        np.arange(left, right, dtype=np.float32) + np.float32(0.5), x0, x1,
        size)
    pasted = rows @ probabilities.astype(np.float32) @ cols.T
    mask[top:bottom, left:right] = pasted >= threshold
    return mask


def _metadata(session, path: str) -> Dict[str, object]:
    """The export's metadata, checked.

    Raises:
        DeploymentError: when the file is not one of these exports.
    """
    entry = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
    try:
        meta = json.loads(entry) if entry else {}
    except json.JSONDecodeError:
        meta = {}
    if meta.get('format') != FORMAT:
        raise DeploymentError(
            f'{path} is not a detector exported by tools/export_onnx.py (no '
            f'{METADATA_KEY!r} metadata of format {FORMAT!r}): export one '
            f'with tools/export_onnx.py CONFIG CHECKPOINT --out FILE.onnx')
    if meta.get('version') != FORMAT_VERSION:
        raise DeploymentError(
            f'{path} is a detector export of format version '
            f'{meta.get("version")}; this runtime reads version '
            f'{FORMAT_VERSION}: export it again')
    return meta


class Detector:
    """An exported detector in an onnxruntime session.

    Args:
        path: The ``.onnx`` file written by ``tools/export_onnx.py``.
        threads: onnxruntime's intra-op threads (default: its own choice).

    Raises:
        DeploymentError: when the file does not exist, is not an ONNX file
            onnxruntime can load, or is not an exported detector.
    """

    def __init__(self, path: Union[str, Path],
                 threads: Optional[int] = None) -> None:
        import onnxruntime
        path = str(path)
        if not Path(path).is_file():
            raise DeploymentError(f'{path} does not exist')
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = onnxruntime.InferenceSession(
                path, options, providers=['CPUExecutionProvider'])
        except Exception as error:  # onnxruntime's own exception types
            raise DeploymentError(
                f'{path} is not an ONNX file onnxruntime can load: '
                f'{str(error).splitlines()[0]}') from None
        meta = _metadata(self.session, path)
        self.path = path
        self.scale: Optional[List[int]] = meta['resize_scale']
        self.keep_ratio = bool(meta['keep_ratio'])
        self.mask_threshold = float(meta['mask_thr_binary'])
        self.classes: List[str] = list(meta.get('classes', []))
        self.palette: List[List[int]] = list(meta.get('palette', []))

    def preprocess(self, image: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """The graph's input (1 x 3 x h x w float32, BGR 0-255) and the
        resize's (w, h, w, h) scale factors."""
        height, width = image.shape[:2]
        if self.scale is None:
            resized = image
        else:
            size = resized_size(width, height, self.scale, self.keep_ratio)
            resized = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
        new_height, new_width = resized.shape[:2]
        factors = np.array([new_width / width, new_height / height] * 2,
                           np.float32)
        batch = resized.transpose(2, 0, 1)[None].astype(np.float32)
        return np.ascontiguousarray(batch), factors

    def run(self, batch: np.ndarray) -> Dict[str, np.ndarray]:
        """The graph's outputs on one preprocessed image, by name."""
        outputs = self.session.run(list(OUTPUT_NAMES), {INPUT_NAME: batch})
        return dict(zip(OUTPUT_NAMES, outputs))

    def predict(self, image: Union[str, Path, np.ndarray]) -> Prediction:
        """Detections on one image (a file, or a BGR uint8 H x W x 3 array).

        Raises:
            DeploymentError: for a file it cannot read, or an array that is
                not H x W x 3.
        """
        if not isinstance(image, np.ndarray):
            image = read_image(image)
        if image.ndim != 3 or image.shape[2] != 3:
            raise DeploymentError(f'an image array must be H x W x 3 (BGR), '
                                  f'got shape {list(image.shape)}')
        batch, factors = self.preprocess(image)
        out = self.run(batch)
        bboxes = out['boxes'].astype(np.float32) / factors
        height, width = image.shape[:2]
        masks = np.stack([
            paste_mask(m, b, height, width, self.mask_threshold)
            for m, b in zip(out['masks'], bboxes)
        ]) if len(bboxes) else np.zeros((0, height, width), bool)
        return Prediction(bboxes, out['scores'].astype(np.float32),
                          out['labels'].astype(np.int64), masks)


def describe(prediction: Prediction, classes: Sequence[str],
             score_thr: float = 0.3) -> List[str]:
    """One line per detection with score >= ``score_thr``, best first."""
    lines = []
    for index in np.argsort(-prediction.scores, kind='stable'):
        score = float(prediction.scores[index])
        if score < score_thr:
            continue
        label = int(prediction.labels[index])
        name = classes[label] if label < len(classes) else str(label)
        box = ', '.join(f'{v:.1f}' for v in prediction.bboxes[index])
        area = int(prediction.masks[index].sum())
        lines.append(f'  {name:<12} {score:.3f}  box [{box}] mask {area} px')
    return lines


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python runtime.py FILE.onnx IMAGE...``: prints the detections with
    score >= 0.3 of each image; one ``error:`` line and status 2 for bad
    input."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2:
        print('usage: python runtime.py FILE.onnx IMAGE...', file=sys.stderr)
        return 2
    try:
        detector = Detector(args[0])
        for path in args[1:]:
            prediction = detector.predict(path)
            print(f'{path}: {len(prediction.scores)} detections')
            print('\n'.join(describe(prediction, detector.classes)))
    except DeploymentError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
