"""ConvMixer ("Patches Are All You Need?") as a single-scale dense backbone.

A patch-embedding conv (kernel = stride = patch size) -> activation ->
BatchNorm, then ``depth`` blocks of: residual(depthwise k x k conv, 'same'
padding -> activation -> BatchNorm), 1x1 conv -> activation -> BatchNorm.
Every block output has stride ``patch_size`` (7 or 14 for the released
models); :class:`convnext_dense.models.SimpleFeaturePyramid` turns it into
strides exactly 4/8/16/32. Parameter names are timm's (``stem.{0,2}``,
``blocks.N.0.fn.{0,2}``, ``blocks.N.{1,3}``), the layout of the released
checkpoints; the original ``nn.Sequential`` and mmpretrain layouts are
converted on loading.
"""
from typing import Any, Dict, Mapping, Optional, Sequence, Union

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from convnext_dense.checkpoint.convert_isotropic import convert_convmixer
from convnext_dense.errors import ConfigError
from convnext_dense.registry import MODELS

from .plain import PlainBackbone

#: The released variants ConvMixer-h/d, each with the activation it was
#: trained with: 768/32 is ReLU (as in timm and the original release;
#: mmpretrain builds it with GELU by default).
ARCH_SETTINGS: Dict[str, Dict[str, Any]] = {
    '1536/20': dict(embed_dims=1536, depth=20, kernel_size=9, patch_size=7,
                    act='GELU'),
    '768/32': dict(embed_dims=768, depth=32, kernel_size=7, patch_size=7,
                   act='ReLU'),
    '1024/20': dict(embed_dims=1024, depth=20, kernel_size=9, patch_size=14,
                    act='GELU'),
}

#: Activations an arch can name.
ACTIVATIONS: Dict[str, type] = {'GELU': nn.GELU, 'ReLU': nn.ReLU}


class Residual(nn.Module):
    """``fn(x) + x`` (timm's and the original code's name for it)."""

    def __init__(self, fn: nn.Module) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x) + x


def _conv_act_norm(conv: nn.Conv2d, act: type) -> list:
    return [conv, act(), nn.BatchNorm2d(conv.out_channels)]


@MODELS.register_module()
class ConvMixer(PlainBackbone):
    """ConvMixer returning block outputs at stride ``patch_size``.

    Args:
        arch (str | dict): ``'1536/20'``, ``'768/32'``, ``'1024/20'`` or a
            dict with keys ``embed_dims``, ``depth``, ``kernel_size``,
            ``patch_size`` and ``act`` (``'GELU'`` or ``'ReLU'``). Defaults to
            ``'768/32'``.
        in_channels (int): Channels of the input image. Defaults to 3.
        out_indices (int | Sequence[int]): Blocks whose outputs are returned,
            negative indices allowed. Defaults to -1, the last block.
        frozen_stages (int): 0 or -1 freezes nothing; k > 0 keeps the stem
            and the first k blocks in eval mode with frozen parameters.
            Defaults to 0.
        norm_eval (bool): Keep every BatchNorm in eval mode while training,
            using (and keeping) the pretrained statistics, as detectors do
            with few images per GPU. Defaults to False.
        with_cp (bool): Activation checkpointing of each block while
            training. Defaults to False.
        init_cfg (dict | list[dict], optional): ``dict(type='Pretrained',
            checkpoint=PATH_OR_URL)`` loads a timm, original-release or
            mmpretrain checkpoint, or a model trained with this toolkit;
            other mmengine init configs are applied as usual. Defaults to
            None: PyTorch's default init, as timm and the original code.

    Attributes:
        out_channels (tuple[int]): ``embed_dims`` for each returned map.
        out_strides (tuple[int]): ``patch_size`` for each returned map.
    """

    family = 'ConvMixer'
    weights_converter = staticmethod(convert_convmixer)
    arch_settings = ARCH_SETTINGS

    def __init__(self,
                 arch: Union[str, Mapping[str, Any]] = '768/32',
                 in_channels: int = 3,
                 out_indices: Union[int, Sequence[int]] = -1,
                 frozen_stages: int = 0,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        settings = self.resolve_arch(arch)
        if settings['act'] not in ACTIVATIONS:
            raise ConfigError(
                f'{self.family} arch act {settings["act"]!r} is unknown: use '
                f'one of {sorted(ACTIVATIONS)}')
        super().__init__(
            depth=settings['depth'],
            dim=settings['embed_dims'],
            patch_size=settings['patch_size'],
            out_indices=out_indices,
            frozen_stages=frozen_stages,
            with_cp=with_cp,
            init_cfg=init_cfg)
        self.kernel_size = settings['kernel_size']
        self.act = settings['act']
        self.norm_eval = norm_eval
        act, dim = ACTIVATIONS[self.act], self.dim
        self.stem = nn.Sequential(*_conv_act_norm(
            nn.Conv2d(in_channels, dim, self.patch_size, self.patch_size),
            act))
        self.blocks = nn.Sequential(*[
            nn.Sequential(
                Residual(nn.Sequential(*_conv_act_norm(
                    nn.Conv2d(dim, dim, self.kernel_size, groups=dim,
                              padding='same'), act))),
                *_conv_act_norm(nn.Conv2d(dim, dim, 1), act))
            for _ in range(self.depth)
        ])
        self._freeze_stages()

    def reset_parameters(self) -> None:
        """PyTorch's default init, as timm and the original code: the layers
        are initialised when they are built."""

    @property
    def arch_summary(self) -> str:
        return (f'{super().arch_summary}, kernel {self.kernel_size}, '
                f'{self.act}')

    def train(self, mode: bool = True) -> 'ConvMixer':
        super().train(mode)
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self
