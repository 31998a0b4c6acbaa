"""ConvNeXt V2 ("ConvNeXt V2: Co-designing and Scaling ConvNets with Masked
Autoencoders", Woo et al., CVPR 2023) as a dense-prediction backbone.

V2 is V1 (:class:`convnext_dense.models.ConvNeXt`) with Global Response
Normalization (:class:`convnext_dense.models.layers.GRN`) between the MLP's
GELU and its second linear layer, and without layer scale: the same blocks,
stages, output norms and options, with V2's presets and official weights.
"""
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

from convnext_dense.checkpoint.convert import convert_v2_to_dense_backbone
from convnext_dense.errors import ConfigError
from convnext_dense.registry import MODELS

from .convnext import ConvNeXt

#: Depths and widths of the four stages of the paper's eight models.
ARCH_SETTINGS_V2: Dict[str, Dict[str, Tuple[int, ...]]] = {
    'atto': dict(depths=(2, 2, 6, 2), dims=(40, 80, 160, 320)),
    'femto': dict(depths=(2, 2, 6, 2), dims=(48, 96, 192, 384)),
    'pico': dict(depths=(2, 2, 6, 2), dims=(64, 128, 256, 512)),
    'nano': dict(depths=(2, 2, 8, 2), dims=(80, 160, 320, 640)),
    'tiny': dict(depths=(3, 3, 9, 3), dims=(96, 192, 384, 768)),
    'base': dict(depths=(3, 3, 27, 3), dims=(128, 256, 512, 1024)),
    'large': dict(depths=(3, 3, 27, 3), dims=(192, 384, 768, 1536)),
    'huge': dict(depths=(3, 3, 27, 3), dims=(352, 704, 1408, 2816)),
}

_RELEASE = 'https://dl.fbaipublicfiles.com/convnext/convnextv2'
#: The official ConvNeXt V2 checkpoints (file names without ``.pt``) -> URL,
#: as listed in the README of the authors' repository
#: (github.com/facebookresearch/ConvNeXt-V2): FCMAE pre-trained (``pt_only``,
#: the encoder in sparse-convolution form), ImageNet-1K fine-tuned (``im1k``)
#: and ImageNet-22K fine-tuned (``im22k``) weights.
PRETRAINED_WEIGHTS_V2: Dict[str, str] = {
    **{f'convnextv2_{arch}_1k_224_fcmae':
       f'{_RELEASE}/pt_only/convnextv2_{arch}_1k_224_fcmae.pt'
       for arch in ARCH_SETTINGS_V2},
    **{f'convnextv2_{arch}_1k_224_ema':
       f'{_RELEASE}/im1k/convnextv2_{arch}_1k_224_ema.pt'
       for arch in ARCH_SETTINGS_V2},
    **{f'convnextv2_{arch}_22k_{size}_ema':
       f'{_RELEASE}/im22k/convnextv2_{arch}_22k_{size}_ema.pt'
       for arch, sizes in (('nano', (224, 384)), ('tiny', (224, 384)),
                           ('base', (224, 384)), ('large', (224, 384)),
                           ('huge', (384, 512)))
       for size in sizes},
}


@MODELS.register_module()
class ConvNeXtV2(ConvNeXt):
    """ConvNeXt V2 backbone emitting one LayerNorm-ed feature map per stage.

    The blocks are V1's with GRN and without layer scale; the state-dict keys
    are those of the official release (``stages.N.M.grn.gamma`` and
    ``.grn.beta`` of shape ``(1, 1, 1, 4C)``) plus the dense output norms
    ``norm0..3``.

    Args:
        arch (str | dict): One of ``'atto'``, ``'femto'``, ``'pico'``,
            ``'nano'``, ``'tiny'``, ``'base'``, ``'large'``, ``'huge'``, or a
            dict with keys ``depths`` and ``dims`` (four ints each).
            Defaults to ``'tiny'``.
        in_channels (int): Channels of the input image. Defaults to 3.
        drop_path_rate (float): Stochastic depth rate of the last block; rates
            rise linearly from 0 over all blocks. Defaults to 0.
        out_indices (int | Sequence[int]): Stages whose features are returned,
            negative indices allowed; each gets its own LayerNorm
            ``norm{i}``. Stages after the last one are not run. Defaults to
            ``(0, 1, 2, 3)``.
        frozen_stages (int): Number of leading stages (with their
            downsampling layers) kept in eval mode with frozen parameters.
            Defaults to 0.
        with_cp (bool): Activation checkpointing in the blocks while
            training. Defaults to False.
        init_cfg (dict | list[dict], optional): ``dict(type='Pretrained',
            checkpoint=PATH_URL_OR_NAME, prefix=None)`` loads ConvNeXt V2
            weights in any supported layout (official fine-tuned and FCMAE
            pre-training files, timm, mmpretrain, Hugging Face, convnext-dense
            checkpoints); a name of :data:`PRETRAINED_WEIGHTS_V2` that is not
            a local file is downloaded from its URL. Defaults to None.
    """

    family = 'ConvNeXt V2'
    weights_converter = staticmethod(convert_v2_to_dense_backbone)
    arch_settings = ARCH_SETTINGS_V2
    pretrained_weights = PRETRAINED_WEIGHTS_V2
    use_grn = True

    def __init__(self,
                 arch: Union[str, Mapping[str, Sequence[int]]] = 'tiny',
                 in_channels: int = 3,
                 drop_path_rate: float = 0.0,
                 out_indices: Union[int, Sequence[int]] = (0, 1, 2, 3),
                 frozen_stages: int = 0,
                 with_cp: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            arch=arch,
            in_channels=in_channels,
            drop_path_rate=drop_path_rate,
            layer_scale_init_value=0.0,
            out_indices=out_indices,
            frozen_stages=frozen_stages,
            with_cp=with_cp,
            init_cfg=init_cfg)

    #: V1's lr-decay rules and ``'block_wise'``.
    lr_decay_rules = {**ConvNeXt.lr_decay_rules, 'block_wise': 'block_wise'}

    def lr_decay_layer_id(self, param_name: str, rule: str,
                          num_layers: int) -> int:
        """The lr-decay layer of one of this backbone's parameters.

        V1's rules (:meth:`ConvNeXt.lr_decay_layer_id`; ``'layer_wise'`` with
        12 layers is the V2 authors' ``'group'`` rule) and ``'block_wise'``,
        their ``'single'`` rule: block b of stage s is layer ``sum(depths[:s])
        + b + 1``, the downsampling layer before stage s has the id of the
        stage's first block, and everything else is layer ``num_layers + 1``,
        with ``num_layers`` the number of blocks.

        Args:
            param_name: The parameter's name relative to the backbone, e.g.
                ``'stages.2.4.grn.gamma'``.
            rule: A key of :attr:`lr_decay_rules`.
            num_layers: ``paramwise_cfg.num_layers``; for ``'block_wise'``
                it must be ``sum(depths)``.

        Returns:
            int: The layer id, in ``0..num_layers + 1``.

        Raises:
            ConfigError: If this backbone has no rule ``rule``, or
                ``num_layers`` is not the number of blocks under
                ``'block_wise'``.
        """
        if rule != 'block_wise':
            return super().lr_decay_layer_id(param_name, rule, num_layers)
        blocks = sum(self.depths)
        if num_layers != blocks:
            raise ConfigError(
                f'paramwise_cfg.num_layers is {num_layers} but block_wise '
                f'decay makes each backbone block a layer and the backbone '
                f'has {blocks} blocks (depths {self.depths}): set '
                f'num_layers={blocks}')
        # Padded: names such as 'norm0.weight' have no stage or block.
        module, stage, block = (param_name.split('.') + ['', ''])[:3]
        if module == 'stages':
            return sum(self.depths[:int(stage)]) + int(block) + 1
        if module == 'downsample_layers':
            return sum(self.depths[:int(stage)]) + 1
        return num_layers + 1
