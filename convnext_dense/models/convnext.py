"""ConvNeXt ("A ConvNet for the 2020s") as a multi-scale dense-prediction backbone.

Parameter names and shapes are those of the official dense backbone (the
authors' ``object_detection`` / ``semantic_segmentation`` code), so official
fine-tuned checkpoints load key for key; other weight formats are converted by
:mod:`convnext_dense.checkpoint.convert`.
"""
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from convnext_dense.checkpoint.convert import convert_to_dense_backbone
from convnext_dense.errors import ConfigError
from convnext_dense.registry import MODELS

from .base import BackboneBase
from .layers import LAYER_NORM_EPS, ConvNeXtBlock, LayerNorm2d

#: Depths and widths of the four stages of each arch the paper reports.
ARCH_SETTINGS: Dict[str, Dict[str, Tuple[int, ...]]] = {
    'tiny': dict(depths=(3, 3, 9, 3), dims=(96, 192, 384, 768)),
    'small': dict(depths=(3, 3, 27, 3), dims=(96, 192, 384, 768)),
    'base': dict(depths=(3, 3, 27, 3), dims=(128, 256, 512, 1024)),
    'large': dict(depths=(3, 3, 27, 3), dims=(192, 384, 768, 1536)),
    'xlarge': dict(depths=(3, 3, 27, 3), dims=(256, 512, 1024, 2048)),
}

#: The official ImageNet checkpoints (the ConvNeXt release's file names without
#: ``.pth``) -> URL. ``init_cfg=dict(type='Pretrained', checkpoint=NAME)`` with
#: a name that is not a local file loads from the URL.
PRETRAINED_WEIGHTS: Dict[str, str] = {
    name: f'https://dl.fbaipublicfiles.com/convnext/{name}.pth'
    for name in [
        *(f'convnext_{arch}_1k_224{ema}'
          for arch in ('tiny', 'small', 'base', 'large')
          for ema in ('', '_ema')),
        *(f'convnext_{arch}_22k_224'
          for arch in ('tiny', 'small', 'base', 'large', 'xlarge')),
    ]
}

#: Output stride of each stage: the stem divides by 4, each downsampling by 2.
STAGE_STRIDES: Tuple[int, ...] = (4, 8, 16, 32)


@MODELS.register_module()
class ConvNeXt(BackboneBase):
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
        init_cfg (dict | list[dict], optional): ``dict(type='Pretrained',
            checkpoint=PATH_URL_OR_NAME, prefix=None)`` loads weights in any
            supported ConvNeXt format (see
            :func:`convnext_dense.checkpoint.load_backbone_weights`); a name
            of :data:`PRETRAINED_WEIGHTS` that is not a local file is
            downloaded from its URL. Other mmengine init configs, alone or
            beside a Pretrained one in a list, are applied as usual. Defaults
            to None, which gives truncated-normal (std 0.02) linear and conv
            weights.

    Attributes:
        family (str): Its name in messages and load reports.
        weights_converter (Callable): How the pretrained loader reads
            checkpoints: :func:`convnext_dense.checkpoint.
            convert_to_dense_backbone`.
        out_channels (tuple[int]): Channels of each returned feature map.
        out_strides (tuple[int]): Stride of each returned feature map.
    """

    family = 'ConvNeXt'
    weights_converter = staticmethod(convert_to_dense_backbone)
    #: The named archs and official release names this class takes.
    arch_settings: Mapping[str, Mapping[str, Tuple[int, ...]]] = ARCH_SETTINGS
    arch_keys_in_words = 'depths and dims'
    pretrained_weights: Mapping[str, str] = PRETRAINED_WEIGHTS
    frozen_parts = 'that many leading stages with their downsampling layers'
    #: Whether the blocks carry GRN (ConvNeXt V2).
    use_grn = False

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
        settings = self.resolve_arch(arch)
        self.depths, self.dims = settings['depths'], settings['dims']
        num_stages = len(self.depths)
        self._configure_stages(num_stages, out_indices, frozen_stages, with_cp)
        rates = self._drop_path_rates(drop_path_rate, sum(self.depths))
        self.out_channels = tuple(self.dims[i] for i in self.out_indices)
        self.out_strides = tuple(STAGE_STRIDES[i] for i in self.out_indices)

        self.downsample_layers = nn.ModuleList([
            nn.Sequential(
                nn.Conv2d(in_channels, self.dims[0], kernel_size=4, stride=4),
                LayerNorm2d(
                    self.dims[0], eps=LAYER_NORM_EPS,
                    contiguous_output=False))
        ])
        for i in range(1, num_stages):
            self.downsample_layers.append(
                nn.Sequential(
                    LayerNorm2d(
                        self.dims[i - 1], eps=LAYER_NORM_EPS,
                        contiguous_output=False),
                    nn.Conv2d(
                        self.dims[i - 1], self.dims[i], kernel_size=2,
                        stride=2)))

        self.stages = nn.ModuleList()
        for i, depth in enumerate(self.depths):
            first = sum(self.depths[:i])
            self.stages.append(
                nn.Sequential(*[
                    ConvNeXtBlock(self.dims[i], rates[first + j],
                                  layer_scale_init_value, self.use_grn)
                    for j in range(depth)
                ]))
        for i in self.out_indices:
            self.add_module(f'norm{i}',
                            LayerNorm2d(self.dims[i], eps=LAYER_NORM_EPS))
        self._freeze_stages()

    @property
    def arch_summary(self) -> str:
        """The architecture in words, for messages."""
        return f'depths {self.depths}, dims {self.dims}'

    def forward_stages(self, x: torch.Tensor,
                       num_stages: Optional[int] = None
                       ) -> Tuple[torch.Tensor, ...]:
        """Returns the stages' outputs before their output norms.

        The backbone computes in ``channels_last`` memory (see
        :class:`~convnext_dense.models.layers.ConvNeXtBlock`): the image is
        converted once, and the stage outputs are NCHW tensors with
        ``channels_last`` strides.

        Args:
            x: Images, ``(N, C, H, W)``.
            num_stages: Run only the first ``num_stages`` stages. Defaults
                to None: all of them.
        """
        x = x.contiguous(memory_format=torch.channels_last)
        stage_outputs = []
        for downsample, stage in list(zip(self.downsample_layers,
                                          self.stages))[:num_stages]:
            x = self._run_blocks(stage, downsample(x))
            stage_outputs.append(x)
        return tuple(stage_outputs)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Returns the normed features of ``out_indices``, contiguous NCHW.

        Stages after the last one in ``out_indices`` are not run.
        """
        stage_outputs = self.forward_stages(x, self.out_indices[-1] + 1)
        return tuple(
            getattr(self, f'norm{i}')(stage_outputs[i])
            for i in self.out_indices)

    def _frozen_modules(self) -> List[nn.Module]:
        return [module for i in range(self.frozen_stages)
                for module in (self.downsample_layers[i], self.stages[i])]

    #: The lr-decay rules :meth:`lr_decay_layer_id` answers, each with the
    #: name the lr-decay log gives it.
    lr_decay_rules: Mapping[str, str] = {
        'layer_wise': 'layer_wise', 'stage_wise': 'stage_wise'}

    def lr_decay_layer_id(self, param_name: str, rule: str,
                          num_layers: int) -> int:
        """The lr-decay layer of one of this backbone's parameters.

        The official ConvNeXt rules (the authors' detection and segmentation
        code), where layer ``num_layers + 1`` gets the base lr:

        - ``'layer_wise'``: the stem is layer 0, stage 0 layer 1, stage 1 and
          the downsampling before it layer 2, the downsampling before stage 2
          layer 3, block b of stage 2 layer ``3 + b // 3``, stage 3 and the
          downsampling before it layer ``num_layers``.
        - ``'stage_wise'``: every downsampling layer (the stem too) is layer
          0, stage s layer ``s + 1``.

        The output norms, like everything outside the backbone, are layer
        ``num_layers + 1``.

        Args:
            param_name: The parameter's name relative to the backbone, e.g.
                ``'stages.2.4.pwconv1.weight'``.
            rule: A key of :attr:`lr_decay_rules`.
            num_layers: ``paramwise_cfg.num_layers``: 6 for a depth-9
                stage 2, 12 for depth 27.

        Returns:
            int: The layer id, in ``0..num_layers + 1``.

        Raises:
            ConfigError: If this backbone has no rule ``rule``.
        """
        if rule not in self.lr_decay_rules:
            raise ConfigError(
                f'paramwise_cfg.decay_type {rule!r} is not a lr-decay rule of '
                f'{type(self).__name__}: use one of '
                f'{", ".join(self.lr_decay_rules)}')
        parts = param_name.split('.')
        if parts[0] not in ('downsample_layers', 'stages'):
            return num_layers + 1
        stage = int(parts[1])
        if rule == 'stage_wise':
            return 0 if parts[0] == 'downsample_layers' else stage + 1
        if parts[0] == 'downsample_layers':
            return (0, 2, 3, num_layers)[stage]
        if stage == 2:
            return 3 + int(parts[2]) // 3
        return (1, 2, None, num_layers)[stage]

