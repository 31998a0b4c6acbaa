"""Evaluation metrics registered in the ``convnext_dense`` scope."""
from .iou_metric import PerClassIoUMetric

__all__ = ['PerClassIoUMetric']
