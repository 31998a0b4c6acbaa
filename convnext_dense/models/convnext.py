"""ConvNeXt ("A ConvNet for the 2020s") as a multi-scale dense-prediction backbone.

Parameter names and shapes are those of the official dense backbone (the
authors' ``object_detection`` / ``semantic_segmentation`` code), so official
fine-tuned checkpoints load key for key; other weight formats are converted by
:mod:`convnext_dense.checkpoint.convert`.
"""
import functools
import os.path as osp
from typing import (Callable, Dict, List, Mapping, Optional, Sequence,
                    Tuple, Union)

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn.bricks import DropPath
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmengine.model.weight_init import PretrainedInit, initialize

from convnext_dense.checkpoint.convert import convert_to_dense_backbone
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

#: Keys a ``Pretrained`` init_cfg takes (those of mmengine's PretrainedInit).
PRETRAINED_INIT_KEYS = frozenset({'type', 'checkpoint', 'prefix',
                                  'map_location'})


def resolve_pretrained_checkpoint(
        checkpoint: str,
        weights: Mapping[str, str] = PRETRAINED_WEIGHTS) -> str:
    """The URL of a release name in ``weights`` that is not a local file
    (logged); any other path or URL unchanged.

    Args:
        checkpoint: A path, URL or release name.
        weights: Release names -> URLs. Defaults to
            :data:`PRETRAINED_WEIGHTS`.
    """
    if checkpoint in weights and not osp.isfile(checkpoint):
        url = weights[checkpoint]
        print_log(f'init_cfg checkpoint {checkpoint!r} is the official '
                  f'ImageNet checkpoint {url}', logger='current')
        return url
    return checkpoint


def split_pretrained_init_cfg(
        init_cfg: Union[None, dict, Sequence[dict]],
        owner: str = 'ConvNeXt') -> Tuple[List[dict], List[dict]]:
    """Splits an init_cfg (a dict or a list) into its ``Pretrained`` entries
    and the others, checking each ``Pretrained`` entry's keys (``owner``, the
    backbone's name, goes into the message)."""
    if not init_cfg:
        return [], []
    entries = [init_cfg] if isinstance(init_cfg, Mapping) else list(init_cfg)
    pretrained, others = [], []
    for entry in entries:
        kind = entry.get('type') if isinstance(entry, Mapping) else None
        if kind != 'Pretrained' and kind is not PretrainedInit:
            others.append(entry)
            continue
        unknown = sorted(set(entry) - PRETRAINED_INIT_KEYS)
        if unknown or not isinstance(entry.get('checkpoint'), str):
            raise ConfigError(
                f'{owner} init_cfg {dict(entry)!r}: a Pretrained init_cfg '
                f'takes a checkpoint (path, URL or one of the names of '
                f'PRETRAINED_WEIGHTS) and optionally prefix and map_location'
                + (f', not {", ".join(unknown)}' if unknown else ''))
        pretrained.append(entry)
    return pretrained, others


def apply_init_cfg(backbone: BaseModule,
                   resolve: Callable[[str], str] = str) -> None:
    """Applies a backbone's ``init_cfg`` (a dict or a list) after its default
    init: ``Pretrained`` entries load through the format conversion of
    :func:`convnext_dense.checkpoint.load_backbone_weights` (with their
    ``prefix``, if any), after the other entries, which mmengine applies as
    usual; like mmengine, pretrained weights come last.

    Args:
        backbone: A backbone with ``family`` and ``weights_converter``.
        resolve: Maps an entry's ``checkpoint`` to the path or URL to load
            (e.g. a release name to its URL). Defaults to the identity.
    """
    pretrained, others = split_pretrained_init_cfg(
        backbone.init_cfg, owner=backbone.family)
    if not pretrained:
        BaseModule.init_weights(backbone)
        return
    if others:
        initialize(backbone, others)
    # Deferred import: the loader pulls in mmengine's runner.
    from convnext_dense.checkpoint import load_backbone_weights
    for entry in pretrained:
        load_backbone_weights(
            backbone, resolve(entry['checkpoint']),
            map_location=entry.get('map_location', 'cpu'),
            prefix=entry.get('prefix'))
    backbone._is_init = True


#: Output stride of each stage: the stem divides by 4, each downsampling by 2.
STAGE_STRIDES: Tuple[int, ...] = (4, 8, 16, 32)

LAYER_NORM_EPS = 1e-6


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW tensor.

    It normalises in channels-last memory, where each pixel's channels are
    contiguous: for a ``channels_last`` input (what the backbone computes in)
    the permutes around ``F.layer_norm`` are views and nothing is copied.

    Args:
        *args: Those of :class:`torch.nn.LayerNorm` (``normalized_shape``,
            ``eps``, ...).
        contiguous_output (bool): Return contiguous NCHW (one copy), as the
            backbone's output norms do: downstream code may read feature maps
            as contiguous NCHW memory (mmcv's RoIAlign does). False returns the
            ``channels_last`` result as computed, for the norms that feed the
            backbone's own convolutions. Defaults to True.
        **kwargs: Those of :class:`torch.nn.LayerNorm`.
    """

    def __init__(self, *args, contiguous_output: bool = True,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.contiguous_output = contiguous_output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(
            x.permute(0, 2, 3, 1), self.normalized_shape, self.weight,
            self.bias, self.eps).permute(0, 3, 1, 2)
        return x.contiguous() if self.contiguous_output else x


class GRN(nn.Module):
    """Global Response Normalization of ConvNeXt V2, on ``(N, H, W, C)``.

    ``Gx`` is the L2 norm of each sample's channel over all pixels, ``Nx =
    Gx / (mean over channels of Gx + 1e-6)`` and the output ``gamma * (x *
    Nx) + beta + x``. ``gamma`` and ``beta`` have the official release's
    shape ``(1, 1, 1, C)`` and start at zero (the identity).

    Args:
        dim (int): Number of channels.
    """

    eps = 1e-6

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The norm in fp32: under fp16 autocast a sum of squares over a whole
        # feature map overflows.
        global_norm = torch.linalg.vector_norm(
            x, dim=(1, 2), keepdim=True, dtype=torch.float32)
        scale = global_norm / (global_norm.mean(dim=-1, keepdim=True) + self.eps)
        return torch.addcmul(self.beta + x, self.gamma, x * scale.to(x.dtype))


def _is_traced() -> bool:
    """Whether the forward is being traced for an export (TorchScript or
    torch.export): the inference path's chunk loop and in-place writes
    would be recorded for the example input's size only, or not at all."""
    return torch.jit.is_tracing() or torch.compiler.is_compiling()


class ConvNeXtBlock(nn.Module):
    """dwconv 7x7 -> LayerNorm -> Linear 4x -> GELU [-> GRN] -> Linear -> gamma -> drop path.

    It computes in ``channels_last`` memory (an NCHW input is converted once;
    the output is NCHW with ``channels_last`` strides), where the channels of
    each pixel are contiguous: the LayerNorm and the two Linear layers run on
    the depthwise conv's output without a copy, and the residual add needs
    none either. The layer scale ``gamma`` is folded into ``pwconv2``'s
    weight and bias (``gamma * (W h + b) = (gamma W) h + gamma b``), which
    autograd differentiates as usual. Without autograd (inference), large
    inputs go through the LayerNorm and MLP in chunks of pixels, so that the
    4x wider hidden activation stays a cache-sized buffer instead of a
    freshly allocated full-size tensor, and the result is written over the
    depthwise conv's output (not with GRN, whose norm spans all pixels).
    Parameters and outputs are those of the official block (V1's, or with
    ``use_grn`` V2's).

    Args:
        dim (int): Number of channels.
        drop_path_rate (float): Stochastic depth rate of the residual branch.
        layer_scale_init_value (float): Initial value of the per-channel
            layer scale ``gamma``; 0 or less disables it.
        use_grn (bool): Put a :class:`GRN` between the GELU and ``pwconv2``
            (ConvNeXt V2). Defaults to False.
    """

    #: Without autograd, a hidden activation (pixels x 4 dim) of more
    #: elements than this (32 MiB in fp32: larger allocations are fresh
    #: memory maps, paid for page by page) is computed in chunks of rows.
    inference_chunk_threshold = 2**23
    #: Elements of the hidden activation in one such chunk (2 MiB in fp32):
    #: on a 2-core CPU, the blocks of the first stage at 800x1216 took 1.8x
    #: as long unchunked, those of the second 1.5x; smaller hidden
    #: activations are fastest in one piece.
    inference_chunk_elements = 2**19

    def __init__(self, dim: int, drop_path_rate: float,
                 layer_scale_init_value: float,
                 use_grn: bool = False) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.grn = GRN(4 * dim) if use_grn else None
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = (
            nn.Parameter(torch.full((dim, ), float(layer_scale_init_value)))
            if layer_scale_init_value > 0 else None)
        self.drop_path = (
            DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        # (N, H, W, C) views of channels_last memory.
        shortcut = x.permute(0, 2, 3, 1)
        y = self.dwconv(x).permute(0, 2, 3, 1)
        if self.grn is not None or self._needs_autograd(x) or _is_traced():
            hidden = self.act(self.pwconv1(self.norm(y)))
            if self.grn is not None:
                hidden = self.grn(hidden)
            y = F.linear(hidden, *self._scaled_pwconv2())
            y = self.drop_path(y).add_(shortcut)
        else:
            y = self._mlp_in_chunks(y.contiguous(), shortcut)
        return y.permute(0, 3, 1, 2)

    def _scaled_pwconv2(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """``pwconv2``'s weight and bias times ``gamma`` (the folded scale)."""
        weight, bias = self.pwconv2.weight, self.pwconv2.bias
        if self.gamma is None:
            return weight, bias
        return weight * self.gamma[:, None], bias * self.gamma

    def _needs_autograd(self, x: torch.Tensor) -> bool:
        if self.training and not isinstance(self.drop_path, nn.Identity):
            return True
        return torch.is_grad_enabled() and (x.requires_grad or any(
            p.requires_grad for p in self.parameters()))

    def _mlp_in_chunks(self, y: torch.Tensor,
                       shortcut: torch.Tensor) -> torch.Tensor:
        """Inference: the residual branch after the dwconv, written over ``y``.

        Args:
            y: The depthwise conv's output, contiguous ``(N, H, W, C)``.
            shortcut: The block's input as ``(N, H, W, C)``.
        """
        rows, flat = y.view(-1, y.shape[-1]), shortcut.reshape(-1, y.shape[-1])
        weight, bias = (p.to(y.dtype) for p in self._scaled_pwconv2())
        hidden_width = self.pwconv1.out_features
        step = rows.shape[0]
        if step * hidden_width > self.inference_chunk_threshold:
            step = max(1, self.inference_chunk_elements // hidden_width)
        for start in range(0, rows.shape[0], step):
            out = rows[start:start + step]
            hidden = self.pwconv1(self.norm(out))
            torch.ops.aten.gelu_(hidden, approximate=self.act.approximate)
            torch.addmm(bias, hidden.to(y.dtype), weight.t(), out=out)
            out.add_(flat[start:start + step])
        return y


def resolve_arch(arch: Union[str, Mapping[str, Sequence[int]]],
                 presets: Mapping[str, Mapping[str, Tuple[int, ...]]] = (
                     ARCH_SETTINGS),
                 owner: str = 'ConvNeXt'
                 ) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
    """Returns ``(depths, dims)`` of a preset name or a ``{depths, dims}`` dict.

    Args:
        arch: A name in ``presets`` or a dict with keys depths and dims.
        presets: The named archs. Defaults to :data:`ARCH_SETTINGS`.
        owner: The backbone's name, for messages. Defaults to
            ``'ConvNeXt'``.
    """
    if isinstance(arch, str):
        if arch not in presets:
            raise ConfigError(
                f'{owner} arch {arch!r} is unknown: use one of '
                f'{sorted(presets)} or a dict with keys depths and dims')
        arch = presets[arch]
    if not isinstance(arch, Mapping) or set(arch) != {'depths', 'dims'}:
        raise ConfigError(
            f'{owner} arch must be a preset name or a dict with exactly the '
            f'keys depths and dims, got {arch!r}')
    depths, dims = tuple(arch['depths']), tuple(arch['dims'])
    if len(depths) != len(STAGE_STRIDES) or len(dims) != len(STAGE_STRIDES):
        raise ConfigError(
            f'{owner} arch needs {len(STAGE_STRIDES)} depths and '
            f'{len(STAGE_STRIDES)} dims, got depths={depths}, dims={dims}')
    if any(int(v) != v or v <= 0 for v in depths + dims):
        raise ConfigError(f'{owner} depths and dims must be positive '
                          f'integers, got depths={depths}, dims={dims}')
    return depths, dims


def resolve_out_indices(out_indices: Union[int, Sequence[int]],
                        num_stages: int,
                        owner: str = 'ConvNeXt',
                        unit: str = 'stage') -> Tuple[int, ...]:
    """Normalises ``out_indices`` (negative allowed) to sorted indices.

    Args:
        out_indices: One index or a sequence of them.
        num_stages: How many stages (or blocks) there are to pick from.
        owner: The backbone's name, for messages. Defaults to ``'ConvNeXt'``.
        unit: What an index counts, for messages. Defaults to ``'stage'``.
    """
    requested = (out_indices, ) if isinstance(out_indices, int) else tuple(
        out_indices)
    if not requested:
        raise ConfigError(f'{owner} out_indices is empty: name at least one '
                         f'{unit} in 0..{num_stages - 1}')
    resolved = []
    for index in requested:
        if not isinstance(index, int) or not -num_stages <= index < num_stages:
            raise ConfigError(
                f'{owner} out_indices entry {index!r} is out of range: use '
                f'integers in {-num_stages}..{num_stages - 1}')
        resolved.append(index % num_stages)
    if len(set(resolved)) != len(resolved):
        raise ConfigError(
            f'{owner} out_indices {requested} names a {unit} twice')
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
    pretrained_weights: Mapping[str, str] = PRETRAINED_WEIGHTS
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
        owner = self.family
        self.depths, self.dims = resolve_arch(arch, self.arch_settings, owner)
        num_stages = len(self.depths)
        self.out_indices = resolve_out_indices(out_indices, num_stages, owner)
        if not isinstance(frozen_stages, int) or not (
                -1 <= frozen_stages <= num_stages):
            raise ConfigError(
                f'{owner} frozen_stages must be an int in -1..{num_stages}, '
                f'got {frozen_stages!r}')
        if not 0.0 <= drop_path_rate < 1.0:
            raise ConfigError(
                f'{owner} drop_path_rate must be in [0, 1), got '
                f'{drop_path_rate!r}')
        self.frozen_stages = max(frozen_stages, 0)
        self.with_cp = with_cp
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

        rates = torch.linspace(
            0, drop_path_rate, sum(self.depths), device='cpu').tolist()
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

    def init_weights(self) -> None:
        """Truncated-normal init, then ``init_cfg`` (a dict or a list).

        ``Pretrained`` entries load through the format conversion of
        :func:`convnext_dense.checkpoint.load_backbone_weights` (with their
        ``prefix``, if any), after the other entries, which mmengine applies
        as usual; like mmengine, pretrained weights come last.
        """
        self.apply(_init_linear_and_conv)
        apply_init_cfg(
            self, resolve=functools.partial(
                resolve_pretrained_checkpoint,
                weights=self.pretrained_weights))

    @property
    def arch_summary(self) -> str:
        """The architecture in words, for messages."""
        return f'depths {self.depths}, dims {self.dims}'

    def forward_stages(self, x: torch.Tensor,
                       num_stages: Optional[int] = None
                       ) -> Tuple[torch.Tensor, ...]:
        """Returns the stages' outputs before their output norms.

        The backbone computes in ``channels_last`` memory (see
        :class:`ConvNeXtBlock`): the image is converted once, and the stage
        outputs are NCHW tensors with ``channels_last`` strides.

        Args:
            x: Images, ``(N, C, H, W)``.
            num_stages: Run only the first ``num_stages`` stages. Defaults
                to None: all of them.
        """
        x = x.contiguous(memory_format=torch.channels_last)
        stage_outputs = []
        for downsample, stage in list(zip(self.downsample_layers,
                                          self.stages))[:num_stages]:
            x = downsample(x)
            if self.with_cp and self.training and x.requires_grad:
                for block in stage:
                    x = cp.checkpoint(block, x, use_reentrant=False)
            else:
                x = stage(x)
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


def _init_linear_and_conv(module: nn.Module) -> None:
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
