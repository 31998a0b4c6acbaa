"""Evaluation metrics registered in the ``convnext_dense`` scope."""
from .coco_metric import FasterCocoMetric
from .iou_metric import PerClassIoUMetric

__all__ = ['FasterCocoMetric', 'PerClassIoUMetric']
