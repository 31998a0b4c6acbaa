"""ConvNeXt V2: the presets' sizes (facts sheet, section 8), GRN, the options
shared with V1, and pretrained loading of every weight layout, checked
against timm's outputs in tests/data/convnextv2_timm_reference.pt."""
import functools

import pytest
import torch

import test_pretrained_formats

from convnext_dense.checkpoint import (CheckpointFormatError,
                                       convert_v2_to_dense_backbone)
from convnext_dense.checkpoint.convert import densify_sparse_encoder
from convnext_dense.errors import ConfigError
from convnext_dense.models import (ARCH_SETTINGS_V2, PRETRAINED_WEIGHTS_V2,
                                   ConvNeXt, ConvNeXtV2)
from convnext_dense.models.layers import GRN
from fcmae_reference import to_fcmae
from helpers import data_path

TOL = dict(rtol=1e-5, atol=1e-5)

#: Dense-backbone parameters (4 stage norms, no final norm or head), from
#: the facts sheet's section 8 (counted from timm's models).
DENSE_PARAMS = {
    'atto': 3_387_960, 'femto': 4_848_912, 'pico': 8_554_176,
    'nano': 14_983_920, 'tiny': 27_867_840, 'base': 87_694_592,
    'large': 196_422_528, 'huge': 657_477_568,
}
SMALL_ARCH = dict(depths=(1, 1, 2, 1), dims=(8, 16, 24, 32))


@pytest.fixture(scope='module')
def reference() -> dict:
    """timm's small ConvNeXt V2 (depths 1-2-2-1, dims 16-32-64-128)."""
    return torch.load(data_path('convnextv2_timm_reference.pt'),
                      weights_only=True)


def test_presets_are_the_papers_eight():
    assert sorted(ARCH_SETTINGS_V2) == sorted(DENSE_PARAMS)


@pytest.mark.parametrize('arch', sorted(DENSE_PARAMS))
def test_preset_parameter_counts(arch):
    with torch.device('meta'):
        model = ConvNeXtV2(arch=arch)
    assert sum(p.numel() for p in model.parameters()) == DENSE_PARAMS[arch]
    keys = model.state_dict()
    assert not any(k.endswith('.gamma') and '.grn.' not in k for k in keys)
    width = 4 * ARCH_SETTINGS_V2[arch]['dims'][0]
    assert keys['stages.0.0.grn.gamma'].shape == (1, 1, 1, width)
    assert keys['stages.0.0.grn.beta'].shape == (1, 1, 1, width)


def test_grn_follows_the_papers_formula():
    torch.manual_seed(0)
    grn = GRN(6)
    torch.nn.init.normal_(grn.gamma)
    torch.nn.init.normal_(grn.beta)
    x = torch.randn(2, 5, 7, 6)
    # Section 8: Gx = ||X||_2 over (H, W); Nx = Gx / (mean_C Gx + 1e-6).
    gx = x.pow(2).sum(dim=(1, 2), keepdim=True).sqrt()
    nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
    expected = grn.gamma * (x * nx) + grn.beta + x
    torch.testing.assert_close(grn(x), expected, **TOL)


def test_inference_path_equals_the_autograd_path():
    torch.manual_seed(0)
    model = ConvNeXtV2(arch=SMALL_ARCH)
    model.init_weights()
    for block in model.stages[0]:
        torch.nn.init.normal_(block.grn.gamma)
    model.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        fast = model(x)
    slow = model(x)
    for a, b in zip(fast, slow):
        assert a.is_contiguous()
        torch.testing.assert_close(a, b.detach(), **TOL)


def test_options_shared_with_v1():
    torch.manual_seed(0)
    model = ConvNeXtV2(arch=SMALL_ARCH, out_indices=(-3, ), frozen_stages=1,
                       drop_path_rate=0.1, with_cp=True)
    model.init_weights()
    assert model.out_channels == (16, ) and model.out_strides == (8, )
    assert not hasattr(model, 'norm0') and hasattr(model, 'norm1')
    model.train()
    assert not model.stages[0].training and model.stages[1].training
    assert not any(p.requires_grad for p in model.stages[0].parameters())
    calls = []
    model.stages[2].register_forward_hook(lambda *_: calls.append(1))
    outputs = model(torch.randn(1, 3, 32, 32))
    assert [tuple(o.shape) for o in outputs] == [(1, 16, 4, 4)]
    assert not calls  # stopped after the last stage it returns
    outputs[0].sum().backward()
    assert model.stages[1][0].grn.gamma.grad is not None


def test_bad_arch_is_a_config_error_naming_v2():
    with pytest.raises(ConfigError, match=r"ConvNeXt V2 arch 'xlarge' is "
                       r"unknown: use one of \['atto', 'base'"):
        ConvNeXtV2(arch='xlarge')


def test_official_names_map_to_the_release_urls():
    base = 'https://dl.fbaipublicfiles.com/convnext/convnextv2/'
    assert PRETRAINED_WEIGHTS_V2['convnextv2_base_1k_224_fcmae'] == (
        base + 'pt_only/convnextv2_base_1k_224_fcmae.pt')
    assert PRETRAINED_WEIGHTS_V2['convnextv2_atto_1k_224_ema'] == (
        base + 'im1k/convnextv2_atto_1k_224_ema.pt')
    assert PRETRAINED_WEIGHTS_V2['convnextv2_huge_22k_512_ema'] == (
        base + 'im22k/convnextv2_huge_22k_512_ema.pt')
    assert len(PRETRAINED_WEIGHTS_V2) == 8 + 8 + 10


load = functools.partial(test_pretrained_formats.load,
                         backbone_type=ConvNeXtV2)


# (name, how to build the checkpoint from the fixture, logged format)
LAYOUTS = [
    ('official', lambda r: r['official_checkpoint'],
     "official ImageNet checkpoint ({'model': ...})"),
    ('timm', lambda r: r['timm_state_dict'], 'timm ConvNeXt checkpoint'),
    ('mmpretrain', lambda r: r['mmpretrain_checkpoint'],
     'mmpretrain ConvNeXt checkpoint'),
    ('huggingface', lambda r: r['hf_state_dict'],
     "Hugging Face transformers checkpoint, backbone under 'convnextv2.'"),
    ('fcmae', lambda r: to_fcmae(r['official_checkpoint']['model']),
     'official FCMAE pre-training checkpoint (sparse encoder converted to '
     'dense convolutions)'),
]


@pytest.mark.parametrize('name, make, described', LAYOUTS,
                         ids=[layout[0] for layout in LAYOUTS])
def test_every_layout_reproduces_the_reference_stages(
        tmp_path, reference, log_lines, name, make, described):
    model = load(tmp_path, make(reference), reference)
    # A classifier's (or FCMAE's) weights carry no dense output norms.
    test_pretrained_formats.assert_classifier_loaded(
        model, reference, log_lines, described, family='ConvNeXt V2')
    summary = next(line for line in log_lines if 'loaded 76 tensors' in line)
    assert 'unexpected keys: none' in summary


def test_a_trained_model_checkpoint_reloads_with_its_output_norms(
        tmp_path, reference):
    torch.manual_seed(1)
    trained = load(tmp_path, reference['timm_state_dict'], reference)
    for i in range(4):
        torch.nn.init.normal_(getattr(trained, f'norm{i}').weight)
    checkpoint = {'meta': {'mmengine_version': '0.10.7'},
                  'state_dict': {f'backbone.{k}': v
                                 for k, v in trained.state_dict().items()}}
    model = load(tmp_path, checkpoint, reference, name='epoch_1.pth')
    x = reference['input']
    with torch.no_grad():
        for out, expected in zip(model(x), trained(x)):
            torch.testing.assert_close(out, expected, **TOL)


def test_sparse_kernels_convert_as_the_official_fine_tuning_code():
    # utils.remap_checkpoint_keys of the official release, transcribed:
    # (k*k, in, out) -> permute(2, 1, 0).reshape(out, in, k, k).transpose(3,
    # 2); depthwise (k*k, C) -> permute(1, 0).reshape(C, 1, k, k)
    # .transpose(3, 2); 2-D biases -> reshape(-1).
    kernel, depthwise = torch.randn(4, 3, 5), torch.randn(49, 6)
    dense = densify_sparse_encoder({
        'encoder.downsample_layers.1.1.kernel': kernel,
        'encoder.downsample_layers.1.1.bias': torch.arange(5.).view(1, 5),
        'encoder.stages.0.0.dwconv.kernel': depthwise,
        'encoder.stages.0.0.pwconv1.linear.weight': torch.ones(2, 2),
        'encoder.downsample_layers.1.0.ln.bias': torch.ones(3),
    })
    assert torch.equal(
        dense['encoder.downsample_layers.1.1.weight'],
        kernel.permute(2, 1, 0).reshape(5, 3, 2, 2).transpose(3, 2))
    assert torch.equal(
        dense['encoder.stages.0.0.dwconv.weight'],
        depthwise.permute(1, 0).reshape(6, 1, 7, 7).transpose(3, 2))
    assert dense['encoder.downsample_layers.1.1.bias'].shape == (5, )
    assert set(dense) >= {'encoder.stages.0.0.pwconv1.weight',
                          'encoder.downsample_layers.1.0.bias'}


def test_a_non_square_sparse_kernel_is_an_error():
    with pytest.raises(CheckpointFormatError, match=r'dwconv\.kernel has 48 '
                       r'kernel offsets'):
        convert_v2_to_dense_backbone(
            {'encoder.stages.0.0.dwconv.kernel': torch.zeros(48, 4)})


def test_a_v1_checkpoint_is_refused_by_v2_and_a_v2_one_by_v1(
        tmp_path, reference, timm_reference):
    with pytest.raises(CheckpointFormatError, match=(
            r'v1\.pth: this is a ConvNeXt V1 checkpoint \(layer scale .*'
            r"use backbone type 'convnext_dense\.ConvNeXt'")):
        load(tmp_path, timm_reference['timm_state_dict'], reference,
             name='v1.pth')
    path = tmp_path / 'v2.pth'
    torch.save(reference['timm_state_dict'], path)
    model = ConvNeXt(arch=reference['arch'],
                     init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(CheckpointFormatError, match=(
            r"v2\.pth: this is a ConvNeXt V2 checkpoint \(GRN weights .*"
            r"use backbone type 'convnext_dense\.ConvNeXtV2'")):
        model.init_weights()
