"""Layer-wise lr decay for plain backbones (facts sheet, section 7): the stem
is layer 0, block i is layer i + 1, everything else is layer depth + 1;
checked parameter by parameter for every preset of both families."""
import re

import pytest
import torch
import torch.nn as nn

from convnext_dense.engine import LayerDecayOptimizerConstructor
from convnext_dense.models import (CONVMIXER_ARCH_SETTINGS,
                                   ISOTROPIC_ARCH_SETTINGS, ConvMixer,
                                   ConvNeXtIsotropic, SimpleFeaturePyramid)

BASE_LR, BASE_WD = 1e-4, 0.05
PRESETS = ([(ConvNeXtIsotropic, a, s['depth'], s['dim'])
            for a, s in sorted(ISOTROPIC_ARCH_SETTINGS.items())] +
           [(ConvMixer, a, s['depth'], s['embed_dims'])
            for a, s in sorted(CONVMIXER_ARCH_SETTINGS.items())])


def expected_layer_id(name: str, depth: int) -> int:
    """The rule, written out on the parameter's name."""
    parts = name.split('.')
    if parts[:2] == ['backbone', 'stem']:
        return 0
    if parts[:2] == ['backbone', 'blocks']:
        return int(parts[2]) + 1
    return depth + 1


class Detector(nn.Module):
    """A backbone, the pyramid and a head, named as mmdet/mmseg name them."""

    def __init__(self, backbone: nn.Module, dim: int, stride: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = SimpleFeaturePyramid(in_channels=dim, in_stride=stride)
        self.head = nn.Linear(8, 2)


def param_groups(model: nn.Module, **paramwise_cfg) -> list:
    groups = []
    LayerDecayOptimizerConstructor(
        dict(type='OptimWrapper',
             optimizer=dict(type='AdamW', lr=BASE_LR, weight_decay=BASE_WD)),
        dict(decay_rate=0.75, decay_type='layer_wise',
             **paramwise_cfg)).add_params(groups, model)
    return groups


@pytest.mark.parametrize('cls, arch, depth, dim', PRESETS,
                         ids=[f'{p[0].__name__}-{p[1]}' for p in PRESETS])
def test_every_parameter_follows_the_plain_rule(cls, arch, depth, dim):
    with torch.device('meta'):
        backbone = cls(arch=arch)
        model = Detector(backbone, dim, backbone.patch_size)
    groups = param_groups(model, num_layers=depth)
    group_of = {id(p): g for g in groups for p in g['params']}
    assert len(group_of) == sum(1 for _ in model.parameters())
    seen = set()
    for name, param in model.named_parameters():
        group = group_of[id(param)]
        layer_id = expected_layer_id(name, depth)
        seen.add(layer_id)
        assert group['layer_id'] == layer_id, name
        assert group['lr'] == pytest.approx(
            BASE_LR * 0.75**(depth + 1 - layer_id)), name
        no_decay = param.ndim == 1 or name.endswith('.bias')
        assert group['weight_decay'] == (0.0 if no_decay else BASE_WD), name
    assert seen == set(range(depth + 2))


def test_frozen_parameters_are_left_out_and_the_table_says_plain(log_lines):
    backbone = ConvMixer(arch=dict(embed_dims=8, depth=4, kernel_size=3,
                                   patch_size=7, act='ReLU'), frozen_stages=2)
    model = Detector(backbone, 8, 7)
    groups = param_groups(model, num_layers=4)
    kept = {id(p) for g in groups for p in g['params']}
    assert kept == {id(p) for p in model.parameters() if p.requires_grad}
    # The stem (layer 0) and blocks 0 and 1 (layers 1, 2) are frozen.
    assert {g['layer_id'] for g in groups} == {3, 4, 5}
    table = next(line for line in log_lines if 'lr decay' in line)
    assert table.startswith('layer_wise (plain backbone) lr decay')


@pytest.mark.parametrize('paramwise_cfg, message', [
    (dict(num_layers=12), 'num_layers is 12 but the plain backbone has 18 '
     'blocks: set num_layers=18'),
    (dict(num_layers=18, decay_type='stage_wise'),
     "decay_type 'stage_wise' needs a backbone with stages"),
])
def test_mismatched_paramwise_cfg_fails_in_one_line(paramwise_cfg, message):
    with torch.device('meta'):
        model = Detector(ConvNeXtIsotropic(arch='small'), 384, 16)
    cfg = dict(dict(decay_rate=0.75, decay_type='layer_wise'),
               **paramwise_cfg)
    groups = []
    constructor = LayerDecayOptimizerConstructor(
        dict(optimizer=dict(type='AdamW', lr=BASE_LR)), cfg)
    with pytest.raises(ValueError, match=re.escape(message)):
        constructor.add_params(groups, model)
