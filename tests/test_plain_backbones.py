"""The plain backbones (isotropic ConvNeXt, ConvMixer): parameter counts of
the paper's variants (facts sheet, section 7), structure and arguments."""
import importlib
import re

import pytest
import torch
import torch.nn as nn

from convnext_dense.models import (CONVMIXER_ARCH_SETTINGS,
                                   ISOTROPIC_ARCH_SETTINGS, ConvMixer,
                                   ConvNeXtIsotropic)

# Facts sheet, section 7: parameters without the classifier (no final norm,
# no head) and with the 1000-class head (final norm and Linear for ConvNeXt,
# Linear for ConvMixer).
PAPER_PARAMS = {
    (ConvNeXtIsotropic, 'small'): (21_922_944, 22_308_712),
    (ConvNeXtIsotropic, 'base'): (86_313_216, 87_083_752),
    (ConvNeXtIsotropic, 'large'): (304_878_592, 305_905_640),
    (ConvMixer, '1536/20'): (50_088_960, 51_625_960),
    (ConvMixer, '768/32'): (20_341_248, 21_110_248),
    (ConvMixer, '1024/20'): (23_358_464, 24_383_464),
}
PRESETS = sorted(PAPER_PARAMS, key=lambda k: (k[0].__name__, k[1]))
PRESET_IDS = [f'{cls.__name__}-{arch}' for cls, arch in PRESETS]

# Small archs of both families that run on a CPU in milliseconds.
SMALL = {
    ConvNeXtIsotropic: dict(depth=3, dim=16),
    ConvMixer: dict(embed_dims=16, depth=3, kernel_size=5, patch_size=7,
                    act='GELU'),
}
FAMILIES = list(SMALL)
FAMILY_IDS = [cls.__name__ for cls in FAMILIES]


def build(cls, **kwargs) -> nn.Module:
    torch.manual_seed(0)
    model = cls(**{'arch': SMALL[cls], **kwargs})
    model.init_weights()
    return model


def settings_of(cls, arch) -> tuple:
    """(depth, channels, stride) of a preset, from the presets table."""
    if cls is ConvNeXtIsotropic:
        s = ISOTROPIC_ARCH_SETTINGS[arch]
        return s['depth'], s['dim'], 16
    s = CONVMIXER_ARCH_SETTINGS[arch]
    return s['depth'], s['embed_dims'], s['patch_size']


def projected_loss(outputs) -> torch.Tensor:
    # A random projection: a plain sum of normalised maps can be constant.
    generator = torch.Generator().manual_seed(1)
    return sum((o * torch.randn(o.shape, generator=generator)).sum()
               for o in outputs)


@pytest.mark.parametrize('cls, arch', PRESETS, ids=PRESET_IDS)
def test_parameter_count_matches_the_facts(cls, arch):
    without_head, with_head = PAPER_PARAMS[(cls, arch)]
    with torch.device('meta'):
        model = cls(arch=arch)
    assert sum(p.numel() for p in model.parameters()) == without_head
    _, dim, _ = settings_of(cls, arch)
    head = dim * 1000 + 1000 + (2 * dim if cls is ConvNeXtIsotropic else 0)
    assert without_head + head == with_head


@pytest.mark.parametrize('cls, arch', PRESETS, ids=PRESET_IDS)
def test_presets_output_shapes_and_attributes(cls, arch):
    depth, dim, stride = settings_of(cls, arch)
    with torch.device('meta'):
        model = cls(arch=arch, out_indices=(0, depth // 2, -1))
        outputs = model(torch.empty(2, 3, 224, 160))
    assert model.out_indices == (0, depth // 2, depth - 1)
    assert model.out_channels == (dim, ) * 3
    assert model.out_strides == (stride, ) * 3
    assert [tuple(o.shape) for o in outputs] == [
        (2, dim, 224 // stride, 160 // stride)] * 3


def test_convmixer_presets_keep_the_trained_activation():
    for arch, act in (('1536/20', nn.GELU), ('768/32', nn.ReLU),
                      ('1024/20', nn.GELU)):
        with torch.device('meta'):
            model = ConvMixer(arch=arch)
        kinds = {type(m) for m in model.modules()} & {nn.GELU, nn.ReLU}
        assert kinds == {act}, arch


@pytest.mark.parametrize('cls', FAMILIES, ids=FAMILY_IDS)
def test_outputs_are_finite_contiguous_nchw(cls):
    model = build(cls).eval()
    x = torch.randn(2, 3, 61, 83).to(memory_format=torch.channels_last)
    with torch.no_grad():
        out, = model(x)
        reference, = model(x.contiguous())
    stride = model.out_strides[0]
    assert out.shape == (2, 16, 61 // stride, 83 // stride)
    assert out.is_contiguous() and torch.isfinite(out).all()
    torch.testing.assert_close(out, reference)


@pytest.mark.parametrize('cls', FAMILIES, ids=FAMILY_IDS)
def test_every_parameter_gets_a_gradient(cls):
    kwargs = dict(drop_path_rate=0.2) if cls is ConvNeXtIsotropic else {}
    model = build(cls, **kwargs).train()
    projected_loss(model(torch.randn(2, 3, 64, 64))).backward()
    missing = [n for n, p in model.named_parameters()
               if p.grad is None or not p.grad.abs().sum()]
    assert missing == []


@pytest.mark.parametrize('cls', FAMILIES, ids=FAMILY_IDS)
def test_with_cp_gives_same_outputs_and_gradients(cls):
    plain = build(cls, out_indices=(1, 2)).train()
    checkpointed = build(cls, out_indices=(1, 2), with_cp=True).train()
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 64, 64)
    outs = [m(x) for m in (plain, checkpointed)]
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b)
    for out in outs:
        projected_loss(out).backward()
    for (name, a), b in zip(plain.named_parameters(),
                            checkpointed.parameters()):
        torch.testing.assert_close(a.grad, b.grad, msg=name)


@pytest.mark.parametrize('frozen_stages', [-1, 0, 1, 2, 3])
@pytest.mark.parametrize('cls', FAMILIES, ids=FAMILY_IDS)
def test_frozen_stages_freeze_the_stem_and_leading_blocks(cls, frozen_stages):
    model = build(cls, frozen_stages=frozen_stages).train()
    out, = model(torch.randn(2, 3, 64, 64))
    if out.requires_grad:  # not when every block is frozen
        projected_loss([out]).backward()
    frozen = ([model.stem] + list(model.blocks[:frozen_stages])
              if frozen_stages > 0 else [])
    for module in [model.stem, *model.blocks]:
        is_frozen = any(module is f for f in frozen)
        assert all(m.training is not is_frozen for m in module.modules())
        for param in module.parameters():
            assert param.requires_grad is not is_frozen
            assert (param.grad is None) is is_frozen


def test_frozen_convmixer_keeps_its_batchnorm_statistics():
    model = build(ConvMixer, frozen_stages=1).train()
    stem_bn, block_bn = model.stem[2], model.blocks[1][3]
    before = stem_bn.running_mean.clone(), block_bn.running_mean.clone()
    model(torch.randn(2, 3, 64, 64))
    assert torch.equal(stem_bn.running_mean, before[0])
    assert not torch.equal(block_bn.running_mean, before[1])


def test_norm_eval_freezes_every_batchnorm_statistic():
    model = build(ConvMixer, norm_eval=True).train()
    means = [m.running_mean.clone() for m in model.modules()
             if isinstance(m, nn.BatchNorm2d)]
    model(torch.randn(2, 3, 64, 64))
    after = [m.running_mean for m in model.modules()
             if isinstance(m, nn.BatchNorm2d)]
    assert all(torch.equal(a, b) for a, b in zip(means, after))
    assert model.blocks[0][1].training  # convs still train


def test_drop_path_rates_rise_linearly_and_layer_scale_is_off():
    model = ConvNeXtIsotropic(arch=dict(depth=5, dim=8), drop_path_rate=0.4)
    rates = [0.0 if isinstance(b.drop_path, nn.Identity) else
             b.drop_path.drop_prob for b in model.blocks]
    assert rates == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert all(b.gamma is None for b in model.blocks)
    scaled = ConvNeXtIsotropic(arch=dict(depth=1, dim=8),
                               layer_scale_init_value=1e-6)
    assert torch.equal(scaled.blocks[0].gamma, torch.full((8, ), 1e-6))


def test_out_indices_negative_and_caller_list_untouched():
    requested = [-1, 0]
    model = build(ConvMixer, out_indices=requested)
    assert requested == [-1, 0] and model.out_indices == (0, 2)
    first, last = model(torch.randn(1, 3, 35, 35))
    assert first.shape == last.shape == (1, 16, 5, 5)
    assert not torch.equal(first, last)


@pytest.mark.parametrize('cls', FAMILIES, ids=FAMILY_IDS)
@pytest.mark.parametrize('kwargs, message', [
    (dict(arch='huge'), "arch 'huge' is unknown"),
    (dict(out_indices=(0, 3)), 'out_indices entry 3 is out of range: use '
     'integers in -3..2'),
    (dict(out_indices=(-4, )), 'out_indices entry -4 is out of range'),
    (dict(out_indices=(2, -1)), 'names a block twice'),
    (dict(out_indices=()), 'out_indices is empty: name at least one block'),
    (dict(frozen_stages=4), 'frozen_stages must be an int in -1..3'),
    (dict(init_cfg=dict(type='Pretrained', file='x.pth')),
     'a Pretrained init_cfg takes a checkpoint'),
])
def test_invalid_arguments_fail_in_one_line(cls, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)) as error:
        cls(**{'arch': SMALL[cls], **kwargs})
    assert cls.family in str(error.value)
    assert '\n' not in str(error.value)


@pytest.mark.parametrize('cls, arch, message', [
    (ConvNeXtIsotropic, dict(depth=3), 'exactly the keys depth, dim'),
    (ConvNeXtIsotropic, dict(depth=0, dim=8), 'depth must be a positive'),
    (ConvNeXtIsotropic, dict(depth=2, dim=8.0), 'dim must be a positive'),
    (ConvMixer, dict(embed_dims=8, depth=2, kernel_size=3, patch_size=7),
     'exactly the keys act, depth, embed_dims, kernel_size, patch_size'),
    (ConvMixer, dict(embed_dims=8, depth=2, kernel_size=3, patch_size=7,
                     act='SiLU'), "act 'SiLU' is unknown"),
    (ConvMixer, '768_32', "arch '768_32' is unknown: use one of "
     "['1024/20', '1536/20', '768/32']"),
])
def test_invalid_archs_fail_in_one_line(cls, arch, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        cls(arch=arch)


def test_isotropic_patch_size_sets_the_stem_and_stride():
    model = build(ConvNeXtIsotropic, patch_size=4)
    assert model.stem.kernel_size == model.stem.stride == (4, 4)
    assert model.out_strides == (4, )
    out, = model(torch.randn(1, 3, 30, 41))
    assert out.shape == (1, 16, 7, 10)
    with pytest.raises(ValueError, match=re.escape(
            'isotropic ConvNeXt patch_size must be a positive int, got 0')):
        ConvNeXtIsotropic(arch=SMALL[ConvNeXtIsotropic], patch_size=0)


def test_drop_path_rate_out_of_range():
    with pytest.raises(ValueError, match=re.escape(
            'drop_path_rate must be in [0, 1), got 1.0')):
        ConvNeXtIsotropic(arch=SMALL[ConvNeXtIsotropic], drop_path_rate=1.0)


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
@pytest.mark.parametrize('cls', FAMILIES, ids=FAMILY_IDS)
def test_found_by_configs_of_both_scopes(scope, cls):
    registry = importlib.import_module(f'{scope}.registry').MODELS
    backbone = registry.build(
        dict(type=f'convnext_dense.{cls.__name__}', arch=SMALL[cls]))
    assert isinstance(backbone, cls)
