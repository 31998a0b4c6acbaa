"""PerClassIoUMetric: mmseg's IoUMetric plus the per-class table."""
import json

import pytest
import torch
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData

from convnext_dense.evaluation import PerClassIoUMetric


def _sample(pred: list, gt: list) -> dict:
    return dict(pred_sem_seg=PixelData(data=torch.tensor([pred])).to_dict(),
                gt_sem_seg=PixelData(data=torch.tensor([gt])).to_dict())


def test_per_class_iou_and_acc() -> None:
    metric = PerClassIoUMetric()
    metric.dataset_meta = dict(classes=('a', 'b', 'c', 'd'))
    # Pixels with gt 255 are ignored. a: 2 of 3 found, no false positive;
    # b: 1 of 2 found, 1 false positive; c: absent from both (only predicted
    # where ignored); d: predicted once, never in gt.
    pred = [[0, 0, 1, 1, 0, 3, 2]]
    gt = [[0, 0, 0, 1, 255, 1, 255]]
    metric.process({}, [_sample(pred, gt)])
    result = metric.evaluate(1)
    table = result['per_class']
    assert list(table) == ['a', 'b', 'c', 'd']
    assert table['a'] == dict(IoU=66.67, Acc=66.67)
    assert table['b'] == dict(IoU=33.33, Acc=50.0)
    assert table['c'] == dict(IoU=None, Acc=None)
    assert table['d'] == dict(IoU=0.0, Acc=None)
    # The summary is mmseg's: the mean over classes that are not NaN.
    assert result['mIoU'] == pytest.approx((66.67 + 33.33 + 0) / 3, abs=0.01)
    assert result['aAcc'] == pytest.approx(60.0)
    json.dumps(result, allow_nan=False)


def test_built_from_a_config_in_mmseg_scope() -> None:
    from mmengine.registry import METRICS
    init_default_scope('mmseg')
    metric = METRICS.build(dict(type='convnext_dense.PerClassIoUMetric',
                                iou_metrics=['mIoU', 'mDice']))
    assert isinstance(metric, PerClassIoUMetric)
    metric.dataset_meta = dict(classes=('a', 'b'))
    metric.process({}, [_sample([[0, 1]], [[0, 0]])])
    table = metric.evaluate(1)['per_class']
    assert set(table['a']) == {'IoU', 'Acc', 'Dice'}
