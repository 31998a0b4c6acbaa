"""The simple feature pyramid: strides exactly 4, 8, 16 and 32 from a plain
backbone's map at patch 7, 14 or 16, for padded and odd image sizes."""
import math
import re

import pytest
import torch

from convnext_dense.models import (ConvMixer, ConvNeXtIsotropic,
                                   SimpleFeaturePyramid)
from convnext_dense.models.simple_pyramid import (base_stride,
                                                  resample_to_stride)

STRIDES = (4, 8, 16, 32)


def backbone_for(patch: int):
    if patch == 16:
        return ConvNeXtIsotropic(arch=dict(depth=1, dim=16))
    return ConvMixer(arch=dict(embed_dims=16, depth=1, kernel_size=3,
                               patch_size=patch, act='GELU'))


def expected_sizes(size: int, patch: int) -> list:
    """Each level covers what the backbone saw (floor(size / patch) patches),
    rounded up to whole cells of the base stride b, at its own stride."""
    b = base_stride(patch)
    base = math.ceil(size // patch * patch / b)
    return [base * b // s if s <= b else math.ceil(base * b / s)
            for s in STRIDES]


@pytest.mark.parametrize('patch, base', [(7, 8), (14, 16), (16, 16), (4, 4),
                                         (1, 1), (33, 64)])
def test_base_stride_is_the_next_power_of_two(patch, base):
    assert base_stride(patch) == base


@pytest.mark.parametrize('patch', [7, 14, 16])
@pytest.mark.parametrize('height, width', [(256, 320), (800, 1344),
                                           (97, 131), (61, 45)])
def test_levels_have_exact_strides(patch, height, width):
    backbone = backbone_for(patch)
    neck = SimpleFeaturePyramid(in_channels=16, in_stride=patch)
    with torch.no_grad():
        levels = neck(backbone(torch.randn(1, 3, height, width)))
    assert neck.out_strides == STRIDES
    sizes = [tuple(level.shape[2:]) for level in levels]
    assert sizes == list(zip(expected_sizes(height, patch),
                             expected_sizes(width, patch)))
    if height % 32 == 0 and width % 32 == 0:
        # Padded to a multiple of 32 (pad_size_divisor): exactly H/s x W/s.
        assert sizes == [(height // s, width // s) for s in STRIDES]
    assert [level.shape[1] for level in levels] == list(neck.out_channels)
    assert all(level.is_contiguous() and torch.isfinite(level).all()
               for level in levels)


@pytest.mark.parametrize('in_stride, out_stride', [(7, 8), (14, 16), (5, 8),
                                                   (3, 4)])
def test_resampling_puts_each_cell_at_its_centre(in_stride, out_stride):
    """A map whose value is the image coordinate of each cell's centre comes
    out holding the centres of the coarser cells, to the last one inside."""
    h, w = 23, 17
    rows = (torch.arange(h) + 0.5) * in_stride
    cols = (torch.arange(w) + 0.5) * in_stride
    x = torch.stack(torch.meshgrid(rows, cols, indexing='ij'))[None].double()
    out = resample_to_stride(x, in_stride, out_stride)[0]
    assert out.shape[1:] == (math.ceil(h * in_stride / out_stride),
                             math.ceil(w * in_stride / out_stride))
    centres_y = (torch.arange(out.shape[1]) + 0.5) * out_stride
    centres_x = (torch.arange(out.shape[2]) + 0.5) * out_stride
    # Inside the input's outermost centres, bilinear sampling is exact;
    # beyond them the border is repeated.
    inside_y = centres_y <= rows[-1]
    inside_x = centres_x <= cols[-1]
    torch.testing.assert_close(out[0][inside_y, 0],
                               centres_y[inside_y].double())
    torch.testing.assert_close(out[1][0, inside_x],
                               centres_x[inside_x].double())
    assert (out[0][~inside_y] == rows[-1]).all()


def test_same_stride_is_left_untouched():
    x = torch.randn(1, 2, 5, 5)
    assert resample_to_stride(x, 16, 16) is x


@pytest.mark.parametrize('patch, channels, layers', [
    (16, (4, 8, 16, 16), ['Sequential', 'Sequential', 'Identity', 'MaxPool2d']),
    (14, (4, 8, 16, 16), ['Sequential', 'Sequential', 'Identity', 'MaxPool2d']),
    (7, (8, 16, 16, 16), ['Sequential', 'Identity', 'MaxPool2d', 'MaxPool2d']),
])
def test_vitdet_branches_and_channels(patch, channels, layers):
    neck = SimpleFeaturePyramid(in_channels=16, in_stride=patch)
    assert neck.out_channels == channels
    assert [type(m).__name__ for m in neck.levels] == layers
    # ViTDet's 4x branch: deconv, LayerNorm, GELU, deconv.
    if patch != 7:
        assert [type(m).__name__ for m in neck.levels[0]] == [
            'ConvTranspose2d', 'LayerNorm2d', 'GELU', 'ConvTranspose2d']


def test_every_parameter_gets_a_gradient():
    neck = SimpleFeaturePyramid(in_channels=16, in_stride=7)
    x = torch.randn(2, 16, 9, 9, requires_grad=True)
    sum((level * torch.randn_like(level)).sum() for level in neck([x])
        ).backward()
    assert all(p.grad is not None and p.grad.abs().sum()
               for p in neck.parameters())
    assert x.grad.abs().sum() > 0


@pytest.mark.parametrize('kwargs, message', [
    (dict(in_channels=6, in_stride=16),
     'in_channels 6 must be divisible by 4'),
    (dict(in_channels=16, in_stride=0), 'in_stride must be a positive int'),
    (dict(in_channels=16.0, in_stride=16),
     'in_channels must be a positive int'),
])
def test_invalid_arguments_fail_in_one_line(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        SimpleFeaturePyramid(**kwargs)


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
def test_found_by_configs_of_both_scopes(scope):
    import importlib
    registry = importlib.import_module(f'{scope}.registry').MODELS
    neck = registry.build(dict(type='convnext_dense.SimpleFeaturePyramid',
                               in_channels=16, in_stride=7))
    assert isinstance(neck, SimpleFeaturePyramid)
