"""mmseg's IoUMetric, also returning the per-class IoU and accuracy."""
import math
from typing import Dict, List, Optional

import numpy as np
from mmseg.evaluation import IoUMetric

from convnext_dense.registry import METRICS


@METRICS.register_module()
class PerClassIoUMetric(IoUMetric):
    """:class:`mmseg.evaluation.IoUMetric` whose results carry the class table.

    mmseg's metric logs the per-class table but returns only the summary
    (``aAcc``, ``mIoU``, ``mAcc``, ...). This one adds ``per_class``: for each
    class name, its IoU, Acc (and Dice/Fscore/... when asked for), in percent
    like the summary; ``None`` where the metric is undefined (IoU of a class
    absent from both prediction and ground truth, Acc of a class absent from
    the ground truth). All values are Python floats, ready for JSON.
    """

    def compute_metrics(self, results: list) -> Dict[str, object]:
        # mmseg rounds to 2 decimals in float32; keep that value exactly.
        metrics = {k: round(float(v), 2) for k, v in
                   super().compute_metrics(results).items()}
        if self.format_only:
            return metrics
        areas = [sum(column) for column in zip(*results)]
        per_metric = self.total_area_to_metrics(*areas, self.metrics,
                                                self.nan_to_num, self.beta)
        per_metric.pop('aAcc', None)
        metrics['per_class'] = per_class_table(self.dataset_meta['classes'],
                                               per_metric)
        return metrics


def per_class_table(classes: List[str], per_metric: Dict[str, np.ndarray]
                    ) -> Dict[str, Dict[str, Optional[float]]]:
    """``{class: {metric: percent or None}}`` from per-metric class arrays."""
    return {
        name: {key: _percent(values[i]) for key, values in per_metric.items()}
        for i, name in enumerate(classes)
    }


def _percent(value) -> Optional[float]:
    value = float(value)
    return None if math.isnan(value) else round(value * 100, 2)
