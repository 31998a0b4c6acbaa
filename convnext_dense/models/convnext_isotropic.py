"""Isotropic ConvNeXt (paper section 3.3) as a single-scale dense backbone.

A 16x16 stride-16 conv stem (no norm; ``patch_size`` sets another), then
``depth`` ConvNeXt blocks of width ``dim``: no downsampling, every block output
has the stem's stride. Parameter names are those of the official
``models/convnext_isotropic.py`` (``stem.*``, ``blocks.N.{dwconv,norm,pwconv1,
pwconv2,gamma}``), so the official ImageNet checkpoints load key for key; their
classifier ``norm`` and ``head`` are left out. Turn the output into strides
4/8/16/32 for FPN or UperNet with
:class:`convnext_dense.models.SimpleFeaturePyramid`.
"""
from typing import Any, Dict, Mapping, Optional, Sequence, Union

import torch.nn as nn

from convnext_dense.checkpoint.convert_isotropic import \
    convert_isotropic_convnext
from convnext_dense.registry import MODELS

from .layers import ConvNeXtBlock
from .plain import PlainBackbone

#: Depth and width of each arch the paper reports (Table 2).
ARCH_SETTINGS: Dict[str, Dict[str, int]] = {
    'small': dict(depth=18, dim=384),
    'base': dict(depth=18, dim=768),
    'large': dict(depth=36, dim=1024),
}

#: The stem's kernel and stride (the output stride) of the paper's models.
PATCH_SIZE = 16


@MODELS.register_module()
class ConvNeXtIsotropic(PlainBackbone):
    """Isotropic ConvNeXt returning block outputs at stride ``patch_size``.

    Args:
        arch (str | dict): ``'small'``, ``'base'``, ``'large'`` or a dict with
            keys ``depth`` and ``dim``. Defaults to ``'small'``.
        in_channels (int): Channels of the input image. Defaults to 3.
        patch_size (int): Kernel and stride of the stem, the output stride.
            Defaults to 16, that of the paper and its checkpoints; smaller
            suits small images.
        drop_path_rate (float): Stochastic depth rate of the last block;
            rates rise linearly from 0 over the blocks. Defaults to 0.
        layer_scale_init_value (float): Initial value of the blocks' layer
            scale ``gamma``; 0 or less disables it, as in the official
            isotropic models (their checkpoints have no ``gamma``).
            Defaults to 0.
        out_indices (int | Sequence[int]): Blocks whose outputs are returned
            (NCHW, before any norm), negative indices allowed. Defaults to -1,
            the last block.
        frozen_stages (int): 0 or -1 freezes nothing; k > 0 keeps the stem
            and the first k blocks in eval mode with frozen parameters.
            Defaults to 0.
        with_cp (bool): Activation checkpointing of each block while
            training. Defaults to False.
        init_cfg (dict | list[dict], optional): ``dict(type='Pretrained',
            checkpoint=PATH_OR_URL)`` loads an official ImageNet checkpoint
            (``convnext_iso_*_1k_224_ema.pth``) or a model trained with this
            toolkit; other mmengine init configs are applied as usual.
            Defaults to None: truncated-normal (std 0.02) conv and linear
            weights, zero biases.

    Attributes:
        out_channels (tuple[int]): ``dim`` for each returned map.
        out_strides (tuple[int]): ``patch_size`` for each returned map.
    """

    family = 'isotropic ConvNeXt'
    weights_converter = staticmethod(convert_isotropic_convnext)
    arch_settings = ARCH_SETTINGS

    def __init__(self,
                 arch: Union[str, Mapping[str, Any]] = 'small',
                 in_channels: int = 3,
                 patch_size: int = PATCH_SIZE,
                 drop_path_rate: float = 0.0,
                 layer_scale_init_value: float = 0.0,
                 out_indices: Union[int, Sequence[int]] = -1,
                 frozen_stages: int = 0,
                 with_cp: bool = False,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        settings = self.resolve_arch(arch)
        super().__init__(
            depth=settings['depth'],
            dim=settings['dim'],
            patch_size=patch_size,
            out_indices=out_indices,
            frozen_stages=frozen_stages,
            with_cp=with_cp,
            init_cfg=init_cfg)
        rates = self._drop_path_rates(drop_path_rate, self.depth)
        self.stem = nn.Conv2d(
            in_channels, self.dim, kernel_size=patch_size, stride=patch_size)
        self.blocks = nn.Sequential(*[
            ConvNeXtBlock(self.dim, rate, layer_scale_init_value)
            for rate in rates
        ])
        self._freeze_stages()
