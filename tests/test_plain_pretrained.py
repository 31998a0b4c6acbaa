"""Pretrained loading of the plain backbones through the real ``Pretrained``
init path, checked against the independent implementations' outputs in
tests/data/convnext_isotropic_reference.pt and convmixer_timm_reference.pt."""
import pytest
import torch

from conftest import data_path
from convnext_dense.checkpoint import (CheckpointFormatError,
                                       convert_convmixer,
                                       convert_isotropic_convnext)
from convnext_dense.models import ConvMixer, ConvNeXtIsotropic

TOL = dict(rtol=1e-5, atol=1e-5)
ISOTROPIC_ARCH = dict(depth=3, dim=32)
CONVMIXER_ARCH = dict(embed_dims=32, depth=3, kernel_size=5, patch_size=4,
                      act='GELU')


@pytest.fixture(scope='module')
def isotropic_reference() -> dict:
    return torch.load(data_path('convnext_isotropic_reference.pt'),
                      weights_only=True)


@pytest.fixture(scope='module')
def convmixer_reference() -> dict:
    return torch.load(data_path('convmixer_timm_reference.pt'),
                      weights_only=True)


def trained_with_toolkit(state: dict) -> dict:
    """A detector checkpoint as mmengine saves it, backbone under 'backbone.'."""
    weights = {f'backbone.{k}': v for k, v in state.items()}
    weights['neck.norms.0.weight'] = torch.ones(4)
    return {'meta': {'mmengine_version': '0.10.7'}, 'state_dict': weights}


def load(tmp_path, cls, arch, checkpoint, name='ckpt.pth', **init):
    path = tmp_path / name
    torch.save(checkpoint, path)
    model = cls(arch=arch, init_cfg=dict(type='Pretrained',
                                         checkpoint=str(path), **init))
    model.init_weights()
    return model.eval()


def official_backbone(reference: dict) -> dict:
    return {k: v for k, v in reference['classification_state_dict']
            ['model'].items() if not k.startswith(('norm.', 'head.'))}


# (id, checkpoint from the reference, init_cfg extras, logged format)
ISOTROPIC_LAYOUTS = [
    ('official ImageNet', lambda r: r['classification_state_dict'], {},
     "official isotropic ConvNeXt checkpoint (weights under 'model')"),
    ('bare', official_backbone, {}, 'official isotropic ConvNeXt checkpoint'),
    ('convnext-dense', lambda r: trained_with_toolkit(official_backbone(r)),
     {}, "mmengine-trained model checkpoint (convnext-dense), backbone under "
     "'backbone.'"),
    ('convnext-dense with prefix',
     lambda r: trained_with_toolkit(official_backbone(r)),
     dict(prefix='backbone'), 'official isotropic ConvNeXt checkpoint'),
]
CONVMIXER_LAYOUTS = [
    ('timm', lambda r: r['timm_state_dict'], {}, 'timm ConvMixer checkpoint'),
    ('timm training checkpoint', lambda r: {'state_dict': r['timm_state_dict'],
                                            'epoch': 150},
     {}, "timm ConvMixer checkpoint (weights under 'state_dict')"),
    ('original', lambda r: r['locuslab_state_dict'], {},
     'original ConvMixer checkpoint (one nn.Sequential)'),
    ('mmpretrain', lambda r: r['mmpretrain_checkpoint'], {},
     'mmpretrain ConvMixer checkpoint'),
    ('convnext-dense', lambda r: trained_with_toolkit(r['timm_state_dict']),
     {}, "mmengine-trained model checkpoint (convnext-dense), backbone under "
     "'backbone.'"),
]


@pytest.mark.parametrize('name, make, init, described', ISOTROPIC_LAYOUTS,
                         ids=[layout[0] for layout in ISOTROPIC_LAYOUTS])
def test_isotropic_convnext_layouts_reproduce_the_reference(
        tmp_path, isotropic_reference, log_lines, name, make, init,
        described):
    model = load(tmp_path, ConvNeXtIsotropic, ISOTROPIC_ARCH,
                 make(isotropic_reference), **init)
    with torch.no_grad():
        features, = model(isotropic_reference['input'])
    torch.testing.assert_close(features, isotropic_reference['features'],
                               **TOL)
    summary = next(line for line in log_lines
                   if 'isotropic ConvNeXt weights from' in line)
    assert described in summary
    # 2 for the stem, 8 per block.
    assert 'loaded 26 tensors; missing keys: none; unexpected keys: none' \
        in summary


@pytest.mark.parametrize('name, make, init, described', CONVMIXER_LAYOUTS,
                         ids=[layout[0] for layout in CONVMIXER_LAYOUTS])
def test_convmixer_layouts_reproduce_the_reference(
        tmp_path, convmixer_reference, log_lines, name, make, init,
        described):
    model = load(tmp_path, ConvMixer, CONVMIXER_ARCH,
                 make(convmixer_reference), **init)
    with torch.no_grad():
        features, = model(convmixer_reference['input'])
    torch.testing.assert_close(features, convmixer_reference['features'],
                               **TOL)
    summary = next(line for line in log_lines
                   if 'ConvMixer weights from' in line)
    assert described in summary
    # 5 tensors per BatchNorm (statistics too), 2 per conv: 2 + 3 + 3 * 14.
    assert 'loaded 49 tensors; missing keys: none; unexpected keys: none' \
        in summary


def test_reference_logits_follow_from_the_features(isotropic_reference,
                                                   convmixer_reference):
    """The fixtures' features are what their classifiers pool: the heads
    left out on loading reproduce the logits from them."""
    state = isotropic_reference['classification_state_dict']['model']
    pooled = isotropic_reference['features'].mean((2, 3))
    pooled = torch.nn.functional.layer_norm(
        pooled, pooled.shape[-1:], state['norm.weight'], state['norm.bias'],
        1e-6)
    torch.testing.assert_close(
        pooled @ state['head.weight'].T + state['head.bias'],
        isotropic_reference['logits'], **TOL)
    timm = convmixer_reference['timm_state_dict']
    torch.testing.assert_close(
        convmixer_reference['features'].mean((2, 3)) @ timm['head.weight'].T
        + timm['head.bias'], convmixer_reference['logits'], **TOL)


def test_classifier_and_neck_keys_are_reported_not_loaded(
        isotropic_reference, convmixer_reference):
    iso = convert_isotropic_convnext(
        isotropic_reference['classification_state_dict'])
    assert set(iso.ignored_keys) == {'norm.weight', 'norm.bias',
                                     'head.weight', 'head.bias'}
    original = convert_convmixer(convmixer_reference['locuslab_state_dict'])
    # The Linear sits at index 3 + depth + 2 of the original nn.Sequential.
    assert set(original.ignored_keys) == {'8.weight', '8.bias'}
    assert set(original.state_dict) == set(
        convmixer_reference['timm_state_dict']) - {'head.weight', 'head.bias'}
    mmpretrain = convert_convmixer(convmixer_reference['mmpretrain_checkpoint'])
    assert set(mmpretrain.ignored_keys) == {'head.fc.weight', 'head.fc.bias'}


@pytest.mark.parametrize('cls, arch, make, message', [
    (ConvNeXtIsotropic, ISOTROPIC_ARCH, lambda i, c: c['timm_state_dict'],
     r'ckpt\.pth: not an isotropic ConvNeXt checkpoint \(official isotropic '
     r'ConvNeXt checkpoint\): found 51 keys'),
    (ConvMixer, CONVMIXER_ARCH, lambda i, c: i['classification_state_dict'],
     r'ckpt\.pth: not a ConvMixer checkpoint \(timm ConvMixer checkpoint, '
     r'mmpretrain ConvMixer checkpoint, original ConvMixer checkpoint'),
    (ConvMixer, CONVMIXER_ARCH,
     lambda i, c: {'state_dict': {'backbone.conv1.weight': torch.zeros(1)}},
     r"ckpt\.pth: not a ConvMixer checkpoint .*found 1 keys, e\.g\. "
     r"'backbone\.conv1\.weight'"),
])
def test_checkpoint_of_another_family_is_a_one_line_error(
        tmp_path, isotropic_reference, convmixer_reference, cls, arch, make,
        message):
    with pytest.raises(CheckpointFormatError, match=message) as error:
        load(tmp_path, cls, arch, make(isotropic_reference,
                                       convmixer_reference))
    assert '\n' not in str(error.value)


@pytest.mark.parametrize('cls, arch, reference, key, message', [
    (ConvNeXtIsotropic, dict(depth=3, dim=48), 'iso', 'classification_'
     'state_dict', r'stem\.weight has shape \(32, 3, 16, 16\) but this '
     r'isotropic ConvNeXt \(depth 3, dim 48, patch 16\) expects '
     r'\(48, 3, 16, 16\); set the arch'),
    (ConvMixer, dict(CONVMIXER_ARCH, kernel_size=7), 'mixer',
     'timm_state_dict', r'blocks\.0\.0\.fn\.0\.weight has shape '
     r'\(32, 1, 5, 5\) but this ConvMixer \(depth 3, dim 32, patch 4, '
     r'kernel 7, GELU\) expects \(32, 1, 7, 7\)'),
])
def test_checkpoint_of_another_arch_is_a_one_line_error(
        tmp_path, isotropic_reference, convmixer_reference, cls, arch,
        reference, key, message):
    source = isotropic_reference if reference == 'iso' else convmixer_reference
    with pytest.raises(CheckpointFormatError, match=message) as error:
        load(tmp_path, cls, arch, source[key], name='other.pth')
    assert str(error.value).startswith(str(tmp_path / 'other.pth'))
    assert '\n' not in str(error.value)


def test_isotropic_checkpoint_does_not_load_into_hierarchical_convnext(
        tmp_path, isotropic_reference):
    from convnext_dense.models import ConvNeXt
    path = tmp_path / 'iso.pth'
    torch.save(isotropic_reference['classification_state_dict'], path)
    model = ConvNeXt(arch=dict(depths=(1, 1, 1, 1), dims=(8, 8, 8, 8)),
                     init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(CheckpointFormatError,
                       match=r'iso\.pth: not a ConvNeXt checkpoint'):
        model.init_weights()


def test_converters_are_pure(convmixer_reference):
    checkpoint = convmixer_reference['mmpretrain_checkpoint']
    keys = list(checkpoint['state_dict'])
    first = convert_convmixer(checkpoint)
    assert list(checkpoint['state_dict']) == keys
    again = convert_convmixer(checkpoint)
    assert first.state_dict.keys() == again.state_dict.keys()
    assert all(first.state_dict[k] is again.state_dict[k]
               for k in first.state_dict)


def test_non_dict_checkpoint_is_refused():
    with pytest.raises(CheckpointFormatError,
                       match='expected a dict of tensors, got list'):
        convert_convmixer([torch.zeros(1)])
