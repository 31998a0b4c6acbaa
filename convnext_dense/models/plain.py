"""What the plain (single-scale) backbones share: isotropic ConvNeXt and ConvMixer.

A plain backbone is a patchifying ``stem`` followed by ``depth`` blocks of one
width (``blocks``, an ``nn.Sequential``), with no downsampling after the stem:
every block output has stride ``patch_size``. Feed it to detection or
segmentation heads through :class:`convnext_dense.models.SimpleFeaturePyramid`.

Module names are ``stem.*`` and ``blocks.N.*`` in every family, which is what
the layer-wise lr decay for plain backbones keys on (stem = layer 0, block i =
layer i + 1).
"""
from typing import Any, Callable, Dict, Mapping, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmengine.model import BaseModule

from convnext_dense.errors import ConfigError

from .convnext import (apply_init_cfg, resolve_out_indices,
                       split_pretrained_init_cfg)

Arch = Union[str, Mapping[str, Any]]


def resolve_preset(arch: Arch, presets: Mapping[str, Mapping[str, Any]],
                   family: str) -> Dict[str, Any]:
    """The settings of a preset name, or of a dict with a preset's keys.

    Args:
        arch: A key of ``presets`` or a dict with exactly the keys the presets
            have. Integer settings must be positive integers.
        presets: Preset name -> settings (all presets have the same keys).
        family: The backbone's name, for messages.

    Raises:
        ConfigError: for an unknown name, other keys or a non-positive int.
    """
    keys = sorted(next(iter(presets.values())))
    if isinstance(arch, str):
        if arch not in presets:
            raise ConfigError(
                f'{family} arch {arch!r} is unknown: use one of '
                f'{sorted(presets)} or a dict with keys {", ".join(keys)}')
        return dict(presets[arch])
    if not isinstance(arch, Mapping) or sorted(arch) != keys:
        raise ConfigError(
            f'{family} arch must be a preset name or a dict with exactly the '
            f'keys {", ".join(keys)}, got {arch!r}')
    settings = dict(arch)
    example = next(iter(presets.values()))
    for key in keys:
        if isinstance(example[key], int) and not (
                isinstance(settings[key], int) and settings[key] > 0):
            raise ConfigError(f'{family} arch {key} must be a positive '
                              f'integer, got {settings[key]!r}')
    return settings


class PlainBackbone(BaseModule):
    """Base of the plain backbones: block outputs at the stem's stride.

    Subclasses set the class attributes below, build ``self.stem`` and
    ``self.blocks`` after calling ``super().__init__``, then call
    ``self._freeze_stages()``.

    Args:
        depth (int): Number of blocks.
        dim (int): Channels of every block.
        patch_size (int): Kernel and stride of the stem: the output stride.
        out_indices (int | Sequence[int]): Blocks whose outputs are returned,
            negative indices allowed.
        frozen_stages (int): 0 or -1 freezes nothing; k > 0 keeps the stem and
            the first k blocks in eval mode with frozen parameters (the
            convention of mmpretrain's plain backbones).
        with_cp (bool): Activation checkpointing of each block while training.
        init_cfg (dict | list[dict], optional): ``dict(type='Pretrained',
            checkpoint=PATH_OR_URL, prefix=None)`` loads weights of any
            layout :attr:`weights_converter` recognises, through
            :func:`convnext_dense.checkpoint.load_backbone_weights`; other
            mmengine init configs are applied as usual.

    Attributes:
        family (str): The backbone's name in messages and load reports.
        weights_converter (Callable): Pure function from a loaded checkpoint
            to a :class:`convnext_dense.checkpoint.ConvertedCheckpoint` in
            this backbone's names; the pretrained loader applies it.
        out_channels (tuple[int]): Channels of each returned feature map.
        out_strides (tuple[int]): Stride of each returned feature map.
    """

    family: str = 'plain backbone'
    weights_converter: Callable

    def __init__(self, depth: int, dim: int, patch_size: int,
                 out_indices: Union[int, Sequence[int]], frozen_stages: int,
                 with_cp: bool, init_cfg: Union[None, dict, list]) -> None:
        super().__init__(init_cfg=init_cfg)
        if not isinstance(patch_size, int) or patch_size <= 0:
            raise ConfigError(f'{self.family} patch_size must be a positive '
                              f'int, got {patch_size!r}')
        self.depth, self.dim, self.patch_size = depth, dim, patch_size
        self.out_indices = resolve_out_indices(
            out_indices, depth, owner=self.family, unit='block')
        if not isinstance(frozen_stages, int) or not (
                -1 <= frozen_stages <= depth):
            raise ConfigError(
                f'{self.family} frozen_stages must be an int in -1..{depth} '
                f'(the stem and that many blocks), got {frozen_stages!r}')
        # Validate the init_cfg now rather than when the weights load.
        split_pretrained_init_cfg(init_cfg, owner=self.family)
        self.frozen_stages = max(frozen_stages, 0)
        self.with_cp = with_cp
        self.out_channels = (dim, ) * len(self.out_indices)
        self.out_strides = (patch_size, ) * len(self.out_indices)

    @property
    def arch_summary(self) -> str:
        """The architecture in words, for messages."""
        return f'depth {self.depth}, dim {self.dim}, patch {self.patch_size}'

    def reset_parameters(self) -> None:
        """The family's default initialisation; PyTorch's unless overridden."""

    def init_weights(self) -> None:
        """Default init, then ``init_cfg`` (a dict or a list).

        ``Pretrained`` entries load through the family's converter after the
        other entries, which mmengine applies as usual.
        """
        self.reset_parameters()
        apply_init_cfg(self)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Returns the outputs of ``out_indices``, contiguous NCHW."""
        x = self.stem(x)
        outputs = []
        for i, block in enumerate(self.blocks):
            if self.with_cp and self.training and x.requires_grad:
                x = cp.checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
            if i in self.out_indices:
                outputs.append(x.contiguous())
        return tuple(outputs)

    def train(self, mode: bool = True) -> 'PlainBackbone':
        super().train(mode)
        self._freeze_stages()
        return self

    def _freeze_stages(self) -> None:
        if not self.frozen_stages:
            return
        for module in (self.stem, *self.blocks[:self.frozen_stages]):
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    #: The lr-decay rules :meth:`lr_decay_layer_id` answers, each with the
    #: name the lr-decay log gives it.
    lr_decay_rules: Mapping[str, str] = {
        'layer_wise': 'layer_wise (plain backbone)'}

    def lr_decay_layer_id(self, param_name: str, rule: str,
                          num_layers: int) -> int:
        """The lr-decay layer of one of this backbone's parameters.

        ``'layer_wise'`` is the ViT/BEiT rule of mmdet and mmseg: the stem is
        layer 0, block i layer ``i + 1``, and everything else, like
        everything outside the backbone, layer ``num_layers + 1``, with
        ``num_layers`` the depth. There are no stages, so no other rule.

        Args:
            param_name: The parameter's name relative to the backbone, e.g.
                ``'blocks.3.pwconv1.weight'``.
            rule: A key of :attr:`lr_decay_rules`.
            num_layers: ``paramwise_cfg.num_layers``: the depth.

        Returns:
            int: The layer id, in ``0..num_layers + 1``.

        Raises:
            ConfigError: If ``rule`` is not ``'layer_wise'`` or
                ``num_layers`` is not the depth.
        """
        if rule not in self.lr_decay_rules:
            raise ConfigError(
                f'paramwise_cfg.decay_type {rule!r} needs a backbone with '
                f'stages; {type(self).__name__} (a stem and blocks) takes '
                f'{", ".join(self.lr_decay_rules)} only')
        if num_layers != self.depth:
            raise ConfigError(
                f'paramwise_cfg.num_layers is {num_layers} but the plain '
                f'backbone has {self.depth} blocks: set '
                f'num_layers={self.depth} (stem = layer 0, block i = layer '
                f'i + 1)')
        parts = param_name.split('.')
        if parts[0] == 'stem':
            return 0
        if parts[0] == 'blocks':
            return int(parts[1]) + 1
        return num_layers + 1
