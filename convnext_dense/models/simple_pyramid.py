"""ViTDet's simple feature pyramid for the plain backbones, at any patch size.

mmseg's ``Feature2Pyramid`` (BEiT/MAE) needs one input per level and fixed
power-of-two rescales of a stride-16 map, and mmdet 3.3.0 ships ViTDet's
``SimpleFPN`` only as a project, not in the package. Neither gives exact
strides from ConvMixer's stride-7 or stride-14 maps, hence this neck.
"""
import math
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from convnext_dense.errors import ConfigError
from convnext_dense.registry import MODELS

from .layers import LAYER_NORM_EPS, LayerNorm2d

#: The strides FPN, the RPN anchors, RoIAlign and UperNet expect.
PYRAMID_STRIDES: Tuple[int, ...] = (4, 8, 16, 32)


def base_stride(in_stride: int) -> int:
    """The smallest power of two >= ``in_stride``: 7 -> 8, 14 -> 16, 16 -> 16."""
    return 1 << (in_stride - 1).bit_length()


def resample_to_stride(x: torch.Tensor, in_stride: int,
                       out_stride: int) -> torch.Tensor:
    """Bilinearly resamples a stride-``in_stride`` map to stride ``out_stride``.

    Output cell ``j`` covers image pixels ``[out_stride * j, out_stride *
    (j + 1))``; it samples the input at the centre of that span, input
    coordinate ``(j + 0.5) * out_stride / in_stride - 0.5``, clamped to the
    border. Unlike ``F.interpolate(size=...)``, whose scale is the ratio of
    the two sizes and drifts across the map, every output cell sits exactly
    where its stride says. The output has ``ceil(h * in_stride /
    out_stride)`` rows (likewise columns): the extent the input covers,
    rounded up to whole output cells.

    Args:
        x: An ``(N, C, h, w)`` map at stride ``in_stride``.
        in_stride: Its stride in image pixels.
        out_stride: The stride wanted.

    Returns:
        The contiguous ``(N, C, H', W')`` map at stride ``out_stride``.
    """
    if in_stride == out_stride:
        return x
    n, _, h, w = x.shape
    ratio = out_stride / in_stride

    def normalised_centres(size: int) -> torch.Tensor:
        # ceil(size / ratio) in integers: an export traces it as graph ops
        # for any input size (math.ceil would freeze the example's).
        count = (size * in_stride + out_stride - 1) // out_stride
        centres = (torch.arange(count, dtype=x.dtype, device=x.device) +
                   0.5) * ratio - 0.5
        # grid_sample's coordinates with align_corners=False.
        return (2 * centres + 1) / size - 1

    grid_y, grid_x = torch.meshgrid(
        normalised_centres(h), normalised_centres(w), indexing='ij')
    grid = torch.stack((grid_x, grid_y), dim=-1).expand(n, -1, -1, -1)
    return F.grid_sample(
        x, grid, mode='bilinear', padding_mode='border',
        align_corners=False).contiguous()


def _upsampler(channels: int, steps: int) -> nn.Sequential:
    """``steps`` transposed 2x2 convs, each halving the channels, with
    LayerNorm and GELU between them (ViTDet)."""
    layers: List[nn.Module] = []
    for step in range(steps):
        if step:
            layers += [LayerNorm2d(channels, eps=LAYER_NORM_EPS), nn.GELU()]
        layers.append(
            nn.ConvTranspose2d(channels, channels // 2, kernel_size=2,
                               stride=2))
        channels //= 2
    return nn.Sequential(*layers)


@MODELS.register_module()
class SimpleFeaturePyramid(BaseModule):
    """ViTDet's simple feature pyramid: strides exactly 4, 8, 16 and 32.

    From the last map of a plain backbone (stride ``in_stride``, the patch
    size), as ViTDet builds it from a ViT's stride-16 map:

    1. Base stride ``b``: the smallest power of two >= ``in_stride`` (16 for
       the isotropic ConvNeXt and ConvMixer-1024/20's patch 14, 8 for
       ConvMixer's patch 7). A map whose stride is not ``b`` is resampled to
       stride ``b`` by :func:`resample_to_stride`: bilinear sampling at the
       exact centres of the stride-``b`` cells, ``ceil(h * in_stride / b)``
       of them. For an image padded to a multiple of 32 (the detectors'
       ``pad_size_divisor``; any multiple of ``b`` will do) that is exactly
       ``H / b`` rows, since ``in_stride <= b``.
    2. Finer levels (``s < b``): ``log2(b / s)`` transposed 2x2 stride-2
       convs, each halving the channels, LayerNorm + GELU between two of them;
       level ``b``: the map as is; coarser levels: ``s / b`` max pooling
       (ceil mode, so that every level covers the same extent).
    3. Each level gets its own LayerNorm (ViTDet normalises its pyramid; the
       backbones' block outputs are not normalised).

    Level ``s`` thus has ``H_b * b / s`` rows for ``s <= b`` and
    ``ceil(H_b * b / s)`` for ``s > b``, ``H_b`` being the base map's rows.
    Pass :attr:`out_channels` to FPN's or UPerHead's ``in_channels``.

    Args:
        in_channels (int): Channels of the backbone's map.
        in_stride (int): Its stride: the backbone's patch size.
        in_index (int): Which of the backbone's outputs to use. Defaults to
            -1, the last.
        init_cfg (dict, optional): mmengine init config. Defaults to None.

    Attributes:
        out_channels (tuple[int]): Channels of each level: halved per
            upsampling step, ``in_channels`` otherwise. For ``b = 16``:
            ``(C/4, C/2, C, C)``; for ``b = 8``: ``(C/2, C, C, C)``.
        out_strides (tuple[int]): ``(4, 8, 16, 32)``.
    """

    def __init__(self,
                 in_channels: int,
                 in_stride: int,
                 in_index: int = -1,
                 init_cfg: dict = None) -> None:
        super().__init__(init_cfg=init_cfg)
        for name, value in (('in_channels', in_channels),
                            ('in_stride', in_stride)):
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f'SimpleFeaturePyramid {name} must be a '
                                  f'positive int, got {value!r}')
        self.in_stride, self.in_index = in_stride, in_index
        self.base_stride = base_stride(in_stride)
        steps = [
            int(math.log2(self.base_stride // s)) if s < self.base_stride
            else 0 for s in PYRAMID_STRIDES
        ]
        if in_channels % (1 << max(steps)):
            raise ConfigError(
                f'SimpleFeaturePyramid in_channels {in_channels} must be '
                f'divisible by {1 << max(steps)}: from stride '
                f'{self.base_stride} to {PYRAMID_STRIDES[0]} the channels are '
                f'halved {max(steps)} times')
        self.out_strides = PYRAMID_STRIDES
        self.out_channels = tuple(in_channels >> n for n in steps)
        self.levels = nn.ModuleList()
        for stride, n in zip(PYRAMID_STRIDES, steps):
            if n:
                self.levels.append(_upsampler(in_channels, n))
            elif stride == self.base_stride:
                self.levels.append(nn.Identity())
            else:
                pool = stride // self.base_stride
                self.levels.append(
                    nn.MaxPool2d(pool, stride=pool, ceil_mode=True))
        self.norms = nn.ModuleList(
            LayerNorm2d(c, eps=LAYER_NORM_EPS) for c in self.out_channels)

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        """Returns the levels at strides 4, 8, 16, 32, contiguous NCHW."""
        x = resample_to_stride(inputs[self.in_index], self.in_stride,
                               self.base_stride)
        return tuple(
            norm(level(x)) for level, norm in zip(self.levels, self.norms))
