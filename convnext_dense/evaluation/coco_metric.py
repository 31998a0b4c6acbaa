"""mmdet's COCO metric evaluated by faster-coco-eval (an opt-in backend).

``val_evaluator = dict(type='convnext_dense.FasterCocoMetric', ...)`` takes
the arguments of mmdet's ``CocoMetric`` and returns the same metrics, from
faster-coco-eval's C++ evaluation instead of pycocotools' Python loops. It
needs ``pip install faster-coco-eval``.
"""
import contextlib
import importlib
from types import ModuleType
from typing import Dict, Iterator

from mmdet.evaluation.metrics import CocoMetric
from mmdet.evaluation.metrics import coco_metric as mmdet_coco_metric
from mmengine.logging import MMLogger

from convnext_dense.errors import ConfigError
from convnext_dense.registry import METRICS


def import_faster_coco_eval() -> ModuleType:
    """The ``faster_coco_eval`` package, or a ConfigError saying how to get it."""
    try:
        return importlib.import_module('faster_coco_eval')
    except ImportError as error:
        raise ConfigError(
            'FasterCocoMetric needs the faster-coco-eval package: '
            '`pip install faster-coco-eval`, or use mmdet\'s CocoMetric '
            f'(pycocotools) ({error})') from error


def pycocotools_summary_eval(faster: ModuleType) -> type:
    """faster-coco-eval's ``COCOeval_faster`` with pycocotools' summary.

    Both summarise into the same ``stats`` layout, but pycocotools' ``stats[0]``
    (mAP) is taken at 100 detections per image, and faster-coco-eval's at
    the last of ``params.maxDets`` (1000 in mmdet's metric). With at most 100
    detections per image they agree; this class returns pycocotools'
    definition in every case. Its progress and summary lines go to the
    current mmengine logger.
    """

    class PycocotoolsSummaryEval(faster.COCOeval_faster):

        def __init__(self, coco_gt, coco_dt, iou_type: str) -> None:
            super().__init__(
                coco_gt, coco_dt, iou_type,
                print_function=MMLogger.get_current_instance().info)

        def summarize(self) -> None:
            super().summarize()
            if self.params.iouType in ('bbox', 'segm'):
                self.stats[0] = self._summarize(1, maxDets=100)

    return PycocotoolsSummaryEval


@contextlib.contextmanager
def faster_coco_eval_backend() -> Iterator[None]:
    """Within it, mmdet's CocoMetric indexes and evaluates with faster-coco-eval.

    ``mmdet.evaluation.metrics.coco_metric`` builds its ground-truth index
    with the module's ``COCO`` and its evaluator with ``COCOeval``; both
    names point to faster-coco-eval's classes until the block ends.
    """
    faster = import_faster_coco_eval()
    saved = mmdet_coco_metric.COCO, mmdet_coco_metric.COCOeval
    mmdet_coco_metric.COCO = faster.COCO
    mmdet_coco_metric.COCOeval = pycocotools_summary_eval(faster)
    try:
        yield
    finally:
        mmdet_coco_metric.COCO, mmdet_coco_metric.COCOeval = saved


@METRICS.register_module()
class FasterCocoMetric(CocoMetric):
    """:class:`mmdet.evaluation.CocoMetric` with faster-coco-eval's evaluation.

    Same arguments and results as mmdet's metric (box/mask/proposal AP and
    AR, class-wise tables, ``format_only``); the ground truth is indexed by
    ``faster_coco_eval.COCO`` and each metric evaluated by its C++
    ``COCOeval_faster``, whose summary is pycocotools' (see
    :func:`pycocotools_summary_eval`). ``use_mp_eval`` (pycocotools in
    several processes) does not apply.

    Raises:
        ConfigError: faster-coco-eval is not installed, or ``use_mp_eval``
            is set.
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
