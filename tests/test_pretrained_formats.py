"""Pretrained loading of every common ConvNeXt weight format, checked against
timm's outputs in tests/data/convnext_timm_reference.pt."""
import copy
import re

import pytest
import torch

from convnext_dense.checkpoint import (CheckpointFormatError,
                                       convert_to_dense_backbone)
from convnext_dense.models import ConvNeXt

TOL = dict(rtol=1e-5, atol=1e-5)

# Official -> mmpretrain names, from the facts sheet's table (section 2).
MMPRETRAIN_NAMES = (('.dwconv.', '.depthwise_conv.'),
                    ('.pwconv1.', '.pointwise_conv1.'),
                    ('.pwconv2.', '.pointwise_conv2.'))


def to_mmpretrain(official: dict, classifier: bool) -> dict:
    state = {}
    for key, value in official.items():
        if classifier and re.match(r'norm[012]\.', key):
            continue
        for old, new in MMPRETRAIN_NAMES:
            key = key.replace(old, new)
        state[f'backbone.{key}'] = value
    if classifier:
        state['head.fc.weight'] = torch.zeros(10, value.shape[0])
        state['head.fc.bias'] = torch.zeros(10)
    return {'meta': {'mmpretrain_version': '1.2.0'}, 'state_dict': state}


def with_prefix(official: dict, meta: dict) -> dict:
    state = {f'backbone.{k}': v for k, v in official.items()}
    state['neck.lateral_convs.0.conv.weight'] = torch.zeros(4, 16, 1, 1)
    return {'meta': meta, 'state_dict': state}


def load(tmp_path, checkpoint, reference, name='ckpt.pth',
         backbone_type: type = ConvNeXt) -> ConvNeXt:
    """A ``backbone_type`` of the reference's arch, initialised from
    ``checkpoint`` saved as ``name`` through the Pretrained init_cfg."""
    path = tmp_path / name
    torch.save(checkpoint, path)
    arch = reference.get('arch') or dict(depths=reference['depths'],
                                         dims=reference['dims'])
    model = backbone_type(
        arch=arch, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    return model.eval()


# (name, how to build the checkpoint, carries dense norms, logged format)
DENSE_FORMATS = [
    ('bare dense backbone', lambda r: dict(r['official_state_dict']),
     'bare ConvNeXt dense-backbone state dict'),
    ('official fine-tuned', lambda r: with_prefix(
        r['official_state_dict'], {'mmdet_version': '2.11.0'}),
     'official COCO/ADE20K fine-tuned checkpoint'),
    ('convnext-dense', lambda r: with_prefix(
        r['official_state_dict'], {'mmengine_version': '0.10.7'}),
     'mmengine-trained model checkpoint'),
    ('mmpretrain dense', lambda r: to_mmpretrain(
        r['official_state_dict'], classifier=False),
     'mmpretrain ConvNeXt checkpoint'),
]

CLASSIFIER_FORMATS = [
    ('timm', lambda r: r['timm_state_dict'], 'timm ConvNeXt checkpoint'),
    ('official ImageNet', lambda r: r['classification_state_dict'],
     "official ImageNet checkpoint ({'model': ...})"),
    ('mmpretrain classifier', lambda r: to_mmpretrain(
        r['official_state_dict'], classifier=True),
     'mmpretrain ConvNeXt checkpoint'),
]


@pytest.mark.parametrize('name, make, described', DENSE_FORMATS,
                         ids=[f[0] for f in DENSE_FORMATS])
def test_dense_checkpoints_reproduce_reference_outputs(
        tmp_path, timm_reference, log_lines, name, make, described):
    model = load(tmp_path, make(timm_reference), timm_reference)
    with torch.no_grad():
        outputs = model(timm_reference['input'])
    for out, expected in zip(outputs, timm_reference['outputs']):
        torch.testing.assert_close(out, expected, **TOL)
    summary = next(line for line in log_lines if 'ConvNeXt weights' in line)
    assert described in summary
    assert 'missing keys: none' in summary


@pytest.mark.parametrize('name, make, described', CLASSIFIER_FORMATS,
                         ids=[f[0] for f in CLASSIFIER_FORMATS])
def test_classification_checkpoints_reproduce_reference_stages(
        tmp_path, timm_reference, log_lines, name, make, described):
    model = load(tmp_path, make(timm_reference), timm_reference)
    assert_classifier_loaded(model, timm_reference, log_lines, described,
                             family='ConvNeXt')


def assert_classifier_loaded(model, reference: dict, log_lines: list,
                             described: str, family: str) -> None:
    """``model`` reproduces the reference's stage outputs, its output norms
    start fresh, and the load report names ``described``."""
    with torch.no_grad():
        stages = model.forward_stages(reference['input'])
    for out, expected in zip(stages, reference['stage_outputs']):
        torch.testing.assert_close(out, expected, **TOL)
    # A classifier's final norm is not a dense output norm: all start fresh.
    for i in range(4):
        norm = getattr(model, f'norm{i}')
        assert torch.equal(norm.weight, torch.ones_like(norm.weight))
        assert not norm.bias.any()
    summary = next(line for line in log_lines
                   if line.startswith(f'{family} weights from'))
    assert described in summary
    assert 'missing keys: 8 (norm0.weight' in summary


def test_timm_one_by_one_conv_mlp_weights_are_converted(timm_reference):
    state = dict(timm_reference['timm_state_dict'])
    key = 'stages.0.blocks.0.mlp.fc1.weight'
    state[key] = state[key][:, :, None, None]
    converted = convert_to_dense_backbone(state).state_dict
    assert torch.equal(converted['stages.0.0.pwconv1.weight'],
                       timm_reference['timm_state_dict'][key])


def test_non_backbone_keys_are_reported_not_loaded(timm_reference):
    converted = convert_to_dense_backbone(
        timm_reference['classification_state_dict'])
    assert set(converted.ignored_keys) == {
        'norm.weight', 'norm.bias', 'head.weight', 'head.bias'}
    assert not any(k.startswith(('norm.', 'head.'))
                   for k in converted.state_dict)


def test_checkpoint_matching_nothing_is_an_error(tmp_path, timm_reference):
    resnet_like = {'state_dict': {'backbone.conv1.weight': torch.zeros(1),
                                  'backbone.layer1.0.bn1.weight': torch.zeros(1)}}
    with pytest.raises(CheckpointFormatError,
                       match=r'resnet\.pth: not a ConvNeXt checkpoint'):
        load(tmp_path, resnet_like, timm_reference, name='resnet.pth')


def test_checkpoint_of_another_arch_is_an_error(tmp_path, timm_reference):
    path = tmp_path / 'small.pth'
    torch.save(timm_reference['official_state_dict'], path)
    model = ConvNeXt(arch=dict(depths=(2, 2, 3, 2), dims=(8, 16, 24, 32)),
                     init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(CheckpointFormatError,
                       match=r'small\.pth: downsample_layers\.0\.0\.weight has '
                       r'shape \(16, 3, 4, 4\) .* expects \(8, 3, 4, 4\)'):
        model.init_weights()


def test_missing_checkpoint_file_names_the_path(tmp_path):
    model = ConvNeXt(arch='tiny', init_cfg=dict(
        type='Pretrained', checkpoint=str(tmp_path / 'nope.pth')))
    with pytest.raises(FileNotFoundError, match=r'nope\.pth does not exist'):
        model.init_weights()


def timm_conv_mlp(reference: dict) -> dict:
    """timm's conv_mlp variant: pointwise weights as 1x1 convs (converted)."""
    return {k: v[:, :, None, None] if '.mlp.fc' in k and v.dim() == 2 else v
            for k, v in reference['timm_state_dict'].items()}


@pytest.mark.parametrize('make', [
    lambda r: r['timm_state_dict'], timm_conv_mlp,
    lambda r: r['official_state_dict']], ids=['timm', 'timm_conv_mlp',
                                              'official'])
def test_loaded_checkpoint_is_not_mutated_by_conversion(timm_reference,
                                                        make):
    checkpoint = {'state_dict': make(timm_reference)}
    original = copy.deepcopy(checkpoint)
    convert_to_dense_backbone(checkpoint)
    assert checkpoint.keys() == original.keys()
    assert checkpoint['state_dict'].keys() == original['state_dict'].keys()
    for key, tensor in original['state_dict'].items():
        assert torch.equal(checkpoint['state_dict'][key], tensor), key


def to_huggingface(official: dict) -> dict:
    """The official dense names in Hugging Face transformers' ConvNeXt
    layout (``ConvNextForImageClassification``), classifier included."""
    renames = ((r'^downsample_layers\.0\.0\.', 'embeddings.patch_embeddings.'),
               (r'^downsample_layers\.0\.1\.', 'embeddings.layernorm.'),
               (r'^downsample_layers\.(\d)\.', r'encoder.stages.\1.'
                r'downsampling_layer.'),
               (r'^stages\.(\d+)\.(\d+)\.norm\.', r'encoder.stages.\1.layers.'
                r'\2.layernorm.'),
               (r'^stages\.(\d+)\.(\d+)\.gamma$', r'encoder.stages.\1.layers.'
                r'\2.layer_scale_parameter'),
               (r'^stages\.(\d+)\.(\d+)\.', r'encoder.stages.\1.layers.\2.'))
    state = {}
    for key, value in official.items():
        if re.match(r'norm[012]\.', key):
            continue
        for pattern, replacement in renames:
            key, count = re.subn(pattern, replacement, key)
            if count:
                break
        state[f'convnext.{key.replace("norm3.", "layernorm.")}'] = value
    state['classifier.weight'] = torch.zeros(10, value.shape[0])
    state['classifier.bias'] = torch.zeros(10)
    return state


def test_hugging_face_checkpoint_reproduces_reference_stages(
        tmp_path, timm_reference, log_lines):
    model = load(tmp_path, to_huggingface(
        timm_reference['official_state_dict']), timm_reference)
    assert_classifier_loaded(
        model, timm_reference, log_lines, "Hugging Face transformers "
        "checkpoint, backbone under 'convnext.'", family='ConvNeXt')
