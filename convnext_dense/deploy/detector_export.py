"""Export of a whole detector (:class:`~.detector_graph.DetectorGraph`) to
one ``.onnx`` file the runtime (:mod:`convnext_dense.deploy.runtime`) runs,
and its check against mmdet's own inference.

The file holds, besides the graph, what the runtime needs from the config
(:func:`runtime_metadata`): the test ``Resize``, the mask threshold and the
class names. The graph is traced with torch's TorchScript exporter: it
records the shape arithmetic (padding, ``TopK`` sizes, anchor grids) as
graph ops, so the file takes any image size, and it writes the RoIAlign and
NMS steps as the standard ops :class:`~.detector_graph.OnnxRoIAlign` and
:class:`~.detector_graph.OnnxNMS` name.

The check runs mmdet's inference (the config's test pipeline,
``TwoStageDetector.predict`` with ``rescale=True``) and the runtime on the
same image files and matches their detections (:mod:`.matching`).
"""
import json
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config

from convnext_dense.data.wrappers import leaf_datasets
from convnext_dense.deploy import runtime
from convnext_dense.deploy.detector_graph import OUTPUT_NAMES, DetectorGraph
from convnext_dense.deploy.matching import (MIN_BOX_IOU, Matches, box_iou,
                                            match_detections)
from convnext_dense.errors import UserError

#: The test pipeline steps the runtime reproduces; annotation loading and
#: packing have nothing to do on a plain image.
RUNTIME_STEPS = ('LoadImageFromFile', 'Resize')
IGNORED_STEPS = ('LoadAnnotations', 'PackDetInputs')
#: Least share of mmdet's detections (and proposals) the file must match.
MIN_MATCHED = 0.99


def _step_type(step: dict) -> str:
    return str(step.get('type', '')).split('.')[-1]


def _check_step(step: dict) -> None:
    """Raises a UserError for a pipeline step the runtime does not do."""
    kind = _step_type(step)
    unsupported = None
    if kind not in RUNTIME_STEPS + IGNORED_STEPS:
        unsupported = (f'test pipeline step {kind}: the ONNX runtime '
                       f'reproduces {", ".join(RUNTIME_STEPS)} (no test-time '
                       f'augmentation or other steps)')
    elif kind == 'LoadImageFromFile' and (
            step.get('color_type', 'color') != 'color'
            or step.get('imdecode_backend', 'cv2') != 'cv2'):
        unsupported = ('test pipeline LoadImageFromFile: the ONNX runtime '
                       "reads colour images with cv2 only")
    elif kind == 'Resize' and (
            not step.get('scale') or step.get('scale_factor')
            or step.get('interpolation', 'bilinear') != 'bilinear'
            or step.get('backend', 'cv2') != 'cv2'):
        unsupported = ('test pipeline Resize: the ONNX runtime reproduces '
                       'Resize(scale=(w, h), keep_ratio=...) with bilinear '
                       'cv2 interpolation only')
    if unsupported:
        raise UserError(unsupported)


def runtime_metadata(cfg: Config, detector: nn.Module) -> Dict[str, object]:
    """What the runtime needs from the config, stored in the file.

    Raises:
        UserError: when the test pipeline has a step the runtime does not
            reproduce (test-time augmentation among them).
    """
    dataset, _ = next(leaf_datasets(cfg.test_dataloader.dataset))
    steps = list(dataset.get('pipeline', []))
    for step in steps:
        _check_step(step)
    resize = next((s for s in steps if _step_type(s) == 'Resize'), None)
    meta = detector.dataset_meta or {}
    return dict(
        format=runtime.FORMAT, version=runtime.FORMAT_VERSION,
        resize_scale=list(resize['scale']) if resize else None,
        keep_ratio=bool(resize.get('keep_ratio', False)) if resize else False,
        mask_thr_binary=float(detector.test_cfg.rcnn.get('mask_thr_binary',
                                                         0.5)),
        classes=list(meta.get('classes', [])),
        palette=[list(c) for c in meta.get('palette', [])])


def export_detector(graph: DetectorGraph, image: torch.Tensor, out: str,
                    metadata: Dict[str, object], opset: int) -> None:
    """Traces ``graph`` on ``image`` (1 x 3 x H x W) into ``out``, height
    and width free, with ``metadata`` under :data:`runtime.METADATA_KEY`."""
    import onnx
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    graph.requires_grad_(False)
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer warns about every shape it records as an op: intended.
        warnings.simplefilter('ignore')
        torch.onnx.export(
            graph, (image, ), out, dynamo=False, opset_version=opset,
            input_names=[runtime.INPUT_NAME],
            output_names=list(OUTPUT_NAMES),
            dynamic_axes={runtime.INPUT_NAME: {2: 'height', 3: 'width'}})
    model = onnx.load(out)
    entry = model.metadata_props.add()
    entry.key, entry.value = runtime.METADATA_KEY, json.dumps(metadata)
    onnx.save(model, out)


def mmdet_predict(model: nn.Module, image_path: str):
    """mmdet's inference on one file, as ``tools/test.py`` runs it: the
    config's test pipeline, then ``TwoStageDetector.predict`` with
    ``rescale=True``. Returns (pred_instances, RPN proposals)."""
    from mmengine.dataset import pseudo_collate
    from convnext_dense.inference.detection import inference_pipeline
    data = inference_pipeline(model.cfg)(dict(img_path=image_path, img_id=0))
    with torch.no_grad():
        batch = model.data_preprocessor(pseudo_collate([data]), False)
        samples = batch['data_samples']
        features = model.extract_feat(batch['inputs'])
        proposals = model.rpn_head.predict(features, samples, rescale=False)
        results = model.roi_head.predict(features, proposals, samples,
                                         rescale=True)
    return results[0], proposals[0]


def as_prediction(instances) -> runtime.Prediction:
    """mmdet's ``pred_instances`` as a runtime :class:`~runtime.Prediction`."""
    return runtime.Prediction(instances.bboxes.numpy(),
                              instances.scores.numpy(),
                              instances.labels.numpy(),
                              instances.masks.numpy())


@dataclass
class DetectorCheck:
    """The file against mmdet on one image.

    Attributes:
        image_shape: The image's (H, W).
        input_shape: The graph's input (H, W) after the resize.
        detections: How mmdet's detections matched the file's.
        proposals: Share of mmdet's RPN proposals the file gave too (box
            IoU >= 0.99).
        num_proposals: How many proposals mmdet gave.
    """
    image_shape: Tuple[int, int]
    input_shape: Tuple[int, int]
    detections: Matches
    proposals: float
    num_proposals: int


def check_image(detector: runtime.Detector, model: nn.Module,
                image_path: str) -> DetectorCheck:
    """Runs mmdet and the file on one image and matches their outputs."""
    image = runtime.read_image(image_path)
    instances, rpn = mmdet_predict(model, image_path)
    batch, _ = detector.preprocess(image)
    got = detector.predict(image)
    outputs = detector.session.run(['proposals'],
                                   {runtime.INPUT_NAME: batch})
    expected = rpn.bboxes.numpy()
    found = (box_iou(expected, outputs[0]).max(axis=1) >= MIN_BOX_IOU
             if len(outputs[0]) else np.zeros(len(expected), bool))
    return DetectorCheck(
        image.shape[:2], batch.shape[2:],
        match_detections(as_prediction(instances), got),
        float(found.mean()) if len(expected) else 1.0, len(expected))


def check_images(shape: Tuple[int, int], folder: str,
                 path: Optional[str] = None) -> List[str]:
    """The images the check runs on: ``path`` if given, else random images
    of ``shape`` and of a second, other size (written to ``folder``)."""
    if path is not None:
        return [path]
    height, width = shape
    paths = []
    for seed, size in enumerate([(height, width),
                                 (height + 37, max(width - 75, 33))]):
        pixels = np.random.default_rng(seed).integers(
            0, 256, size + (3, ), dtype=np.uint8)
        paths.append(str(Path(folder) / f'check_{seed}.png'))
        cv2.imwrite(paths[-1], pixels)
    return paths


def verify_detector(out: str, model: nn.Module,
                    images: Sequence[str]) -> List[DetectorCheck]:
    """Checks the file against mmdet on each image.

    Raises:
        UserError: when onnxruntime cannot run it, or it matches fewer than
            :data:`MIN_MATCHED` of mmdet's detections or proposals.
    """
    try:
        detector = runtime.Detector(out)
        checks = [check_image(detector, model, p) for p in images]
    except runtime.DeploymentError as error:
        raise UserError(str(error)) from None
    except Exception as error:  # onnxruntime's own exception types
        raise UserError(f'{out} does not run in onnxruntime: '
                        f'{str(error).splitlines()[0]}') from None
    for check, image in zip(checks, images):
        if (check.detections.matched_share < MIN_MATCHED
                or check.proposals < MIN_MATCHED):
            raise UserError(
                f'{out} differs from PyTorch on {image}: '
                f'{describe_check(check)}; do not deploy it')
    return checks


def describe_check(check: DetectorCheck) -> str:
    """One line about a check, for the user."""
    matches = check.detections
    return (f'image {list(check.image_shape)} (graph input '
            f'{list(check.input_shape)}): {matches.matched} of '
            f'{matches.expected} PyTorch detections matched (same label, box '
            f'IoU >= 0.99, mask IoU >= 0.95), largest score difference '
            f'{matches.max_score_diff:.2e}, {matches.got} from onnxruntime; '
            f'{check.proposals:.2%} of {check.num_proposals} proposals '
            f'matched')


def temporary_folder() -> tempfile.TemporaryDirectory:
    """Where the check writes its random images."""
    return tempfile.TemporaryDirectory(prefix='export_onnx_check_')
