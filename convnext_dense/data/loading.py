"""Image and annotation loading that reports bad files in one line.

What the dataset pre-flight (:mod:`convnext_dense.data.checks`) cannot check
cheaply is checked here, as each sample is loaded; tools/train.py and
tools/test.py put these transforms in place of the pipelines' own loaders
(:func:`convnext_dense.data.checks.guard_loading`):

* :class:`CheckedLoadImageFromFile`: mmcv's ``LoadImageFromFile`` that
  recognises an empty, truncated (a JPEG without its end-of-image marker, a
  PNG without its IEND chunk, which some decoders fill in with grey) or
  otherwise undecodable image. Training (``skip_unreadable=True``) skips it,
  with one warning per file and a running count, and mmengine's dataset loads
  another sample in its place; testing stops with a one-line
  :class:`~convnext_dense.errors.UnreadableFileError`.
* :class:`CheckedLoadAnnotations`: the scope's ``LoadAnnotations``, wrapped.
  Detection: an instance with an empty segmentation is ignored, as mmdet
  ignores malformed polygons (mmdet 3.3 fails on it with ``KeyError:
  'mask'``). Segmentation: an unreadable label map is handled like an image;
  a label map of several channels, of another size than its image, or with
  labels outside ``0..num_classes-1`` and the ignore index is a one-line
  :class:`~convnext_dense.errors.DatasetError` (training would fail in the
  loss, or silently learn from misaligned labels; evaluation would ignore
  those pixels).
"""
from typing import Optional, Set

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms import LoadImageFromFile as MmcvLoadImageFromFile
from mmengine import fileio
from mmengine.logging import MMLogger
from mmengine.registry import TRANSFORMS as ROOT_TRANSFORMS

from convnext_dense.errors import (DatasetError, InputNotFoundError,
                                   UnreadableFileError)
from convnext_dense.registry import TRANSFORMS

#: Unreadable files skipped by this process (each dataloader worker counts
#: its own), each warned about once.
_skipped: Set[str] = set()


def truncation(data: bytes) -> Optional[str]:
    """Why the bytes of an image file are incomplete, or None.

    Cheap: two searches from the end. A JPEG's entropy-coded data cannot hold
    its markers, so its end-of-image marker must follow its last
    start-of-scan; a PNG's IEND chunk must follow its last IDAT chunk.
    """
    if not data:
        return 'an empty file'
    if data[:3] == b'\xff\xd8\xff':
        if data.rfind(b'\xff\xd9') < data.rfind(b'\xff\xda'):
            return ('truncated: the JPEG data ends before its end-of-image '
                    'marker')
    elif data[:8] == b'\x89PNG\r\n\x1a\n':
        if data.rfind(b'IEND') < data.rfind(b'IDAT'):
            return 'truncated: the PNG data ends before its IEND chunk'
    return None


def check_image_file(path: str) -> None:
    """Fails in one line when the image file at ``path`` is empty or
    truncated (tools/infer.py's inputs).

    Raises:
        UnreadableFileError: naming the file and what is wrong.
    """
    with open(path, 'rb') as f:
        reason = truncation(f.read())
    if reason is not None:
        raise UnreadableFileError(f'image {path} cannot be read ({reason})')


def unreadable(kind: str, path: str, reason: str, skip: bool) -> None:
    """Skips (training) or stops on (testing) a file that cannot be read;
    a skipped file is logged the first time.

    Returns:
        None, which makes mmengine's dataset load another sample, when
        ``skip``.

    Raises:
        UnreadableFileError: when not ``skip``.
    """
    if not skip:
        raise UnreadableFileError(
            f'{kind} {path} cannot be read ({reason}): replace it or remove '
            f'it from the dataset (training skips such files, evaluation '
            f'stops)')
    if path not in _skipped:
        _skipped.add(path)
        MMLogger.get_current_instance().warning(
            f'skipped unreadable {kind} {path} ({reason}); {len(_skipped)} '
            f'files skipped so far by this process')
    return None


@TRANSFORMS.register_module()
class CheckedLoadImageFromFile(MmcvLoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` that reports unreadable images.

    Args:
        skip_unreadable (bool): Return None for an unreadable image (mmengine
            then loads another training sample) with a warning, instead of
            raising. Defaults to False.
        **kwargs: ``LoadImageFromFile``'s arguments.
    """

    def __init__(self, skip_unreadable: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.skip_unreadable = skip_unreadable

    def transform(self, results: dict) -> Optional[dict]:
        if self.file_client_args is not None:  # mmcv's deprecated path
            return super().transform(results)
        filename = results['img_path']
        try:
            data = fileio.get(filename, backend_args=self.backend_args)
        except FileNotFoundError:
            raise InputNotFoundError(
                f'image {filename} does not exist: restore it or fix the '
                f"dataset's data_root / data_prefix") from None
        reason, img = truncation(data), None
        if reason is None:
            try:
                img = mmcv.imfrombytes(
                    data, flag=self.color_type,
                    backend=self.imdecode_backend)
            except Exception as error:  # any decoder's failure
                reason = f'{type(error).__name__}: {error}'
            if img is None and reason is None:
                reason = 'not an image the decoder can read'
        if reason is not None:
            return unreadable('image', filename, reason,
                              self.skip_unreadable or self.ignore_empty)
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results


@TRANSFORMS.register_module()
class CheckedLoadAnnotations(BaseTransform):
    """The scope's ``LoadAnnotations``, with its inputs and outputs checked.

    Args:
        transform (dict): The wrapped ``LoadAnnotations`` config, with its
            scope (``mmdet.LoadAnnotations`` or ``mmseg.LoadAnnotations``).
        num_classes (int, optional): Segmentation: labels must be below it
            (or the ignore index). Defaults to None: not checked.
        ignore_index (int): Segmentation: the label of ignored pixels.
            Defaults to 255.
        skip_unreadable (bool): Segmentation: skip an unreadable label map
            with a warning instead of raising. Defaults to False.
    """

    def __init__(self,
                 transform: dict,
                 num_classes: Optional[int] = None,
                 ignore_index: int = 255,
                 skip_unreadable: bool = False) -> None:
        self.loader = ROOT_TRANSFORMS.build(transform)
        self.segmentation = str(transform['type']).startswith('mmseg.')
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.skip_unreadable = skip_unreadable

    def transform_detection(self, results: dict) -> dict:
        if getattr(self.loader, 'with_mask', False):
            for instance in results.get('instances', []):
                # mmdet ignores an instance whose polygons are all malformed;
                # an empty one is the same (and a KeyError in mmdet 3.3).
                instance.setdefault('mask', [])
        return self.loader(results)

    def transform_segmentation(self, results: dict) -> Optional[dict]:
        path = results.get('seg_map_path')
        try:
            loaded = self.loader(results)
        except FileNotFoundError:
            raise InputNotFoundError(
                f'label map {path} (of image {results.get("img_path")}) does '
                f'not exist') from None
        except Exception as error:  # any decoder's failure
            return unreadable('label map', path,
                              f'{type(error).__name__}: {error}',
                              self.skip_unreadable)
        label = loaded.get('gt_seg_map')
        if label is None:
            return loaded
        self._check_label_map(label, loaded, path)
        return loaded

    def _check_label_map(self, label: np.ndarray, results: dict,
                         path: str) -> None:
        if label.ndim != 2:
            raise DatasetError(
                f'label map {path} has {label.shape[-1]} channels: a label '
                f'map is a single-channel PNG of class indices (convert a '
                f'colour-coded one)')
        image_shape = tuple(results.get('ori_shape', label.shape))[:2]
        if label.shape != image_shape:
            raise DatasetError(
                f'label map {path} is {label.shape[1]}x{label.shape[0]} but '
                f'its image {results.get("img_path")} is {image_shape[1]}x'
                f'{image_shape[0]}: a label map must have its image\'s size')
        if self.num_classes is None:
            return
        counts = np.bincount(label.ravel(), minlength=256)
        bad = [v for v in np.flatnonzero(counts)
               if v >= self.num_classes and v != self.ignore_index]
        if not bad:
            return
        # The values as written in the file (reduce_zero_label subtracts 1).
        reduced = bool(results.get('reduce_zero_label'))
        in_file = ', '.join(str(int(v) + reduced) for v in bad)
        valid = (f'1..{self.num_classes}, and 0 and 255 (ignored)'
                 if reduced else f'0..{self.num_classes - 1}, and '
                 f'{self.ignore_index} (ignored)')
        share = counts[bad].sum() / label.size
        raise DatasetError(
            f'label map {path} holds labels {in_file} ({share:.1%} of its '
            f'pixels) outside the {self.num_classes} classes ({valid}): a '
            f'label map holds class indices; check num_classes and '
            f'reduce_zero_label')

    def transform(self, results: dict) -> Optional[dict]:
        if self.segmentation:
            return self.transform_segmentation(results)
        return self.transform_detection(results)

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.loader!r})'
