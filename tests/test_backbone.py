"""The ConvNeXt dense backbone: structure, behaviour and arguments."""
import importlib
import re

import pytest
import torch

from convnext_dense.models import ARCH_SETTINGS, ConvNeXt

ARCHS = sorted(ARCH_SETTINGS)
SMALL_ARCH = dict(depths=(1, 1, 2, 1), dims=(8, 16, 24, 32))


def build(**kwargs) -> ConvNeXt:
    torch.manual_seed(0)
    model = ConvNeXt(**kwargs)
    model.init_weights()
    return model


@pytest.mark.parametrize('arch', ARCHS)
def test_state_dict_matches_official_backbone(arch, official_keys):
    with torch.device('meta'):
        model = ConvNeXt(arch=arch)
    shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert shapes == official_keys[arch]['state_dict_shapes']
    assert sum(p.numel() for p in model.parameters()
               ) == official_keys[arch]['num_params']


@pytest.mark.parametrize('arch', ARCHS)
def test_output_shapes_and_attributes(arch):
    with torch.device('meta'):
        model = ConvNeXt(arch=arch)
        outputs = model(torch.empty(2, 3, 64, 96))
    dims = ARCH_SETTINGS[arch]['dims']
    assert model.out_channels == dims
    assert model.out_strides == (4, 8, 16, 32)
    assert [tuple(o.shape) for o in outputs] == [
        (2, c, 64 // s, 96 // s) for c, s in zip(dims, model.out_strides)
    ]


def test_outputs_are_finite_contiguous_nchw():
    model = build(arch='tiny').eval()
    with torch.no_grad():
        outputs = model(torch.randn(1, 3, 64, 64))
    for out in outputs:
        assert out.is_contiguous()
        assert torch.isfinite(out).all()


def test_outputs_contiguous_even_for_channels_last_input():
    model = build(arch=SMALL_ARCH).eval()
    x = torch.randn(1, 3, 64, 64).to(memory_format=torch.channels_last)
    with torch.no_grad():
        outputs = model(x)
        reference = model(x.contiguous())
    for out, ref in zip(outputs, reference):
        assert out.is_contiguous()
        torch.testing.assert_close(out, ref)


@pytest.mark.parametrize('arch', ['tiny', SMALL_ARCH])
def test_every_trainable_parameter_gets_a_gradient(arch):
    model = build(arch=arch, drop_path_rate=0.1).train()
    # A plain sum of LayerNorm outputs is constant; project randomly instead.
    sum((o * torch.randn_like(o)).sum()
        for o in model(torch.randn(2, 3, 64, 64))).backward()
    missing = [n for n, p in model.named_parameters()
               if p.requires_grad and (p.grad is None or not p.grad.abs().sum())]
    assert missing == []


def test_with_cp_gives_same_outputs_and_gradients():
    plain = build(arch=SMALL_ARCH).train()
    checkpointed = build(arch=SMALL_ARCH, with_cp=True).train()
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 64, 64)
    outs = [m(x) for m in (plain, checkpointed)]
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b)
    for model, out in zip((plain, checkpointed), outs):
        sum(o.square().sum() for o in out).backward()
    for (name, a), b in zip(plain.named_parameters(),
                            checkpointed.parameters()):
        torch.testing.assert_close(a.grad, b.grad, msg=name)


@pytest.mark.parametrize('frozen_stages', [0, 1, 2, 4])
def test_frozen_stages_freeze_exactly_the_leading_stages(frozen_stages):
    model = build(arch=SMALL_ARCH, frozen_stages=frozen_stages,
                  drop_path_rate=0.2)
    model.train()
    for i in range(4):
        frozen = i < frozen_stages
        for module in (model.downsample_layers[i], model.stages[i]):
            assert all(p.requires_grad is not frozen
                       for p in module.parameters())
            assert all(m.training is not frozen for m in module.modules())
        assert all(p.requires_grad for p in getattr(model, f'norm{i}').parameters())


def test_frozen_stages_get_no_gradient():
    model = build(arch=SMALL_ARCH, frozen_stages=2).train()
    sum((o * torch.randn_like(o)).sum()
        for o in model(torch.randn(1, 3, 64, 64))).backward()
    for name, param in model.named_parameters():
        frozen = name.startswith(('downsample_layers.0', 'downsample_layers.1',
                                  'stages.0', 'stages.1'))
        assert (param.grad is None) is frozen, name


def test_out_indices_negative_and_caller_list_untouched():
    requested = [-1, 1]
    model = ConvNeXt(arch=SMALL_ARCH, out_indices=requested)
    assert requested == [-1, 1]
    assert model.out_indices == (1, 3)
    assert model.out_channels == (16, 32) and model.out_strides == (8, 32)
    assert not hasattr(model, 'norm0') and hasattr(model, 'norm3')
    outputs = model(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outputs] == [16, 32]


def test_drop_path_rates_rise_linearly():
    model = ConvNeXt(arch=SMALL_ARCH, drop_path_rate=0.4)
    rates = [0.0 if isinstance(b.drop_path, torch.nn.Identity) else
             b.drop_path.drop_prob for stage in model.stages for b in stage]
    assert rates == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


def test_layer_scale_init_value():
    model = ConvNeXt(arch=SMALL_ARCH, layer_scale_init_value=1.0)
    assert torch.equal(model.stages[0][0].gamma, torch.ones(8))
    no_scale = ConvNeXt(arch=SMALL_ARCH, layer_scale_init_value=0)
    assert no_scale.stages[0][0].gamma is None


def test_default_init_is_official_truncated_normal():
    # As in the official code: std 0.02, truncated at +-2 (absolute).
    model = build(arch='tiny')
    weight = model.stages[2][0].pwconv1.weight
    assert weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert abs(weight.mean().item()) < 1e-3
    assert not model.stages[2][0].pwconv1.bias.any()


@pytest.mark.parametrize('kwargs, message', [
    (dict(arch='huge'), "arch 'huge' is unknown"),
    (dict(arch=dict(depths=(1, 1, 1))), 'keys depths and dims'),
    (dict(arch=dict(depths=(1, 1, 1), dims=(8, 8, 8))), 'needs 4 depths'),
    (dict(arch=dict(depths=(1, 0, 1, 1), dims=(8, 8, 8, 8))), 'positive'),
    (dict(out_indices=(0, 4)), 'out_indices entry 4 is out of range'),
    (dict(out_indices=(-5, )), 'out_indices entry -5 is out of range'),
    (dict(out_indices=(1, -3)), 'names a stage twice'),
    (dict(out_indices=()), 'out_indices is empty'),
    (dict(frozen_stages=5), 'frozen_stages must be an int in -1..4'),
    (dict(drop_path_rate=1.0), 'drop_path_rate must be in [0, 1)'),
])
def test_invalid_arguments_fail_clearly(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ConvNeXt(**{'arch': SMALL_ARCH, **kwargs})


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
def test_found_by_configs_of_both_scopes(scope):
    registry = importlib.import_module(f'{scope}.registry').MODELS
    backbone = registry.build(
        dict(type='convnext_dense.ConvNeXt', arch=SMALL_ARCH,
             out_indices=(0, 3)))
    assert isinstance(backbone, ConvNeXt)
    assert backbone.out_channels == (8, 32)
