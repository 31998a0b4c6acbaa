"""RoIAlign ('avg' mode) as separable matrix products
(:mod:`convnext_dense.ops.roi_align`), on every path that reaches it: the
autograd op itself, mmcv's ``RoIAlign`` / ``roi_align`` (the CPU patch), and
mmcv's ``RoIAlignFunction`` through ``mmcv._ext`` under mmcv-lite. All are
held to mmcv's compiled kernel, as recorded in tests/data (forward and input
gradient within 1e-5)."""
import mmcv.ops
import pytest
import torch
from mmcv.ops.roi_align import RoIAlignFunction
from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor

import convnext_dense  # noqa: F401  (installs the patches)
from convnext_dense import patches
from convnext_dense.ops import roi_align as ops_roi_align
from convnext_dense.ops.roi_align import roi_align_separable
from convnext_dense.patches import fast_roi_align_cpu
from convnext_dense.patches.fast_roi_align_cpu import (ORIGINAL_ROI_ALIGN,
                                                       takes_fast_path)
from convnext_dense.errors import OpNotProvidedError
from convnext_dense.patches.mmcv_ops import using_toolkit_kernels
from helpers import mmcv_op_references

#: Both ways of contracting: the automatic choice, shared windows, crops.
PATHS = (None, 'shared', 'crops')
CASES = mmcv_op_references()['roi_align']


def by_name(name):
    return next(case for case in CASES if case['name'] == name)


def separable(case):
    return roi_align_separable(case['x'], case['rois'], case['output_size'],
                               case['spatial_scale'], case['sampling_ratio'],
                               case['aligned'])


def through_mmcv_function(case):
    """mmcv's autograd function: mmcv._ext, the toolkit's under mmcv-lite."""
    return RoIAlignFunction.apply(case['x'], case['rois'],
                                  case['output_size'], case['spatial_scale'],
                                  case['sampling_ratio'], 'avg',
                                  case['aligned'])


def through_mmcv_layer(case):
    """mmcv's RoIAlign layer as mmdet builds it: the CPU patch."""
    layer = mmcv.ops.RoIAlign(case['output_size'], case['spatial_scale'],
                              case['sampling_ratio'], aligned=case['aligned'])
    return layer(case['x'], case['rois'])


ENTRIES = {'separable': separable, 'mmcv-function': through_mmcv_function,
           'mmcv-layer': through_mmcv_layer}


def assert_matches_reference(case, entry, memory_format=torch.contiguous_format):
    """Output and input gradient within 1e-5 of mmcv's, relative to size."""
    x = case['input'].contiguous(memory_format=memory_format)
    x = x.detach().clone().requires_grad_(True)
    out = ENTRIES[entry](dict(case, x=x))
    out.backward(case['upstream'])
    assert out.shape == case['output'].shape and out.is_contiguous()
    for got, expected in ((out, case['output']), (x.grad, case['grad'])):
        assert got.dtype == expected.dtype
        assert (got - expected).abs().max() <= 1e-5 * expected.abs().max(
        ).clamp_min(1e-3), case['name']
    return out, x.grad


def test_references_cover_the_grid():
    grid = [case for case in CASES if case['name'].startswith('grid-')]
    assert len(grid) == 16
    for case in grid:
        assert case['grad'][1].abs().max() == 0  # the image without RoIs
        assert case['output'].abs().amax((1, 2, 3)).min() == 0  # RoIs off
        assert case['output'].abs().max() > 0


@pytest.mark.parametrize('entry', ENTRIES)
@pytest.mark.parametrize('path', PATHS)
@pytest.mark.parametrize('case', CASES, ids=[c['name'] for c in CASES])
def test_matches_mmcv_kernel(case, path, entry, monkeypatch):
    monkeypatch.setattr(ops_roi_align, 'FORCE_PATH', path)
    assert_matches_reference(case, entry)


@pytest.mark.parametrize('entry', ENTRIES)
@pytest.mark.parametrize('path', PATHS)
def test_channels_last_input(path, entry, monkeypatch):
    monkeypatch.setattr(ops_roi_align, 'FORCE_PATH', path)
    case = by_name('map-for-channels-last')
    _, grad = assert_matches_reference(case, entry, torch.channels_last)
    if entry == 'separable':
        assert grad.is_contiguous(memory_format=torch.channels_last)


def test_large_rois_share_the_map_and_small_ones_are_cropped(monkeypatch):
    plans = []
    apply = ops_roi_align._SeparableRoIAlign.apply

    def record(input, plan):
        plans.append(plan)
        return apply(input, plan)

    monkeypatch.setattr(ops_roi_align._SeparableRoIAlign, 'apply', record)
    assert_matches_reference(by_name('large-rois'), 'separable')
    assert_matches_reference(by_name('small-rois'), 'separable')
    assert plans[0].windows and not plans[0].crops
    assert plans[1].crops and not plans[1].windows


@pytest.mark.parametrize('path', PATHS)
def test_no_rois(path, monkeypatch):
    monkeypatch.setattr(ops_roi_align, 'FORCE_PATH', path)
    x = torch.randn(2, 5, 9, 11, requires_grad=True)
    rois = torch.zeros(0, 5)
    for out in (roi_align_separable(x, rois, (7, 5), 1 / 4, 0, True),
                ORIGINAL_ROI_ALIGN(x, rois, (7, 5), 1 / 4, 0, 'avg', True)):
        assert out.shape == (0, 5, 7, 5)
        out.sum().backward()
        assert x.grad.shape == x.shape and x.grad.abs().max() == 0


@pytest.mark.parametrize('path', PATHS[1:])
def test_float64_gradcheck_and_parity(path, monkeypatch):
    monkeypatch.setattr(ops_roi_align, 'FORCE_PATH', path)
    case = by_name('float64-legacy')
    x = case['input'].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda x: roi_align_separable(x, case['rois'], 3, 0.5, 0, True),
        (x, ))
    out = roi_align_separable(x, case['rois'], 3, 0.5, 0, False)
    torch.testing.assert_close(out, case['output'], rtol=1e-12, atol=1e-12)


def test_bad_rois_are_refused():
    x = torch.randn(1, 2, 8, 8)
    with pytest.raises(RuntimeError):  # mmcv's kernel refuses them too
        ORIGINAL_ROI_ALIGN(x, torch.tensor([[0., 5, 5, 4, 9]]), 2, 1.0, 0,
                           'avg', True)
    with pytest.raises(RuntimeError, match='x2 >= x1'):
        roi_align_separable(x, torch.tensor([[0., 5, 5, 4, 9]]), 2)
    with pytest.raises(ValueError, match='batch indices'):
        roi_align_separable(x, torch.tensor([[1., 1, 1, 4, 4]]), 2)
    with pytest.raises(ValueError, match='finite'):
        roi_align_separable(x, torch.tensor([[0., 1, 1, float('nan'), 4]]), 2)


def count_calls(monkeypatch):
    calls = []

    def counted(*args, **kwargs):
        calls.append(args)
        return roi_align_separable(*args, **kwargs)

    monkeypatch.setattr(fast_roi_align_cpu, 'roi_align_separable', counted)
    return calls


def test_mmcv_ops_take_the_new_path_on_cpu(monkeypatch):
    calls = count_calls(monkeypatch)
    x = torch.randn(2, 4, 16, 16)
    rois = torch.tensor([[0, 4.0, 4.0, 40.0, 36.0], [1, 0.0, 8.0, 60.0, 60.0]])
    layer = mmcv.ops.RoIAlign(7, spatial_scale=1 / 4, sampling_ratio=0)
    out = layer(x, rois)
    assert len(calls) == 1
    torch.testing.assert_close(
        out, ORIGINAL_ROI_ALIGN(x, rois, 7, 1 / 4, 0, 'avg', True))
    mmcv.ops.roi_align(x, rois, 7, 1 / 4, 0, 'avg', True)
    assert len(calls) == 2
    # mmdet's RoI extractors build mmcv.ops.RoIAlign by name.
    extractor = SingleRoIExtractor(roi_layer=dict(type='RoIAlign',
                                                  output_size=7,
                                                  sampling_ratio=0),
                                   out_channels=4,
                                   featmap_strides=[4])
    extractor([x], rois)
    assert len(calls) == 3


def test_everything_else_goes_to_mmcv(monkeypatch):
    calls = count_calls(monkeypatch)
    x = torch.randn(2, 4, 16, 16)
    rois = torch.tensor([[0, 4.0, 4.0, 40.0, 36.0], [1, 0.0, 8.0, 60.0, 60.0]])
    max_layer = mmcv.ops.RoIAlign(7, spatial_scale=1 / 4, pool_mode='max')
    if using_toolkit_kernels():  # mmcv-lite: 'max' is not provided
        with pytest.raises(OpNotProvidedError, match="pool_mode='max'"):
            max_layer(x, rois)
    else:
        torch.testing.assert_close(
            max_layer(x, rois),
            ORIGINAL_ROI_ALIGN(x, rois, 7, 1 / 4, 0, 'max', True))
        mmcv.ops.roi_align(x, rois, 7, 1 / 4, 0, 'max', True)
    assert not calls
    assert takes_fast_path(x, rois)
    assert not takes_fast_path(x, rois, 'max')
    assert not takes_fast_path(x.half(), rois.half())
    assert not takes_fast_path(x, rois.double())
    assert not takes_fast_path(x.to('meta'), rois)
    assert not takes_fast_path(x, rois.new_tensor([[0, 0, 0, 1e40, 1]]))

    while_tracing = []

    def traced(x):
        while_tracing.append(takes_fast_path(x, rois))
        return x * 2

    torch.jit.trace(traced, x, check_trace=False)
    assert while_tracing == [False]


def test_installed_once():
    forward, function = mmcv.ops.RoIAlign.forward, mmcv.ops.roi_align
    patches.install()
    assert mmcv.ops.RoIAlign.forward is forward
    assert mmcv.ops.roi_align is function is fast_roi_align_cpu.roi_align
    assert forward.__wrapped__ is fast_roi_align_cpu.ORIGINAL_FORWARD
    order = [patch.name for patch in patches.PATCHES]
    assert order.index('fast_roi_align_cpu') == order.index(
        'contiguous_roi_align') + 1
