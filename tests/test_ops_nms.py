"""NMS (:mod:`convnext_dense.ops.nms`) keeps exactly the boxes mmcv's
compiled kernel keeps, in the same order, as recorded in tests/data: random,
tied, clustered, at-threshold, degenerate and chained boxes at thresholds
0 to 1 with both offsets, and the boxes mmdet's RPN and RoI head pass to NMS
in a Mask R-CNN ConvNeXt-T forward."""
import mmcv.ops
import pytest
import torch
from mmcv.ops import batched_nms

import convnext_dense  # noqa: F401  (serves the kernels under mmcv-lite)
from convnext_dense.ops import nms as ops_nms  # the module
from convnext_dense.ops.nms import nms, soft_nms
from helpers import mmcv_op_references

CASES = mmcv_op_references()['nms']


def keep(case):
    return nms(case['boxes'], case['scores'], case['iou_threshold'],
               case['offset'])


def test_references_cover_what_they_claim():
    names = [case['name'] for case in CASES]
    assert 'mask-rcnn-t-rpn' in names
    assert sum(name.startswith('mask-rcnn-t-class-') for name in names) == 3
    rpn = CASES[names.index('mask-rcnn-t-rpn')]
    assert len(rpn['boxes']) > 4000 and rpn['iou_threshold'] == 0.7
    # The cases suppress something, and not everything.
    kept = [len(case['keep']) / len(case['boxes']) for case in CASES
            if len(case['boxes']) > 100]
    assert min(kept) < 0.2 and max(kept) == 1.0
    ties = [case for case in CASES if case['name'].startswith('ties-')]
    assert ties and all(len(case['scores'].unique()) < 10 for case in ties)


@pytest.mark.parametrize('case', CASES, ids=[c['name'] for c in CASES])
def test_keeps_what_mmcv_keeps(case):
    assert torch.equal(keep(case), case['keep'])


@pytest.mark.parametrize('how', ['rounds', 'blocked', 'small-chunks'])
def test_every_path_keeps_the_same(how, monkeypatch):
    """The fixed point over the overlapping pairs, the blocked walk (the
    fallback) and a sweep cut into many chunks give the recorded answer
    too."""
    if how in ('rounds', 'blocked'):
        monkeypatch.setattr(ops_nms, 'WALK_EDGES', -1)
    if how == 'blocked':
        monkeypatch.setattr(ops_nms, 'MAX_ROUNDS', 0)
    if how == 'small-chunks':
        monkeypatch.setattr(ops_nms, 'PAIR_CHUNK', 512)
    # The slow walks on the synthetic cases; the sweep's chunks on all.
    cases = (CASES if how == 'small-chunks' else
             [case for case in CASES if len(case['boxes']) <= 600])
    for case in cases:
        assert torch.equal(keep(case), case['keep']), case['name']


def test_long_chains_fall_back_to_the_blocked_walk(monkeypatch):
    chain = next(case for case in CASES
                 if case['name'].startswith('long-chain-0.5'))
    monkeypatch.setattr(ops_nms, 'WALK_EDGES', -1)
    calls = []
    blocked = ops_nms._blocked_keep
    monkeypatch.setattr(ops_nms, '_blocked_keep',
                        lambda *args: calls.append(1) or blocked(*args))
    assert torch.equal(keep(chain), chain['keep'])
    assert calls  # 300 boxes, each overlapping the next: too deep


def test_mmcv_and_mmdet_entry_points_use_it():
    """mmcv.ops.nms and batched_nms (its per-class loop above 10000 boxes)
    give mmcv's answer."""
    rpn = next(case for case in CASES if case['name'] == 'mask-rcnn-t-rpn')
    dets, inds = mmcv.ops.nms(rpn['boxes'], rpn['scores'], 0.7)
    assert torch.equal(inds, rpn['keep'])
    assert torch.equal(dets[:, 4], rpn['scores'][rpn['keep']])
    boxes = rpn['boxes'].repeat(3, 1)
    scores = rpn['scores'].repeat(3)
    classes = torch.arange(3).repeat_interleave(len(rpn['boxes']))
    _, kept = batched_nms(boxes, scores, classes,
                          dict(type='nms', iou_threshold=0.7))
    assert len(boxes) > 10000  # mmcv's default split_thr
    assert torch.equal(
        kept.sort()[0],
        torch.cat([rpn['keep'] + i * len(rpn['boxes'])
                   for i in range(3)]).sort()[0])


def test_empty_and_single():
    assert nms(torch.zeros(0, 4), torch.zeros(0), 0.5).shape == (0, )
    assert nms(torch.zeros(0, 4), torch.zeros(0), 0.5).dtype == torch.long
    assert nms(torch.tensor([[0., 0, 1, 1]]), torch.tensor([0.3]),
               0.5).tolist() == [0]


SOFT_CASES = mmcv_op_references()['soft_nms']


@pytest.mark.parametrize('case', SOFT_CASES, ids=[c['name'] for c in SOFT_CASES])
def test_soft_nms_gives_what_mmcv_gives(case):
    """Naive and linear bit for bit; gaussian to float rounding of exp."""
    dets, inds = soft_nms(case['boxes'], case['scores'], case['iou_threshold'],
                          case['sigma'], case['min_score'], case['method'],
                          case['offset'])
    if case['method'] == 2:
        # The same boxes with the same scores to float rounding; boxes whose
        # scores differ by a rounding may trade places.
        assert sorted(inds.tolist()) == sorted(case['inds'].tolist())
        mine = dets[inds.argsort()]
        theirs = case['dets'][case['inds'].argsort()]
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-6,
                                   equal_nan=True)
        assert (inds == case['inds']).float().mean() > 0.9
    else:
        assert torch.equal(inds, case['inds'])
        assert torch.equal(dets, case['dets'])


def test_soft_nms_through_mmcv():
    case = next(c for c in SOFT_CASES if c['method'] == 1)
    dets, inds = mmcv.ops.soft_nms(case['boxes'], case['scores'],
                                   case['iou_threshold'], case['sigma'],
                                   case['min_score'], 'linear',
                                   case['offset'])
    assert torch.equal(inds, case['inds']) and torch.equal(dets, case['dets'])
