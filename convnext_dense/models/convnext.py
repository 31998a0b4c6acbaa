"""ConvNeXt ("A ConvNet for the 2020s") as a multi-scale dense-prediction backbone.

Parameter names and shapes are those of the official dense backbone (the
authors' ``object_detection`` / ``semantic_segmentation`` code), so official
fine-tuned checkpoints load key for key; other weight formats are converted by
:mod:`convnext_dense.checkpoint.convert`.
"""
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule

from convnext_dense.errors import ConfigError
from convnext_dense.registry import MODELS

#: Depths and widths of the four stages of each arch the paper reports.
ARCH_SETTINGS: Dict[str, Dict[str, Tuple[int, ...]]] = {
    'tiny': dict(depths=(3, 3, 9, 3), dims=(96, 192, 384, 768)),
    'small': dict(depths=(3, 3, 27, 3), dims=(96, 192, 384, 768)),
    'base': dict(depths=(3, 3, 27, 3), dims=(128, 256, 512, 1024)),
    'large': dict(depths=(3, 3, 27, 3), dims=(192, 384, 768, 1536)),
    'xlarge': dict(depths=(3, 3, 27, 3), dims=(256, 512, 1024, 2048)),
}

#: Output stride of each stage: the stem divides by 4, each downsampling by 2.
STAGE_STRIDES: Tuple[int, ...] = (4, 8, 16, 32)

LAYER_NORM_EPS = 1e-6


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW tensor; returns contiguous NCHW.

    The contiguous copy matters downstream: mmcv's RoIAlign reads its input as
    contiguous NCHW memory, and the channels-last strides a permute leaves
    behind would propagate through the FPN to it.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(
            x.permute(0, 2, 3, 1), self.normalized_shape, self.weight,
            self.bias, self.eps)
        return x.permute(0, 3, 1, 2).contiguous()


class ConvNeXtBlock(nn.Module):
    """dwconv 7x7 -> LayerNorm -> Linear 4x -> GELU -> Linear -> gamma -> drop path.

    Args:
        dim (int): Number of channels.
        drop_path_rate (float): Stochastic depth rate of the residual branch.
        layer_scale_init_value (float): Initial value of the per-channel
            layer scale ``gamma``; 0 or less disables it.
    """

    def __init__(self, dim: int, drop_path_rate: float,
                 layer_scale_init_value: float) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = (
            nn.Parameter(torch.full((dim, ), float(layer_scale_init_value)))
            if layer_scale_init_value > 0 else None)
        self.drop_path = (
            DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        if self.gamma is not None:
            y = self.gamma * y
        return x + self.drop_path(y.permute(0, 3, 1, 2))


def resolve_arch(arch: Union[str, Mapping[str, Sequence[int]]]
                 ) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
    """Returns ``(depths, dims)`` of a preset name or a ``{depths, dims}`` dict."""
    if isinstance(arch, str):
        if arch not in ARCH_SETTINGS:
            raise ConfigError(
                f'ConvNeXt arch {arch!r} is unknown: use one of '
                f'{sorted(ARCH_SETTINGS)} or a dict with keys depths and dims')
        arch = ARCH_SETTINGS[arch]
    if not isinstance(arch, Mapping) or set(arch) != {'depths', 'dims'}:
        raise ConfigError(
            f'ConvNeXt arch must be a preset name or a dict with exactly the '
            f'keys depths and dims, got {arch!r}')
    depths, dims = tuple(arch['depths']), tuple(arch['dims'])
    if len(depths) != len(STAGE_STRIDES) or len(dims) != len(STAGE_STRIDES):
        raise ConfigError(
            f'ConvNeXt arch needs {len(STAGE_STRIDES)} depths and '
            f'{len(STAGE_STRIDES)} dims, got depths={depths}, dims={dims}')
    if any(int(v) != v or v <= 0 for v in depths + dims):
        raise ConfigError(f'ConvNeXt depths and dims must be positive integers, '
                         f'got depths={depths}, dims={dims}')
    return depths, dims


def resolve_out_indices(out_indices: Union[int, Sequence[int]],
                        num_stages: int) -> Tuple[int, ...]:
    """Normalises ``out_indices`` (negative allowed) to sorted stage indices."""
    requested = (out_indices, ) if isinstance(out_indices, int) else tuple(
        out_indices)
    if not requested:
        raise ConfigError('ConvNeXt out_indices is empty: name at least one '
                         f'stage in 0..{num_stages - 1}')
    resolved = []
    for index in requested:
        if not isinstance(index, int) or not -num_stages <= index < num_stages:
            raise ConfigError(
                f'ConvNeXt out_indices entry {index!r} is out of range: use '
                f'integers in {-num_stages}..{num_stages - 1}')
        resolved.append(index % num_stages)
    if len(set(resolved)) != len(resolved):
        raise ConfigError(
            f'ConvNeXt out_indices {requested} names a stage twice')
    return tuple(sorted(resolved))


@MODELS.register_module()
class ConvNeXt(BaseModule):
    """ConvNeXt backbone emitting one LayerNorm-ed feature map per stage.

    Args:
        arch (str | dict): One of ``'tiny'``, ``'small'``, ``'base'``,
            ``'large'``, ``'xlarge'``, or a dict with keys ``depths`` and
            ``dims`` (four ints each). Defaults to ``'tiny'``.
        in_channels (int): Channels of the input image. Defaults to 3.
        drop_path_rate (float): Stochastic depth rate of the last block; rates
            rise linearly from 0 over all blocks. Defaults to 0.
        layer_scale_init_value (float): Initial value of the blocks' layer
            scale ``gamma``; 0 or less disables it. Defaults to 1e-6.
        out_indices (int | Sequence[int]): Stages whose features are returned,
            negative indices allowed. Each gets its own LayerNorm
            ``norm{i}``. Defaults to ``(0, 1, 2, 3)``.
        frozen_stages (int): Number of leading stages (each with its
            downsampling layer; stage 0's is the stem) kept in eval mode with
            frozen parameters. 0 or -1 freezes nothing. The output norms stay
            trainable. Defaults to 0.
        with_cp (bool): Use activation checkpointing in the blocks to save
            memory while training. Defaults to False.
        init_cfg (dict, optional): ``dict(type='Pretrained', checkpoint=PATH)``
            loads weights in any supported ConvNeXt format (see
            :func:`convnext_dense.checkpoint.load_backbone_weights`); other
            mmengine init configs are applied as usual. Defaults to None,
            which gives truncated-normal (std 0.02) linear and conv weights.

    Attributes:
        out_channels (tuple[int]): Channels of each returned feature map.
        out_strides (tuple[int]): Stride of each returned feature map.
    """

    def __init__(self,
                 arch: Union[str, Mapping[str, Sequence[int]]] = 'tiny',
                 in_channels: int = 3,
                 drop_path_rate: float = 0.0,
                 layer_scale_init_value: float = 1e-6,
                 out_indices: Union[int, Sequence[int]] = (0, 1, 2, 3),
                 frozen_stages: int = 0,
                 with_cp: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.depths, self.dims = resolve_arch(arch)
        num_stages = len(self.depths)
        self.out_indices = resolve_out_indices(out_indices, num_stages)
        if not isinstance(frozen_stages, int) or not (
                -1 <= frozen_stages <= num_stages):
            raise ConfigError(
                f'ConvNeXt frozen_stages must be an int in -1..{num_stages}, '
                f'got {frozen_stages!r}')
        if not 0.0 <= drop_path_rate < 1.0:
            raise ConfigError(
                f'ConvNeXt drop_path_rate must be in [0, 1), got {drop_path_rate!r}')
        self.frozen_stages = max(frozen_stages, 0)
        self.with_cp = with_cp
        self.out_channels = tuple(self.dims[i] for i in self.out_indices)
        self.out_strides = tuple(STAGE_STRIDES[i] for i in self.out_indices)

        self.downsample_layers = nn.ModuleList([
            nn.Sequential(
                nn.Conv2d(in_channels, self.dims[0], kernel_size=4, stride=4),
                LayerNorm2d(self.dims[0], eps=LAYER_NORM_EPS))
        ])
        for i in range(1, num_stages):
            self.downsample_layers.append(
                nn.Sequential(
                    LayerNorm2d(self.dims[i - 1], eps=LAYER_NORM_EPS),
                    nn.Conv2d(
                        self.dims[i - 1], self.dims[i], kernel_size=2,
                        stride=2)))

        rates = torch.linspace(
            0, drop_path_rate, sum(self.depths), device='cpu').tolist()
        self.stages = nn.ModuleList()
        for i, depth in enumerate(self.depths):
            first = sum(self.depths[:i])
            self.stages.append(
                nn.Sequential(*[
                    ConvNeXtBlock(self.dims[i], rates[first + j],
                                  layer_scale_init_value)
                    for j in range(depth)
                ]))
        for i in self.out_indices:
            self.add_module(f'norm{i}',
                            LayerNorm2d(self.dims[i], eps=LAYER_NORM_EPS))
        self._freeze_stages()

    def init_weights(self) -> None:
        """Truncated-normal init, then the pretrained weights if configured."""
        self.apply(_init_linear_and_conv)
        init_cfg = self.init_cfg if isinstance(self.init_cfg, dict) else None
        if init_cfg is not None and init_cfg.get('type') == 'Pretrained':
            # Deferred import: the loader pulls in mmengine's runner.
            from convnext_dense.checkpoint import load_backbone_weights
            load_backbone_weights(
                self, init_cfg['checkpoint'],
                map_location=init_cfg.get('map_location', 'cpu'))
            self._is_init = True
        else:
            super().init_weights()

    def forward_stages(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Returns every stage's output before its output norm."""
        stage_outputs = []
        for downsample, stage in zip(self.downsample_layers, self.stages):
            x = downsample(x)
            if self.with_cp and self.training and x.requires_grad:
                for block in stage:
                    x = cp.checkpoint(block, x, use_reentrant=False)
            else:
                x = stage(x)
            stage_outputs.append(x)
        return tuple(stage_outputs)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Returns the normed features of ``out_indices``, contiguous NCHW."""
        stage_outputs = self.forward_stages(x)
        return tuple(
            getattr(self, f'norm{i}')(stage_outputs[i])
            for i in self.out_indices)

    def train(self, mode: bool = True) -> 'ConvNeXt':
        super().train(mode)
        self._freeze_stages()
        return self

    def _freeze_stages(self) -> None:
        for i in range(self.frozen_stages):
            for module in (self.downsample_layers[i], self.stages[i]):
                module.eval()
                for param in module.parameters():
                    param.requires_grad = False


def _init_linear_and_conv(module: nn.Module) -> None:
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
