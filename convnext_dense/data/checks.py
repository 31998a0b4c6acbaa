"""A dataset's contents, checked before training or testing starts.

tools/train.py and tools/test.py call these through
:func:`convnext_dense.cli.common.check_datasets`, after the dataset paths are
known to exist:

* :func:`check_dataset_contents`: a walk over each COCO annotation file
  (:func:`check_coco`: every image file, id, category, box and segmentation;
  reading the JSON dominates, a few seconds for COCO's train2017) and each
  segmentation folder (:func:`check_seg_folder`: every image has its label
  map). What would crash mmdet, mmseg or pycocotools later, or silently mix
  up the classes, is a one-line error; what mmdet leaves out silently
  (zero-area boxes, categories outside the classes, ...) is one warning line
  with counts. ``check_data = False`` in a config turns the walk off.
* :func:`guard_loading`: puts :mod:`convnext_dense.data.loading`'s
  transforms in place of the pipelines' image and annotation loaders, for
  what only decoding shows (corrupt images, label values and sizes).
"""
import json
import os
import os.path as osp
from collections import Counter
from dataclasses import dataclass, field
from numbers import Real
from typing import (Any, Dict, Iterator, List, Mapping, Optional, Sequence,
                    Set, Tuple)

from mmengine.config import Config
from mmengine.logging import MMLogger

from convnext_dense.data.wrappers import split_datasets
from convnext_dense.errors import DatasetError, InputNotFoundError

#: Shown in messages: at most this many examples.
EXAMPLES = 3
#: Config types of mmcv's image loader, swapped for the checked one.
IMAGE_LOADERS = ('LoadImageFromFile', 'mmcv.LoadImageFromFile',
                 'mmdet.LoadImageFromFile', 'mmseg.LoadImageFromFile')


def _examples(items: Sequence[Any]) -> str:
    shown = ', '.join(str(item) for item in list(items)[:EXAMPLES])
    return shown + (', ...' if len(items) > EXAMPLES else '')


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def segmentation_problem(segmentation: Any) -> Optional[str]:
    """Why a COCO segmentation cannot be used, or None.

    Valid: a list of polygons, each an even number (6 or more) of
    coordinates, or an RLE dict with ``counts`` (list or string) and
    ``size``.
    """
    if isinstance(segmentation, dict):
        if (isinstance(segmentation.get('counts'), (list, str))
                and isinstance(segmentation.get('size'), (list, tuple))):
            return None
        return 'an RLE without counts and size'
    if not segmentation:
        return 'empty'
    if not isinstance(segmentation, list):
        return f'a {type(segmentation).__name__}'
    for polygon in segmentation:
        if (not isinstance(polygon, list) or len(polygon) < 6
                or len(polygon) % 2 or not all(map(_is_number, polygon))):
            return 'a polygon of fewer than 3 points or an odd length'
    return None


@dataclass
class CocoReport:
    """What :func:`check_coco` found that mmdet leaves out or ignores."""
    ann_file: str
    images: int = 0
    annotations: int = 0
    bad_boxes: int = 0
    other_categories: Counter = field(default_factory=Counter)
    orphans: int = 0
    bad_segmentations: int = 0
    crowd_only_images: int = 0

    def warning(self, where: str) -> Optional[str]:
        """One line with the counts, or None when all is used."""
        left_out = []
        if self.bad_boxes:
            left_out.append(f'{self.bad_boxes} with a zero-area, negative or '
                            f'outside box')
        if self.other_categories:
            left_out.append(
                f'{sum(self.other_categories.values())} of category ids not '
                f'in the classes ({_examples(sorted(self.other_categories))})')
        if self.orphans:
            left_out.append(f'{self.orphans} whose image_id matches no image')
        parts = []
        if left_out:
            count = self.bad_boxes + sum(
                self.other_categories.values()) + self.orphans
            parts.append(f'{count} of {self.annotations} annotations are left '
                         f'out (as mmdet does): {", ".join(left_out)}')
        if self.bad_segmentations:
            parts.append(f'{self.bad_segmentations} instances with an empty '
                         f'or malformed segmentation are ignored (no mask to '
                         f'learn from)')
        if self.crowd_only_images:
            parts.append(f'{self.crowd_only_images} of {self.images} images '
                         f'have only crowd annotations (they train as '
                         f'background)')
        if not parts:
            return None
        return f'{self.ann_file} ({where}): ' + '; '.join(parts)


def _read_json(ann_file: str, where: str) -> dict:
    try:
        with open(ann_file) as f:
            data = json.load(f)
    except (ValueError, UnicodeDecodeError) as error:
        raise DatasetError(
            f'{ann_file} ({where}.ann_file) is not valid JSON ({error}): '
            f'it is truncated or not a COCO annotation file') from None
    if not isinstance(data, dict) or not isinstance(data.get('images'), list):
        raise DatasetError(
            f'{ann_file} ({where}.ann_file) is not a COCO annotation file: '
            f'it has no "images" list')
    return data


class _Listing:
    """File names per folder, listed once (cheaper than a stat per image)."""

    def __init__(self) -> None:
        self._names: Dict[str, Set[str]] = {}

    def exists(self, path: str) -> bool:
        folder, name = osp.split(path)
        if folder not in self._names:
            try:
                self._names[folder] = set(os.listdir(folder))
            except OSError:
                self._names[folder] = set()
        return name in self._names[folder]


def _check_classes(categories: List[dict], classes: Sequence[str],
                   ann_file: str) -> Dict[int, str]:
    """The category ids of ``classes``; errors for what mmdet mislabels."""
    names = [c.get('name') for c in categories]
    absent = [c for c in classes if c not in names]
    if absent:
        raise DatasetError(
            f'class {absent[0]!r} of the config (metainfo.classes) is not a '
            f'category of {ann_file} (its categories: {_examples(names)}): '
            f'mmdet would shift the labels of the classes after it; list the '
            f'classes by their names in the file')
    in_file_order = [n for n in names if n in classes]
    if list(in_file_order) != list(classes):
        raise DatasetError(
            f'the classes of the config (metainfo.classes) are in another '
            f'order than the categories of {ann_file} '
            f'({_examples(in_file_order)}): mmdet numbers the labels in the file\'s order, so the names '
            f'would be swapped; list them in the file\'s order')
    return {c['id']: c['name'] for c in categories if c.get('name') in classes}


def check_coco(ann_file: str,
               img_dir: str,
               classes: Sequence[str],
               where: str,
               loads_masks: bool = False,
               evaluates_masks: bool = False) -> CocoReport:
    """Checks a COCO annotation file and its images.

    Args:
        ann_file: The annotation file.
        img_dir: The folder the images' ``file_name`` is relative to.
        classes: The config's classes (``metainfo.classes``).
        where: The dataset's config key, for messages.
        loads_masks: The split's pipeline loads masks: segmentations are
            checked (and counted when unusable).
        evaluates_masks: The split is evaluated with ``segm`` metrics:
            pycocotools fails on an empty or malformed segmentation.

    Returns:
        The counts of what mmdet leaves out or ignores.

    Raises:
        InputNotFoundError: images listed in the file are missing.
        DatasetError: the file is not COCO JSON, has duplicate ids, an
            annotation without a bbox of 4 numbers or an area, a class that
            is not a category (or the classes in another order), no images,
            or (``evaluates_masks``) an unusable segmentation.
    """
    data = _read_json(ann_file, where)
    report = CocoReport(ann_file, images=len(data['images']))
    if not data['images']:
        raise DatasetError(f'{ann_file} ({where}.ann_file) lists no images')
    sizes: Dict[Any, Tuple[float, float]] = {}
    missing, listing = [], _Listing()
    for image in data['images']:
        image_id = image.get('id')
        if image_id in sizes:
            raise DatasetError(f'{ann_file}: image id {image_id!r} appears '
                               f'twice: image ids must be unique')
        sizes[image_id] = (image.get('width', 0), image.get('height', 0))
        if not listing.exists(osp.join(img_dir, str(image.get('file_name')))):
            missing.append(image.get('file_name'))
    if missing:
        raise InputNotFoundError(
            f'{len(missing)} of the {len(sizes)} images listed in {ann_file} '
            f'are missing under {img_dir} ({where}.data_prefix.img), e.g. '
            f'{_examples(missing)}: fix data_root / data_prefix, or restore '
            f'the files')
    cat_ids = _check_classes(data.get('categories') or [], classes, ann_file)

    annotations = data.get('annotations') or []
    report.annotations = len(annotations)
    seen: Set[Any] = set()
    crowd, plain = set(), set()
    bad_segmentations = []
    for index, ann in enumerate(annotations):
        ann_id = ann.get('id', f'#{index}')
        if ann_id in seen:
            raise DatasetError(f'{ann_file}: annotation id {ann_id!r} appears '
                               f'twice: annotation ids must be unique')
        seen.add(ann_id)
        box = ann.get('bbox')
        if (not isinstance(box, list) or len(box) != 4
                or not all(map(_is_number, box))
                or not _is_number(ann.get('area'))):
            raise DatasetError(
                f'{ann_file}: annotation {ann_id} has bbox {box!r} and area '
                f'{ann.get("area")!r}: a COCO annotation has bbox [x, y, w, '
                f'h] (4 numbers) and a numeric area')
        if ann.get('image_id') not in sizes:
            report.orphans += 1
            continue
        if ann.get('category_id') not in cat_ids:
            report.other_categories[ann.get('category_id')] += 1
            continue
        if ann.get('ignore', False):
            continue
        x, y, w, h = box
        width, height = sizes[ann['image_id']]
        inside_w = max(0, min(x + w, width) - max(x, 0))
        inside_h = max(0, min(y + h, height) - max(y, 0))
        if inside_w * inside_h == 0 or ann['area'] <= 0 or w < 1 or h < 1:
            report.bad_boxes += 1
            continue
        problem = (segmentation_problem(ann.get('segmentation'))
                   if loads_masks or evaluates_masks else None)
        if problem is not None:
            bad_segmentations.append(f'{ann_id} ({problem})')
        (crowd if ann.get('iscrowd') else plain).add(ann['image_id'])
    report.crowd_only_images = len(crowd - plain)
    report.bad_segmentations = len(bad_segmentations)
    if bad_segmentations and evaluates_masks:
        raise DatasetError(
            f'{len(bad_segmentations)} annotations of {ann_file} ({where}) '
            f'have an empty or malformed segmentation, e.g. '
            f'{_examples(bad_segmentations)}: pycocotools cannot evaluate '
            f'masks against them; fix or remove them, or evaluate boxes only '
            f"(metric='bbox')")
    return report


def _absent(names: List[str], folder: str) -> List[str]:
    """The ``names`` that are not files under ``folder``."""
    listing = _Listing()
    return [name for name in names
            if not listing.exists(osp.join(folder, name))]


def check_seg_folder(img_dir: str, seg_dir: Optional[str], img_suffix: str,
                     seg_map_suffix: str, where: str,
                     split_file: Optional[str] = None) -> int:
    """Checks that a segmentation dataset has images, each with a label map.

    Args:
        img_dir: The images' folder (``data_prefix.img_path``).
        seg_dir: The label maps' folder (``data_prefix.seg_map_path``), or
            None for images only.
        img_suffix: The images' suffix, as mmseg's dataset takes it.
        seg_map_suffix: The label maps' suffix.
        where: The dataset's config key, for messages.
        split_file: mmseg's ``ann_file``: image names (without suffix), one
            a line; None to list ``img_dir`` as mmseg does.

    Returns:
        The number of images.

    Raises:
        DatasetError: no image has ``img_suffix``.
        InputNotFoundError: images or label maps are missing.
    """
    if split_file:
        with open(split_file) as f:
            stems = [line.strip() for line in f if line.strip()]
        gone = _absent([s + img_suffix for s in stems], img_dir)
        if gone:
            raise InputNotFoundError(
                f'{len(gone)} of the {len(stems)} images named in '
                f'{split_file} are missing under {img_dir} ({where}), e.g. '
                f'{_examples(gone)}')
    else:
        stems = sorted(
            osp.relpath(osp.join(root, name), img_dir)[:-len(img_suffix)]
            for root, _, names in os.walk(img_dir)
            for name in names if name.endswith(img_suffix))
    if not stems:
        raise DatasetError(
            f'no {img_suffix} images under {img_dir} '
            f'({where}.data_prefix.img_path): check the folder and img_suffix')
    if seg_dir is None:
        return len(stems)
    missing = _absent([s + seg_map_suffix for s in stems], seg_dir)
    if missing:
        raise InputNotFoundError(
            f'{len(missing)} of the {len(stems)} images under {img_dir} have '
            f'no label map under {seg_dir} ({where}.data_prefix.'
            f'seg_map_path), e.g. {_examples(missing)}: restore them, or '
            f'check seg_map_suffix')
    return len(stems)


def _dataset_class(name: Any, scope: str) -> Optional[type]:
    if not isinstance(name, str):
        return name if isinstance(name, type) else None
    from mmengine.registry import DATASETS
    with DATASETS.switch_scope_and_registry(scope) as registry:
        try:
            return registry.get(name)
        except (KeyError, ImportError):
            return None


def _default(cls: type, name: str, fallback: Any) -> Any:
    import inspect
    try:
        parameter = inspect.signature(cls).parameters.get(name)
    except (TypeError, ValueError):
        parameter = None
    if parameter is None or parameter.default is parameter.empty:
        return fallback
    return parameter.default


def _under(root: str, path: Optional[str]) -> Optional[str]:
    return osp.join(root, path) if path else path


def _steps(pipeline: Any) -> Iterator[Mapping]:
    """Every transform config in ``pipeline``, nested ones included."""
    if isinstance(pipeline, Mapping):
        yield pipeline
        for value in pipeline.values():
            yield from _steps(value)
    elif isinstance(pipeline, (list, tuple)):
        for item in pipeline:
            yield from _steps(item)


def _metrics(evaluator: Any) -> Set[str]:
    found: Set[str] = set()
    for step in _steps(evaluator or []):
        metric = step.get('metric')
        found |= {metric} if isinstance(metric, str) else set(metric or ())
    return found


def _check_coco_dataset(cfg: Config, split: str, dataset: Mapping, where: str,
                        cls: type, logger) -> None:
    root = dataset.get('data_root') or ''
    ann_file = dataset.get('ann_file')
    if not ann_file:
        return
    classes = (dataset.get('metainfo') or {}).get('classes') or cls.METAINFO[
        'classes']
    loads_masks = any(
        str(step.get('type')).endswith('LoadAnnotations')
        and step.get('with_mask') for step in _steps(dataset.get('pipeline')))
    img_dir = _under(root, (dataset.get('data_prefix') or {}).get('img'))
    report = check_coco(
        _under(root, ann_file), img_dir or root, list(classes), where,
        loads_masks=loads_masks,
        evaluates_masks=split != 'train' and 'segm' in _metrics(
            cfg.get(f'{split}_evaluator')))
    line = report.warning(where)
    if line:
        logger.warning(line)


def _check_seg_dataset(dataset: Mapping, where: str, cls: type) -> None:
    root = dataset.get('data_root') or ''
    prefix = dataset.get('data_prefix') or {}
    if not prefix.get('img_path'):
        return
    ann_file = dataset.get('ann_file')
    split_file = _under(root, ann_file) if ann_file else None
    if split_file and osp.isdir(split_file):
        split_file = None
    check_seg_folder(
        _under(root, prefix['img_path']),
        _under(root, prefix.get('seg_map_path')),
        dataset.get('img_suffix') or _default(cls, 'img_suffix', '.jpg'),
        dataset.get('seg_map_suffix')
        or _default(cls, 'seg_map_suffix', '.png'), where, split_file)


def check_dataset_contents(cfg: Config, splits: List[str]) -> None:
    """Checks the COCO annotation files and segmentation folders of
    ``splits`` (see the module's docstring); remote data is not checked.

    Args:
        cfg: A config with ``default_scope`` mmdet or mmseg (others are not
            checked), whose dataset paths exist.
        splits: ``train``, ``val`` and/or ``test``.

    Raises:
        DatasetError, InputNotFoundError: see :func:`check_coco` and
            :func:`check_seg_folder`.
    """
    scope = cfg.get('default_scope')
    if scope not in ('mmdet', 'mmseg') or not cfg.get('check_data', True):
        return
    logger = MMLogger.get_current_instance()
    for split, dataset, where in split_datasets(cfg, splits):
        if dataset.get('backend_args') or '://' in str(
                dataset.get('data_root') or ''):
            continue
        cls = _dataset_class(dataset.get('type'), scope)
        if cls is None:
            continue
        if scope == 'mmdet':
            from mmdet.datasets import CocoDataset
            if issubclass(cls, CocoDataset):
                _check_coco_dataset(cfg, split, dataset, where, cls, logger)
        else:
            from mmseg.datasets import BaseSegDataset
            if issubclass(cls, BaseSegDataset):
                _check_seg_dataset(dataset, where, cls)


def _seg_num_classes(cfg: Config) -> Optional[int]:
    head = (cfg.get('model') or {}).get('decode_head')
    if isinstance(head, (list, tuple)):
        head = head[-1] if head else None
    return head.get('num_classes') if isinstance(head, Mapping) else None


def _guarded(node: Any, scope: str, skip: bool,
             num_classes: Optional[int]) -> Any:
    """``node`` (a pipeline, a step, nested steps) with the loaders swapped."""
    if isinstance(node, (list, tuple)):
        return type(node)(
            _guarded(item, scope, skip, num_classes) for item in node)
    if not isinstance(node, Mapping):
        return node
    kind = node.get('type')
    if str(kind).startswith('convnext_dense.Checked'):  # guarded already
        return node
    if kind in IMAGE_LOADERS:
        return dict(node, type='convnext_dense.CheckedLoadImageFromFile',
                    skip_unreadable=skip)
    if kind in ('LoadAnnotations', f'{scope}.LoadAnnotations'):
        wrapped = dict(transform=dict(node, type=f'{scope}.LoadAnnotations'),
                       type='convnext_dense.CheckedLoadAnnotations')
        if scope == 'mmseg':
            wrapped.update(num_classes=num_classes, skip_unreadable=skip)
        return wrapped
    return {key: _guarded(value, scope, skip, num_classes)
            for key, value in node.items()}


def guard_loading(cfg: Config, splits: List[str]) -> None:
    """Swaps the image and annotation loaders of ``splits``' pipelines for
    :mod:`convnext_dense.data.loading`'s: training skips unreadable files
    (one warning each, with a count), evaluation stops on them.

    Args:
        cfg: A config with ``default_scope`` mmdet or mmseg (others are left
            alone); changed in place.
        splits: ``train``, ``val`` and/or ``test``.
    """
    scope = cfg.get('default_scope')
    if scope not in ('mmdet', 'mmseg'):
        return
    num_classes = _seg_num_classes(cfg) if scope == 'mmseg' else None
    for split, dataset, _ in split_datasets(cfg, splits):
        if dataset.get('pipeline'):
            dataset['pipeline'] = _guarded(dataset['pipeline'], scope,
                                           split == 'train', num_classes)
