"""Per-class box and mask AP of mmdet's COCO metric (``tools/test.py
--classwise``).

mmdet's ``CocoMetric(classwise=True)`` logs a per-class table for each IoU
type, but returns only one ``<class>_precision`` value per class: the last
IoU type evaluated (masks) overwrites the boxes'. :class:`ClasswiseCocoMetric`
wraps any ``CocoMetric`` (mmdet's, or a subclass such as
``convnext_dense.FasterCocoMetric``), evaluates one IoU type at a time, and
returns ``per_class``: for each class, its ``bbox_mAP`` and ``segm_mAP``
(``None`` where COCO defines no AP: a class without ground truth).
"""
import math
from typing import Any, Dict, List, Optional, Sequence

from mmdet.evaluation import CocoMetric
from mmengine.evaluator import BaseMetric, Evaluator

from convnext_dense.errors import UserError

#: The suffix of mmdet's per-class result keys.
_PER_CLASS_SUFFIX = '_precision'


def _ap(value: float) -> Optional[float]:
    return None if value is None or math.isnan(value) else float(value)


class ClasswiseCocoMetric(BaseMetric):
    """A ``CocoMetric`` whose results also hold per-class AP of every IoU type.

    Args:
        metric: The COCO metric to wrap; its ``classwise`` is turned on, so
            it logs its per-class tables (AP, AP50, AP75, AP s/m/l).

    The results are the wrapped metric's (``bbox_mAP``, ``segm_mAP_50``,
    ...) plus ``per_class``: ``{class: {'bbox_mAP': AP, 'segm_mAP': AP}}``
    with one entry per IoU type evaluated, rounded to 3 decimals by mmdet.
    """

    def __init__(self, metric: CocoMetric) -> None:
        super().__init__(collect_device=metric.collect_device,
                         prefix=metric.prefix,
                         collect_dir=getattr(metric, 'collect_dir', None))
        metric.classwise = True
        self.metric = metric

    @property
    def dataset_meta(self) -> Optional[dict]:
        return self.metric.dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, dataset_meta: dict) -> None:
        self.metric.dataset_meta = dataset_meta

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        self.metric.process(data_batch, data_samples)
        self.results.extend(self.metric.results)
        self.metric.results.clear()

    def compute_metrics(self, results: list) -> Dict[str, Any]:
        iou_types: List[str] = list(self.metric.metrics)
        merged: Dict[str, Any] = {}
        per_class: Dict[str, Dict[str, Optional[float]]] = {}
        try:
            for iou_type in iou_types:
                self.metric.metrics = [iou_type]
                for key, value in self.metric.compute_metrics(results).items():
                    if key.endswith(_PER_CLASS_SUFFIX):
                        name = key[:-len(_PER_CLASS_SUFFIX)]
                        per_class.setdefault(name, {})[f'{iou_type}_mAP'] = (
                            _ap(value))
                    else:
                        merged[key] = value
        finally:
            self.metric.metrics = iou_types
        if per_class:
            merged['per_class'] = per_class
        return merged


def enable_classwise(evaluator: Evaluator, where: str) -> None:
    """Wraps each COCO metric of a built evaluator for per-class AP.

    Args:
        evaluator: E.g. ``runner.test_evaluator``.
        where: What to name in the error, e.g. the config file.

    Raises:
        UserError: when the evaluator has no COCO metric that computes AP
            (``format_only`` computes nothing).
    """
    wrapped = 0
    for index, metric in enumerate(evaluator.metrics):
        if isinstance(metric, CocoMetric) and not metric.format_only:
            evaluator.metrics[index] = ClasswiseCocoMetric(metric)
            wrapped += 1
    if not wrapped:
        raise UserError(f'--classwise: the test_evaluator of {where} has no '
                        f'CocoMetric computing AP, whose per-class AP it '
                        f'reports')
