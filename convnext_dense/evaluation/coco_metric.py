"""mmdet's COCO metric evaluated by faster-coco-eval (an opt-in backend).

``val_evaluator = dict(type='convnext_dense.FasterCocoMetric', ...)`` takes
the arguments of mmdet's ``CocoMetric`` and returns the same metrics, from
faster-coco-eval's C++ evaluation instead of pycocotools' Python loops. It
needs ``pip install faster-coco-eval``. The swap of mmdet's COCO classes it
evaluates with is a patch (:mod:`convnext_dense.patches.coco_eval_backend`).
"""
from typing import Dict

from mmdet.evaluation.metrics import CocoMetric

from convnext_dense.errors import ConfigError
from convnext_dense.patches.coco_eval_backend import faster_coco_eval_backend
from convnext_dense.registry import METRICS


@METRICS.register_module()
class FasterCocoMetric(CocoMetric):
    """:class:`mmdet.evaluation.CocoMetric` with faster-coco-eval's evaluation.

    Same arguments and results as mmdet's metric (box/mask/proposal AP and
    AR, class-wise tables, ``format_only``); the ground truth is indexed by
    ``faster_coco_eval.COCO`` and each metric evaluated by its C++
    ``COCOeval_faster``, whose summary is pycocotools' (see
    :mod:`convnext_dense.patches.coco_eval_backend`).
    ``use_mp_eval`` (pycocotools in several processes) does not apply.

    Raises:
        ConfigError: faster-coco-eval is not installed, ``use_mp_eval`` is
            set, or the ``coco_eval_backend`` patch is switched off.
    """

    def __init__(self, *args, **kwargs) -> None:
        if kwargs.get('use_mp_eval'):
            raise ConfigError(
                'FasterCocoMetric evaluates with faster-coco-eval: drop '
                'use_mp_eval=True (a pycocotools option of CocoMetric)')
        with faster_coco_eval_backend():
            super().__init__(*args, **kwargs)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        with faster_coco_eval_backend():
            return super().compute_metrics(results)
