"""Patch: mmdet's CocoMetric indexes and evaluates with faster-coco-eval,
inside :class:`~convnext_dense.evaluation.FasterCocoMetric` only.

What is wrong: mmdet 3.3.0's ``CocoMetric`` evaluates with pycocotools'
Python loops, and offers no way to pick another COCO implementation: it
builds its ground-truth index with the ``COCO`` and its evaluator with the
``COCOeval`` that ``mmdet.evaluation.metrics.coco_metric`` imported.

The fix: :func:`faster_coco_eval_backend` points both names to
faster-coco-eval's classes while a ``FasterCocoMetric`` builds or computes,
and back to mmdet's when it returns; nothing changes outside those calls, so
this patch has no ``install`` function. Switched off
(``CONVNEXT_DENSE_DISABLE_PATCHES=coco_eval_backend``), a
``FasterCocoMetric`` is one error line and mmdet's module is never touched.
"""
import contextlib
import importlib
from types import ModuleType
from typing import Iterator

from mmdet.evaluation.metrics import coco_metric as mmdet_coco_metric
from mmengine.logging import MMLogger

from convnext_dense.errors import ConfigError
from convnext_dense.patches.registry import DISABLE_VARIABLE, is_installed

#: This patch's name in the registry.
PATCH_NAME = __name__.rsplit('.', 1)[-1]


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

    Raises:
        ConfigError: when this patch is switched off, or faster-coco-eval is
            not installed.
    """
    if not is_installed(PATCH_NAME):
        raise ConfigError(
            f'FasterCocoMetric evaluates through the {PATCH_NAME} patch, '
            f'which {DISABLE_VARIABLE} switches off: remove {PATCH_NAME} '
            f'from it, or use mmdet\'s CocoMetric (pycocotools)')
    faster = import_faster_coco_eval()
    saved = mmdet_coco_metric.COCO, mmdet_coco_metric.COCOeval
    mmdet_coco_metric.COCO = faster.COCO
    mmdet_coco_metric.COCOeval = pycocotools_summary_eval(faster)
    try:
        yield
    finally:
        mmdet_coco_metric.COCO, mmdet_coco_metric.COCOeval = saved
