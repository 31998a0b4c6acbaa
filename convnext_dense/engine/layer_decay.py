"""Layer-wise, stage-wise and block-wise learning-rate decay.

Each parameter gets a layer id, and its lr is ``decay_rate ** (L - layer_id
- 1)`` times the base lr, with ``L = num_layers + 2`` (the official ConvNeXt
formula, also mmdet's and mmseg's). The model's backbone says which layer
each of its parameters is in, under the rule ``paramwise_cfg.decay_type``
names; every other parameter (necks, heads) is layer ``num_layers + 1``.

A backbone takes part by having

- ``lr_decay_rules``: a mapping from the rules it answers (``'layer_wise'``,
  ...) to the name the log gives each;
- ``lr_decay_layer_id(param_name, rule, num_layers) -> int``: the layer id of
  one of its parameters, named relative to the backbone, under ``rule`` with
  ``paramwise_cfg.num_layers``; it raises ``ConfigError`` for a rule it does
  not answer, or a ``num_layers`` its rule cannot have.

:class:`convnext_dense.models.ConvNeXt` answers the official ``layer_wise``
and ``stage_wise`` rules, :class:`convnext_dense.models.ConvNeXtV2` also
``block_wise`` (the V2 authors' ``'single'`` rule), and the plain backbones
(:class:`convnext_dense.models.PlainBackbone`: isotropic ConvNeXt, ConvMixer)
the ViT/BEiT ``layer_wise`` rule of mmdet and mmseg. The parameters' names
do not decide which rule applies: renaming a module of the model cannot
silently change a learning rate.
"""
from collections import defaultdict
from typing import Dict, List, Optional, Tuple

import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.model import is_model_wrapper
from mmengine.optim import DefaultOptimWrapperConstructor

from convnext_dense.errors import ConfigError
from convnext_dense.registry import OPTIM_WRAPPER_CONSTRUCTORS

#: The rules ``paramwise_cfg.decay_type`` may name; each backbone answers
#: some of them (its ``lr_decay_rules``).
DECAY_TYPES: Tuple[str, ...] = ('layer_wise', 'stage_wise', 'block_wise')


def decay_backbone(model: nn.Module) -> nn.Module:
    """The backbone of ``model``, which says which lr-decay layer each of
    its parameters is in.

    Args:
        model: The model, or a registered model wrapper (DDP, mmengine's
            wrappers) around it.

    Returns:
        nn.Module: ``model.backbone``.

    Raises:
        ConfigError: If the model has no backbone, or its backbone cannot
            say (has no ``lr_decay_layer_id``).
    """
    if is_model_wrapper(model):
        model = model.module
    backbone = getattr(model, 'backbone', None)
    if not isinstance(backbone, nn.Module):
        raise ConfigError(
            f'LayerDecayOptimizerConstructor decays the lr layer by layer of '
            f'a model\'s backbone and {type(model).__name__} has no backbone: '
            f'use another optim_wrapper constructor')
    if not callable(getattr(backbone, 'lr_decay_layer_id', None)):
        raise ConfigError(
            f'LayerDecayOptimizerConstructor needs a backbone that says which '
            f'layer each parameter is in (lr_decay_layer_id) and the backbone '
            f'{type(backbone).__name__} does not: use ConvNeXt, ConvNeXtV2, '
            f'ConvNeXtIsotropic or ConvMixer, or another optim_wrapper '
            f'constructor')
    return backbone


def takes_no_weight_decay(name: str, param: nn.Parameter) -> bool:
    """1-D parameters (norms, layer scale), biases and, as ConvNeXt V2's
    fine-tuning code has it, GRN's ``gamma`` and ``beta`` (4-D) are not
    weight-decayed."""
    return param.ndim == 1 or name.endswith(('.bias', '.gamma', '.beta'))


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimizerConstructor(DefaultOptimWrapperConstructor):
    """Optimizer-wrapper constructor with per-layer lr decay.

    The model's backbone gives the layer id of each of its parameters (see
    the module's docstring); everything else is layer ``num_layers + 1``.
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
        """Adds one parameter group per (layer id, weight decay) to ``params``.

        Args:
            params: The parameter groups so far; extended in place, as
                mmengine's constructors do.
            module: The model, or a model wrapper around it.
            **kwargs: Unused; mmengine's signature.
        """
        num_layers = self.paramwise_cfg['num_layers']
        decay_type = self.paramwise_cfg['decay_type']
        decay_rate = self.paramwise_cfg['decay_rate']
        backbone = decay_backbone(module)
        backbone_layer_ids = {
            id(param): backbone.lr_decay_layer_id(name, decay_type, num_layers)
            for name, param in backbone.named_parameters()}
        total_layers = num_layers + 2
        groups: Dict[Tuple[int, bool], dict] = {}
        counts: Dict[Tuple[int, bool], int] = defaultdict(int)
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            no_decay = takes_no_weight_decay(name, param)
            layer_id = backbone_layer_ids.get(id(param), num_layers + 1)
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
            f'{backbone.lr_decay_rules[decay_type]} lr decay (rate '
            f'{decay_rate}, num_layers {num_layers}):\n'
            + format_groups([groups[k] for k in sorted(groups)],
                            [counts[k] for k in sorted(groups)]))


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
