"""What the plain (single-scale) backbones share: isotropic ConvNeXt and ConvMixer.

A plain backbone is a patchifying ``stem`` followed by ``depth`` blocks of one
width (``blocks``, an ``nn.Sequential``), with no downsampling after the stem:
every block output has stride ``patch_size``. Feed it to detection or
segmentation heads through :class:`convnext_dense.models.SimpleFeaturePyramid`.

Module names are ``stem.*`` and ``blocks.N.*`` in every family, which is what
the layer-wise lr decay for plain backbones keys on (stem = layer 0, block i =
layer i + 1).
"""
from typing import List, Mapping, Sequence, Tuple, Union

import torch
import torch.nn as nn

from convnext_dense.errors import ConfigError

from .base import BackboneBase, split_pretrained_init_cfg


class PlainBackbone(BackboneBase):
    """Base of the plain backbones: block outputs at the stem's stride.

    Subclasses set the class attributes of :class:`BackboneBase`, build
    ``self.stem`` and ``self.blocks`` after calling ``super().__init__``, then
    call ``self._freeze_stages()``.

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
        out_channels (tuple[int]): Channels of each returned feature map.
        out_strides (tuple[int]): Stride of each returned feature map.
    """

    family: str = 'plain backbone'
    stage_unit = 'block'
    frozen_parts = 'the stem and that many blocks'

    def __init__(self, depth: int, dim: int, patch_size: int,
                 out_indices: Union[int, Sequence[int]], frozen_stages: int,
                 with_cp: bool, init_cfg: Union[None, dict, list]) -> None:
        super().__init__(init_cfg=init_cfg)
        if not isinstance(patch_size, int) or patch_size <= 0:
            raise ConfigError(f'{self.family} patch_size must be a positive '
                              f'int, got {patch_size!r}')
        self.depth, self.dim, self.patch_size = depth, dim, patch_size
        self._configure_stages(depth, out_indices, frozen_stages, with_cp)
        # Validate the init_cfg now rather than when the weights load.
        split_pretrained_init_cfg(init_cfg, owner=self.family)
        self.out_channels = (dim, ) * len(self.out_indices)
        self.out_strides = (patch_size, ) * len(self.out_indices)

    @property
    def arch_summary(self) -> str:
        """The architecture in words, for messages."""
        return f'depth {self.depth}, dim {self.dim}, patch {self.patch_size}'

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Returns the outputs of ``out_indices``, contiguous NCHW."""
        x = self.stem(x)
        outputs = []
        for i, block in enumerate(self.blocks):
            x = self._run_block(block, x)
            if i in self.out_indices:
                outputs.append(x.contiguous())
        return tuple(outputs)

    def _frozen_modules(self) -> List[nn.Module]:
        if not self.frozen_stages:
            return []
        return [self.stem, *self.blocks[:self.frozen_stages]]

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
