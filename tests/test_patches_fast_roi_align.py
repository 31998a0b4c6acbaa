"""Patch fast_roi_align_cpu: mmcv's CPU RoIAlign in 'avg' mode as separable
matrix products, equal to mmcv's own kernel to float rounding, forward and
backward; everything else still goes to mmcv."""
import mmcv.ops
import pytest
import torch
from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor
from torch.nn.modules.utils import _pair

import convnext_dense  # noqa: F401  (installs the patches)
from convnext_dense import patches
from convnext_dense.patches import fast_roi_align_cpu
from convnext_dense.patches.fast_roi_align_cpu import (ORIGINAL_ROI_ALIGN,
                                                       roi_align_separable,
                                                       takes_fast_path)

#: Both ways of contracting: the automatic choice, shared windows, crops.
PATHS = (None, 'shared', 'crops')


def random_rois(shape, scale, aligned, generator):
    """RoIs of every kind, in image coordinates, on images 0 and 2 of 3.

    Ordinary boxes, boxes partly and wholly outside the image, boxes under a
    pixel, and degenerate ones (zero width or height; with
    ``aligned=False``, also x2 < x1, which mmcv accepts there).
    """
    _, _, h, w = shape
    img_h, img_w = h / scale, w / scale
    size = torch.tensor([img_w, img_h])

    def boxes(count, lo, hi, spread=1.0):
        wh = torch.empty(count, 2).uniform_(lo, hi, generator=generator)
        centre = (torch.rand(count, 2, generator=generator) * spread -
                  (spread - 1) / 2) * size
        return torch.cat([centre - wh * size / 2, centre + wh * size / 2], 1)

    parts = [
        boxes(12, 0.05, 0.9),  # inside, mostly
        boxes(8, 0.2, 1.5, spread=1.6),  # partly outside
        boxes(4, 0.1, 0.3) + torch.tensor([1.3, 1.3, 1.3, 1.3]) *
        torch.cat([size, size]),  # wholly outside, past the far corner
        boxes(3, 0.1, 0.3) - 2.2 * torch.cat([size, size]),  # before it
        boxes(6, 0.1 / img_w, 0.9 / img_w),  # under a pixel
    ]
    degenerate = boxes(4, 0.05, 0.3)
    degenerate[:2, 2] = degenerate[:2, 0]  # zero width
    degenerate[2:, 3] = degenerate[2:, 1]  # zero height
    parts.append(degenerate)
    if not aligned:
        flipped = boxes(3, 0.05, 0.3)
        parts.append(flipped[:, [2, 3, 0, 1]])  # x2 < x1, y2 < y1
    xyxy = torch.cat(parts)
    image = torch.randint(0, 2, (len(xyxy), ), generator=generator) * 2
    return torch.cat([image[:, None].float(), xyxy], 1)


def assert_matches_mmcv(x, rois, output_size, scale, sampling_ratio, aligned):
    """Output and input gradient within 1e-5 of mmcv's, relative to size."""
    upstream = torch.randn(len(rois),
                           x.size(1),
                           *_pair(output_size),
                           generator=torch.Generator().manual_seed(1),
                           dtype=x.dtype)
    results = []
    for fn in (
            lambda x: ORIGINAL_ROI_ALIGN(x, rois, output_size, scale,
                                         sampling_ratio, 'avg', aligned),
            lambda x: roi_align_separable(x, rois, output_size, scale,
                                          sampling_ratio, aligned),
    ):
        x = x.detach().clone().requires_grad_(True)
        out = fn(x)
        out.backward(upstream)
        results.append((out, x.grad))
    (expected, expected_grad), (out, grad) = results
    assert out.shape == expected.shape and out.is_contiguous()
    for a, b in ((out, expected), (grad, expected_grad)):
        assert (a - b).abs().max() <= 1e-5 * b.abs().max().clamp_min(1e-3)
    return expected, expected_grad, out, grad


@pytest.mark.parametrize('path', PATHS)
@pytest.mark.parametrize('scale', [1 / 4, 1 / 32])
@pytest.mark.parametrize('output_size', [7, 14])
@pytest.mark.parametrize('sampling_ratio', [0, 2])
@pytest.mark.parametrize('aligned', [True, False])
def test_matches_mmcv_kernel(aligned, sampling_ratio, output_size, scale, path,
                             monkeypatch):
    monkeypatch.setattr(fast_roi_align_cpu, 'FORCE_PATH', path)
    generator = torch.Generator().manual_seed(
        hash((aligned, sampling_ratio, output_size, scale)) % 2**31)
    x = torch.randn(3, 6, 13, 17, generator=generator)
    rois = random_rois(x.shape, scale, aligned, generator)
    expected, expected_grad, _, _ = assert_matches_mmcv(
        x, rois, output_size, scale, sampling_ratio, aligned)
    assert expected_grad[1].abs().max() == 0  # the image without RoIs
    assert expected.abs().amax((1, 2, 3)).min() == 0  # some RoIs are off


@pytest.mark.parametrize('path', PATHS)
def test_channels_last_input(path, monkeypatch):
    monkeypatch.setattr(fast_roi_align_cpu, 'FORCE_PATH', path)
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(3, 8, 20, 24, generator=generator)
    rois = random_rois(x.shape, 1 / 4, True, generator)
    channels_last = x.contiguous(memory_format=torch.channels_last)
    _, _, out, grad = assert_matches_mmcv(channels_last, rois, 7, 1 / 4, 0,
                                          True)
    assert grad.is_contiguous(memory_format=torch.channels_last)
    _, _, out_nchw, _ = assert_matches_mmcv(x, rois, 7, 1 / 4, 0, True)
    torch.testing.assert_close(out, out_nchw)


@pytest.mark.parametrize('path', PATHS)
@pytest.mark.parametrize('shape', [(2, 3, 1, 9), (2, 3, 7, 1), (2, 3, 1, 1)])
def test_thin_maps_and_uneven_output(shape, path, monkeypatch):
    monkeypatch.setattr(fast_roi_align_cpu, 'FORCE_PATH', path)
    generator = torch.Generator().manual_seed(6)
    x = torch.randn(shape, generator=generator)
    rois = random_rois(x.shape, 1 / 8, True, generator)
    rois[:, 0] = rois[:, 0].clamp_max(1)
    assert_matches_mmcv(x, rois, (5, 3), 1 / 8, 0, True)
    assert_matches_mmcv(x, rois, (2, 4), 1 / 8, 3, False)


def test_large_rois_share_the_map_and_small_ones_are_cropped(monkeypatch):
    generator = torch.Generator().manual_seed(4)
    plans = []
    apply = fast_roi_align_cpu._SeparableRoIAlign.apply

    def record(input, plan):
        plans.append(plan)
        return apply(input, plan)

    monkeypatch.setattr(fast_roi_align_cpu._SeparableRoIAlign, 'apply', record)
    large = torch.randn(2, 4, 12, 12, generator=generator)
    rois = torch.tensor([[0, 0, 0, 44, 40], [1, 4, 2, 48, 48],
                         [0, 8, 8, 40, 36]])
    assert_matches_mmcv(large, rois.float(), 7, 1 / 4, 0, True)
    small = torch.randn(1, 32, 80, 120, generator=generator)
    corner = torch.rand(40, 2, generator=generator) * 400
    rois = torch.cat([torch.zeros(40, 1), corner, corner + 24], 1)
    assert_matches_mmcv(small, rois, 7, 1 / 4, 0, True)
    assert plans[0].windows and not plans[0].crops
    assert plans[1].crops and not plans[1].windows


@pytest.mark.parametrize('path', PATHS)
def test_no_rois(path, monkeypatch):
    monkeypatch.setattr(fast_roi_align_cpu, 'FORCE_PATH', path)
    x = torch.randn(2, 5, 9, 11, requires_grad=True)
    rois = torch.zeros(0, 5)
    out = roi_align_separable(x, rois, (7, 5), 1 / 4, 0, True)
    expected = ORIGINAL_ROI_ALIGN(x, rois, (7, 5), 1 / 4, 0, 'avg', True)
    assert out.shape == expected.shape == (0, 5, 7, 5)
    out.sum().backward()
    assert x.grad.shape == x.shape and x.grad.abs().max() == 0


@pytest.mark.parametrize('path', PATHS[1:])
def test_float64_gradcheck_and_parity(path, monkeypatch):
    monkeypatch.setattr(fast_roi_align_cpu, 'FORCE_PATH', path)
    generator = torch.Generator().manual_seed(5)
    x = torch.randn(2,
                    2,
                    5,
                    6,
                    generator=generator,
                    dtype=torch.float64,
                    requires_grad=True)
    rois = torch.tensor([[0, 1.0, 2.0, 9.0, 7.5], [1, -3.0, 4.0, 8.0, 30.0],
                         [1, 2.2, 2.3, 2.6, 2.4]],
                        dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda x: roi_align_separable(x, rois, 3, 0.5, 0, True), (x, ))
    expected = ORIGINAL_ROI_ALIGN(x, rois, 3, 0.5, 0, 'avg', False)
    out = roi_align_separable(x, rois, 3, 0.5, 0, False)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


def test_bad_rois_are_refused():
    x = torch.randn(1, 2, 8, 8)
    with pytest.raises(RuntimeError):  # mmcv refuses them too
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
    fast_roi_align_cpu.install()
    patches.install()
    assert mmcv.ops.RoIAlign.forward is forward
    assert mmcv.ops.roi_align is function is fast_roi_align_cpu.roi_align
    assert forward.__wrapped__ is fast_roi_align_cpu.ORIGINAL_FORWARD
    order = patches.PATCHES
    assert order.index(fast_roi_align_cpu) == order.index(
        patches.contiguous_roi_align) + 1
