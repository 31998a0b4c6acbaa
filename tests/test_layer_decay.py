"""The layer-wise / stage-wise lr decay constructor against the official rule
(facts sheet, section 3), for every arch and both decay types."""
import re

import pytest
import torch
import torch.nn as nn
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS

from convnext_dense.engine import LayerDecayOptimizerConstructor
from convnext_dense.errors import ConfigError
from convnext_dense.models import (ARCH_SETTINGS, ARCH_SETTINGS_V2, ConvNeXt,
                                   ConvNeXtV2)

BASE_LR, BASE_WD = 2e-4, 0.05


def expected_layer_id(name: str, decay_type: str, num_layers: int) -> int:
    """The facts sheet's rule, written out case by case."""
    parts = name.split('.')
    if parts[:2] == ['backbone', 'downsample_layers']:
        if decay_type == 'stage_wise':
            return 0
        return {'0': 0, '1': 2, '2': 3, '3': num_layers}[parts[2]]
    if parts[:2] == ['backbone', 'stages']:
        stage, block = int(parts[2]), int(parts[3])
        if decay_type == 'stage_wise':
            return stage + 1
        return [1, 2, 3 + block // 3, num_layers][stage]
    return num_layers + 1


class Detector(nn.Module):
    """Any model whose backbone uses the official ConvNeXt names."""

    def __init__(self, arch):
        super().__init__()
        self.backbone = ConvNeXt(arch=arch)
        self.neck = nn.Conv2d(8, 8, 1)
        self.head = nn.Linear(8, 2)


@pytest.mark.parametrize('decay_type', ['layer_wise', 'stage_wise'])
@pytest.mark.parametrize('arch', sorted(ARCH_SETTINGS))
def test_every_parameter_follows_the_rule(arch, decay_type):
    num_layers = 6 if arch == 'tiny' else 12
    decay_rate = 0.7
    with torch.device('meta'):
        model = Detector(arch)
    constructor = LayerDecayOptimizerConstructor(
        dict(type='OptimWrapper',
             optimizer=dict(type='AdamW', lr=BASE_LR, weight_decay=BASE_WD)),
        dict(decay_rate=decay_rate, decay_type=decay_type,
             num_layers=num_layers))
    groups = []
    constructor.add_params(groups, model)
    group_of = {id(p): g for g in groups for p in g['params']}
    assert len(group_of) == sum(1 for _ in model.parameters())
    for name, param in model.named_parameters():
        group = group_of[id(param)]
        layer_id = expected_layer_id(name, decay_type, num_layers)
        assert group['lr'] == pytest.approx(
            BASE_LR * decay_rate**(num_layers + 2 - layer_id - 1)), name
        no_decay = param.ndim == 1 or name.endswith('.bias')
        assert group['weight_decay'] == (0.0 if no_decay else BASE_WD), name


def test_frozen_parameters_are_left_out():
    model = Detector(dict(depths=(1, 1, 3, 1), dims=(8, 8, 8, 8)))
    model.backbone.stages[0].requires_grad_(False)
    groups = []
    LayerDecayOptimizerConstructor(
        dict(optimizer=dict(type='AdamW', lr=BASE_LR, weight_decay=BASE_WD)),
        dict(decay_rate=0.9, num_layers=6)).add_params(groups, model)
    kept = {id(p) for g in groups for p in g['params']}
    assert kept == {id(p) for p in model.parameters() if p.requires_grad}


def test_builds_an_optimizer_from_a_config_and_logs_one_table(log_lines):
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type='convnext_dense.LayerDecayOptimizerConstructor',
        optim_wrapper_cfg=dict(
            type='OptimWrapper',
            optimizer=dict(type='AdamW', lr=BASE_LR, weight_decay=BASE_WD)),
        paramwise_cfg=dict(decay_rate=0.9, decay_type='stage_wise',
                           num_layers=6)))
    wrapper = constructor(Detector(dict(depths=(1, 1, 3, 1),
                                        dims=(8, 8, 8, 8))))
    lrs = sorted({g['lr'] for g in wrapper.optimizer.param_groups})
    assert lrs == pytest.approx([BASE_LR * 0.9**k for k in range(8) if k in (
        0, 3, 4, 5, 6, 7)][::-1])
    tables = [line for line in log_lines if 'lr decay' in line]
    assert len(tables) == 1
    assert re.search(r'layer id\s+lr scale\s+lr\s+weight decay', tables[0])
    # one row per (layer id, decay/no decay) group, not one per parameter
    assert len(tables[0].splitlines()) == 2 + len(wrapper.optimizer.param_groups)


@pytest.mark.parametrize('paramwise_cfg, message', [
    (dict(decay_rate=0.9, decay_type='group_wise', num_layers=6),
     "decay_type 'group_wise' is unknown"),
    (dict(decay_rate=0.9), 'num_layers must be a positive int'),
    (dict(decay_rate=1.5, num_layers=6), 'decay_rate must be in (0, 1]'),
    (dict(decay_rate=0.9, num_layers=6, decay_mult=2), "['decay_mult']"),
])
def test_bad_paramwise_cfg_fails_clearly(paramwise_cfg, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        LayerDecayOptimizerConstructor(
            dict(optimizer=dict(type='AdamW', lr=BASE_LR)), paramwise_cfg)


def official_v2_single_layer_id(name: str, depths) -> int:
    """ConvNeXt V2's 'single' rule (``get_num_layer_for_convnext_single`` of
    its ``optim_factory.py``), on names under ``backbone.``."""
    parts = name.split('.')
    if parts[:2] == ['backbone', 'downsample_layers']:
        return sum(depths[:int(parts[2])]) + 1
    if parts[:2] == ['backbone', 'stages']:
        return sum(depths[:int(parts[2])]) + int(parts[3]) + 1
    return sum(depths) + 1


class DetectorV2(Detector):
    """A model with a ConvNeXt V2 backbone."""

    def __init__(self, arch):
        super().__init__(dict(depths=(1, 1, 1, 1), dims=(8, 8, 8, 8)))
        self.backbone = ConvNeXtV2(arch=arch)


@pytest.mark.parametrize('arch', ['atto', 'nano', 'tiny'])
def test_v2_block_wise_is_the_official_single_rule(arch):
    depths = ARCH_SETTINGS_V2[arch]['depths']
    num_layers, decay_rate = sum(depths), 0.9
    with torch.device('meta'):
        model = DetectorV2(arch)
    groups = []
    LayerDecayOptimizerConstructor(
        dict(optimizer=dict(type='AdamW', lr=BASE_LR, weight_decay=BASE_WD)),
        dict(decay_rate=decay_rate, decay_type='block_wise',
             num_layers=num_layers)).add_params(groups, model)
    group_of = {id(p): g for g in groups for p in g['params']}
    for name, param in model.named_parameters():
        group = group_of[id(param)]
        # Official: scale = decay ** (num_layers + 1 - layer_id).
        layer_id = official_v2_single_layer_id(name, depths)
        assert group['lr'] == pytest.approx(
            BASE_LR * decay_rate**(num_layers + 1 - layer_id)), name
        # Official: no weight decay for 1-D, biases, and .gamma/.beta (GRN).
        no_decay = (param.ndim == 1 or name.endswith('.bias')
                    or name.endswith(('.gamma', '.beta')))
        assert group['weight_decay'] == (0.0 if no_decay else BASE_WD), name
    grn = model.backbone.stages[0][0].grn.gamma
    assert grn.ndim == 4 and group_of[id(grn)]['weight_decay'] == 0.0


def test_v2_group_rule_is_v1_layer_wise():
    # The official 'group' rule (base, large) is get_num_layer_for_convnext,
    # V1's layer-wise rule with 12 layers.
    with torch.device('meta'):
        model = DetectorV2('base')
    groups = []
    LayerDecayOptimizerConstructor(
        dict(optimizer=dict(type='AdamW', lr=BASE_LR, weight_decay=BASE_WD)),
        dict(decay_rate=0.8, num_layers=12)).add_params(groups, model)
    group_of = {id(p): g for g in groups for p in g['params']}
    for name, param in model.named_parameters():
        layer_id = expected_layer_id(name, 'layer_wise', 12)
        assert group_of[id(param)]['layer_id'] == layer_id, name


def test_block_wise_num_layers_must_be_the_block_count():
    with torch.device('meta'):
        model = DetectorV2('atto')
    constructor = LayerDecayOptimizerConstructor(
        dict(optimizer=dict(type='AdamW', lr=BASE_LR, weight_decay=BASE_WD)),
        dict(decay_rate=0.9, decay_type='block_wise', num_layers=6))
    with pytest.raises(ConfigError, match=r'num_layers is 6 but .* the '
                       r'backbone has 12 blocks .* set num_layers=12'):
        constructor.add_params([], model)


@pytest.mark.parametrize('backbone, name, rule, num_layers, layer_id', [
    (ConvNeXt, 'downsample_layers.0.0.weight', 'layer_wise', 12, 0),
    (ConvNeXt, 'stages.2.26.pwconv1.weight', 'layer_wise', 12, 11),
    (ConvNeXt, 'downsample_layers.3.1.bias', 'layer_wise', 12, 12),
    (ConvNeXt, 'norm3.weight', 'layer_wise', 12, 13),
    (ConvNeXt, 'downsample_layers.2.0.weight', 'stage_wise', 12, 0),
    (ConvNeXt, 'stages.3.0.gamma', 'stage_wise', 12, 4),
    (ConvNeXtV2, 'downsample_layers.2.1.weight', 'block_wise', 36, 7),
    (ConvNeXtV2, 'stages.3.2.grn.beta', 'block_wise', 36, 36),
    (ConvNeXtV2, 'norm0.weight', 'block_wise', 36, 37),
])
def test_the_backbone_says_which_layer_a_parameter_is(
        backbone, name, rule, num_layers, layer_id):
    with torch.device('meta'):
        model = backbone(arch='base')
    assert model.lr_decay_layer_id(name, rule, num_layers) == layer_id


def test_v1_refuses_block_wise_naming_what_it_takes():
    with torch.device('meta'):
        model = Detector('tiny')
    constructor = LayerDecayOptimizerConstructor(
        dict(optimizer=dict(type='AdamW', lr=BASE_LR)),
        dict(decay_rate=0.9, decay_type='block_wise', num_layers=18))
    with pytest.raises(ConfigError) as error:
        constructor.add_params([], model)
    assert str(error.value) == (
        "paramwise_cfg.decay_type 'block_wise' is not a lr-decay rule of "
        'ConvNeXt: use one of layer_wise, stage_wise')


class Wrapped(nn.Module):
    """A model in a ``module`` attribute, as DDP-style wrappers hold it."""

    def __init__(self, model):
        super().__init__()
        self.module = model


@pytest.mark.parametrize('wrap', [nn.DataParallel, Wrapped],
                         ids=['DataParallel', 'module-attribute'])
def test_a_wrapped_model_gets_the_groups_of_the_bare_one(wrap):
    model = Detector(dict(depths=(1, 1, 3, 1), dims=(8, 8, 8, 8)))
    constructor = LayerDecayOptimizerConstructor(
        dict(optimizer=dict(type='AdamW', lr=BASE_LR, weight_decay=BASE_WD)),
        dict(decay_rate=0.9, num_layers=4))
    bare, wrapped = [], []
    constructor.add_params(bare, model)
    if wrap is Wrapped:
        # mmengine's constructors unwrap ``module`` themselves before
        # add_params; only registered model wrappers reach it wrapped.
        wrapped = constructor(wrap(model)).optimizer.param_groups
    else:
        constructor.add_params(wrapped, wrap(model))
    assert [(g['layer_id'], g['lr'], g['weight_decay'],
             [id(p) for p in g['params']]) for g in wrapped] == [
                 (g['layer_id'], g['lr'], g['weight_decay'],
                  [id(p) for p in g['params']]) for g in bare]


def test_only_the_backbone_decides_not_parameter_names():
    # A second ConvNeXt inside the neck has the backbone's parameter names
    # under ``neck.backbone.``; it is not the model's backbone, so its
    # parameters are layer num_layers + 1 like the rest of the neck.
    model = Detector(dict(depths=(1, 1, 3, 1), dims=(8, 8, 8, 8)))
    model.neck = nn.Module()
    model.neck.backbone = ConvNeXt(dict(depths=(1, 1, 3, 1),
                                        dims=(8, 8, 8, 8)))
    groups = []
    LayerDecayOptimizerConstructor(
        dict(optimizer=dict(type='AdamW', lr=BASE_LR, weight_decay=BASE_WD)),
        dict(decay_rate=0.9, num_layers=4)).add_params(groups, model)
    layer_of = {id(p): g['layer_id'] for g in groups for p in g['params']}
    assert {layer_of[id(p)] for p in model.neck.parameters()} == {5}
    assert {layer_of[id(p)] for p in model.backbone.parameters()} == set(
        range(6))


class NoBackbone(nn.Module):

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(8, 2)


class OtherBackbone(NoBackbone):

    def __init__(self):
        super().__init__()
        self.backbone = nn.Conv2d(3, 8, 3)


@pytest.mark.parametrize('model, message', [
    (NoBackbone(), 'NoBackbone has no backbone'),
    (OtherBackbone(), 'the backbone Conv2d does not'),
])
def test_a_backbone_that_cannot_say_fails_in_one_line(model, message):
    constructor = LayerDecayOptimizerConstructor(
        dict(optimizer=dict(type='AdamW', lr=BASE_LR)),
        dict(decay_rate=0.9, num_layers=6))
    with pytest.raises(ConfigError, match=message) as error:
        constructor.add_params([], model)
    assert '\n' not in str(error.value)
