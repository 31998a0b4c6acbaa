"""Layer-wise and stage-wise learning-rate decay for ConvNeXt backbones.

The rule is the official one (also mmdet's and mmseg's): each parameter gets a
layer id from its name, and its lr is ``decay_rate ** (L - layer_id - 1)`` times
the base lr, with ``L = num_layers + 2``. Only parameter names matter, so any
model whose backbone uses the official ConvNeXt names (``backbone.
downsample_layers.*``, ``backbone.stages.*``) works, whatever its classes.

ConvNeXt V2's authors fine-tune with the same formula and one of two rules
(``--layer_decay_type`` of their ``main_finetune.py``): ``'group'`` for the
base and large models, which is V1's ``layer_wise`` rule with 12 layers, and
``'single'`` for the others, here ``block_wise``: every block is a layer of
its own (block b of stage s is layer ``sum(depths[:s]) + b + 1``, the
downsampling layer before stage s has the id of the stage's first block),
everything else is layer ``sum(depths) + 1``, with ``num_layers =
sum(depths)``.

Plain backbones (isotropic ConvNeXt, ConvMixer: ``backbone.stem.*``,
``backbone.blocks.N.*``) are recognised by these names and get the ViT/BEiT
layer-wise rule of mmdet and mmseg instead: the stem is layer 0, block i is
layer i + 1 and everything else is layer ``num_layers + 1``, with
``num_layers`` = the backbone's depth.
"""
import functools
import re
from collections import defaultdict
from typing import (Callable, Dict, Iterable, List, Optional, Pattern,
                    Sequence, Tuple)

import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.optim import DefaultOptimWrapperConstructor

from convnext_dense.errors import ConfigError
from convnext_dense.registry import OPTIM_WRAPPER_CONSTRUCTORS

_DOWNSAMPLE = re.compile(r'(?:^|\.)backbone\.downsample_layers\.(\d+)\.')
_STAGE_BLOCK = re.compile(r'(?:^|\.)backbone\.stages\.(\d+)\.(\d+)\.')
_STAGE = re.compile(r'(?:^|\.)backbone\.stages\.(\d+)\.')
_PLAIN_STEM = re.compile(r'(?:^|\.)backbone\.stem\.')
_PLAIN_BLOCK = re.compile(r'(?:^|\.)backbone\.blocks\.(\d+)\.')


def layer_wise_id(name: str, num_layers: int) -> int:
    """Layer id of a parameter under the official layer-wise rule."""
    match = _DOWNSAMPLE.search(name)
    if match:
        return (0, 2, 3, num_layers)[int(match.group(1))]
    match = _STAGE.search(name)
    if match:
        stage = int(match.group(1))
        if stage == 2:
            return 3 + int(_STAGE_BLOCK.search(name).group(2)) // 3
        return (1, 2, None, num_layers)[stage]
    return num_layers + 1


def _numbered_id(name: str, first: Pattern, numbered: Pattern,
                 num_layers: int) -> int:
    """0 for a ``first`` parameter, i + 1 for one whose name ``numbered``
    matches with number i, ``num_layers + 1`` for any other."""
    if first.search(name):
        return 0
    match = numbered.search(name)
    return int(match.group(1)) + 1 if match else num_layers + 1


def block_wise_id(name: str, num_layers: int, depths: Sequence[int]) -> int:
    """Layer id of a parameter under ConvNeXt V2's ``'single'`` rule.

    Args:
        name: The parameter's name.
        num_layers: ``sum(depths)``.
        depths: The backbone's blocks per stage.
    """
    match = _STAGE_BLOCK.search(name)
    if match:
        stage, block = int(match.group(1)), int(match.group(2))
        return sum(depths[:stage]) + block + 1
    match = _DOWNSAMPLE.search(name)
    if match:
        return sum(depths[:int(match.group(1))]) + 1
    return num_layers + 1


def stage_depths(names: Iterable[str]) -> Tuple[int, ...]:
    """Blocks per stage of a backbone with ``backbone.stages.S.B.*``
    parameters, from their names."""
    depths: Dict[int, int] = {}
    for match in filter(None, map(_STAGE_BLOCK.search, names)):
        stage, block = int(match.group(1)), int(match.group(2))
        depths[stage] = max(depths.get(stage, 0), block + 1)
    return tuple(depths.get(stage, 0) for stage in range(
        max(depths) + 1 if depths else 0))


def stage_wise_id(name: str, num_layers: int) -> int:
    """Layer id of a parameter under the official stage-wise rule."""
    return _numbered_id(name, _DOWNSAMPLE, _STAGE, num_layers)


def plain_layer_wise_id(name: str, num_layers: int) -> int:
    """Layer id of a parameter of a model with a plain backbone: stem 0,
    block i -> i + 1, anything else (necks, heads) -> ``num_layers + 1``."""
    return _numbered_id(name, _PLAIN_STEM, _PLAIN_BLOCK, num_layers)


def plain_backbone_depth(names: Iterable[str]) -> Optional[int]:
    """The number of blocks of a plain backbone (``backbone.stem.*`` and
    ``backbone.blocks.N.*`` parameters), None for any other model."""
    names = list(names)
    blocks = {int(m.group(1)) for m in map(_PLAIN_BLOCK.search, names) if m}
    if not blocks or not any(_PLAIN_STEM.search(n) for n in names):
        return None
    return max(blocks) + 1


DECAY_TYPES: Dict[str, Callable[[str, int], int]] = {
    'layer_wise': layer_wise_id,
    'stage_wise': stage_wise_id,
    'block_wise': block_wise_id,  # needs depths: see _rule_for
}


def takes_no_weight_decay(name: str, param: nn.Parameter) -> bool:
    """1-D parameters (norms, layer scale), biases and, as ConvNeXt V2's
    fine-tuning code has it, GRN's ``gamma`` and ``beta`` (4-D) are not
    weight-decayed."""
    return param.ndim == 1 or name.endswith(('.bias', '.gamma', '.beta'))


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimizerConstructor(DefaultOptimWrapperConstructor):
    """Optimizer-wrapper constructor with per-layer lr decay for ConvNeXt.

    With a plain backbone (isotropic ConvNeXt, ConvMixer) ``'layer_wise'``
    is the plain rule (stem 0, block i -> i + 1, the rest ``num_layers + 1``)
    and ``num_layers`` must be the backbone's depth; ``'stage_wise'`` needs
    stages and is refused.

    Config::

        optim_wrapper = dict(
            type='OptimWrapper',
            constructor='convnext_dense.LayerDecayOptimizerConstructor',
            optimizer=dict(type='AdamW', lr=2e-4, weight_decay=0.05),
            paramwise_cfg=dict(
                decay_rate=0.7, decay_type='layer_wise', num_layers=6))

    Args:
        optim_wrapper_cfg (dict): The optimizer wrapper config.
        paramwise_cfg (dict): ``decay_rate`` (float), ``decay_type``
            (``'layer_wise'``, ``'stage_wise'`` or ``'block_wise'``, default
            ``'layer_wise'``) and ``num_layers`` (int, 6 for depth-9 stage
            2, 12 for depth 27, the number of blocks for ``block_wise``,
            the depth for a plain backbone).
    """

    def __init__(self, optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None) -> None:
        cfg = dict(paramwise_cfg or {})
        unknown = set(cfg) - {'decay_rate', 'decay_type', 'num_layers'}
        if unknown:
            raise ConfigError(
                f'paramwise_cfg keys {sorted(unknown)} are not understood by '
                f'LayerDecayOptimizerConstructor: use decay_rate, decay_type, '
                f'num_layers')
        if not isinstance(cfg.get('num_layers'), int) or cfg['num_layers'] < 1:
            raise ConfigError(
                'paramwise_cfg.num_layers must be a positive int (6 for '
                f'ConvNeXt-T, 12 for S/B/L/XL), got {cfg.get("num_layers")!r}')
        decay_type = cfg.setdefault('decay_type', 'layer_wise')
        if decay_type not in DECAY_TYPES:
            raise ConfigError(
                f'paramwise_cfg.decay_type {decay_type!r} is unknown: use one '
                f'of {sorted(DECAY_TYPES)}')
        if not isinstance(cfg.get('decay_rate'), (int, float)) or not (
                0 < cfg['decay_rate'] <= 1):
            raise ConfigError('paramwise_cfg.decay_rate must be in (0, 1], got '
                             f'{cfg.get("decay_rate")!r}')
        super().__init__(optim_wrapper_cfg, None)
        self.paramwise_cfg = cfg

    def add_params(self, params: List[dict], module: nn.Module,
                   **kwargs) -> None:
        """Adds one parameter group per (layer id, weight decay) to ``params``."""
        num_layers = self.paramwise_cfg['num_layers']
        layer_id_of, rule = self._rule_for(module)
        decay_rate = self.paramwise_cfg['decay_rate']
        total_layers = num_layers + 2
        groups: Dict[Tuple[int, bool], dict] = {}
        counts: Dict[Tuple[int, bool], int] = defaultdict(int)
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            no_decay = takes_no_weight_decay(name, param)
            layer_id = layer_id_of(name, num_layers)
            key = (layer_id, no_decay)
            if key not in groups:
                scale = decay_rate**(total_layers - layer_id - 1)
                groups[key] = dict(
                    params=[],
                    lr=scale * self.base_lr,
                    weight_decay=0.0 if no_decay else self.base_wd,
                    lr_scale=scale,
                    layer_id=layer_id)
            groups[key]['params'].append(param)
            counts[key] += param.numel()
        params.extend(groups[key] for key in sorted(groups))
        MMLogger.get_current_instance().info(
            f'{rule} lr decay (rate {decay_rate}, num_layers {num_layers}):\n'
            + format_groups([groups[k] for k in sorted(groups)],
                            [counts[k] for k in sorted(groups)]))

    def _rule_for(self, module: nn.Module
                  ) -> Tuple[Callable[[str, int], int], str]:
        """The layer-id rule for ``module``'s backbone, and its name."""
        decay_type = self.paramwise_cfg['decay_type']
        names = [n for n, _ in module.named_parameters()]
        depth = plain_backbone_depth(names)
        if depth is None and decay_type == 'block_wise':
            return self._block_wise_rule(stage_depths(names)), decay_type
        if depth is None:
            return DECAY_TYPES[decay_type], decay_type
        if decay_type != 'layer_wise':
            raise ConfigError(
                f'paramwise_cfg.decay_type {decay_type!r} needs a backbone '
                f'with stages; this plain backbone (backbone.stem, '
                f'backbone.blocks) takes layer_wise decay')
        num_layers = self.paramwise_cfg['num_layers']
        if num_layers != depth:
            raise ConfigError(
                f'paramwise_cfg.num_layers is {num_layers} but the plain '
                f'backbone has {depth} blocks: set num_layers={depth} (stem = '
                f'layer 0, block i = layer i + 1)')
        return plain_layer_wise_id, 'layer_wise (plain backbone)'

    def _block_wise_rule(self, depths: Tuple[int, ...]
                         ) -> Callable[[str, int], int]:
        """:func:`block_wise_id` for a backbone of these depths, after
        checking ``num_layers`` against them."""
        num_layers = self.paramwise_cfg['num_layers']
        if not depths or num_layers != sum(depths):
            raise ConfigError(
                f'paramwise_cfg.num_layers is {num_layers} but block_wise '
                f'decay makes each backbone block a layer and the backbone '
                f'has {sum(depths)} blocks (depths {depths}): set '
                f'num_layers={sum(depths)}')
        return functools.partial(block_wise_id, depths=depths)


def format_groups(groups: List[dict], numels: List[int]) -> str:
    """One compact table of the parameter groups."""
    header = ('layer id', 'lr scale', 'lr', 'weight decay', 'tensors', 'params')
    rows = [header] + [(str(g['layer_id']), f'{g["lr_scale"]:.4g}',
                        f'{g["lr"]:.3g}', f'{g["weight_decay"]:g}',
                        str(len(g['params'])), f'{n:,}')
                       for g, n in zip(groups, numels)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return '\n'.join('  '.join(cell.rjust(w) for cell, w in zip(row, widths))
                     for row in rows)
