"""ConvNeXt's init_cfg: a Pretrained entry in a list is converted like a lone
one, prefix= selects a sub-dict, names of the official ImageNet checkpoints
resolve to their URLs, and unknown keys are refused."""
import pytest
import torch
from mmengine.config import Config

from conftest import CONFIGS
from convnext_dense.errors import CheckpointFormatError, ConfigError
from convnext_dense.models import ConvNeXt
from convnext_dense.models.convnext import PRETRAINED_WEIGHTS


def model_for(reference: dict, init_cfg) -> ConvNeXt:
    model = ConvNeXt(
        arch=dict(depths=reference['depths'], dims=reference['dims']),
        init_cfg=init_cfg)
    model.init_weights()
    return model


def assert_backbone_equals(model: ConvNeXt, expected: dict) -> None:
    state = model.state_dict()
    for key, value in expected.items():
        if not key.startswith('norm'):
            torch.testing.assert_close(state[key], value, msg=key)


def test_pretrained_entry_of_a_list_is_converted(tmp_path, timm_reference):
    path = tmp_path / 'timm.pth'
    torch.save(timm_reference['timm_state_dict'], path)
    model = model_for(timm_reference, [
        dict(type='Constant', layer='LayerNorm2d', val=2.0, bias=0.0),
        dict(type='Pretrained', checkpoint=str(path)),
    ])
    # The checkpoint wins where it has weights (the stem's LayerNorm2d) ...
    assert_backbone_equals(model, timm_reference['official_state_dict'])
    # ... and the other entry initialised the rest (the output norms).
    for i in range(4):
        norm = getattr(model, f'norm{i}')
        assert torch.all(norm.weight == 2.0) and torch.all(norm.bias == 0)


def test_a_list_without_pretrained_is_applied_by_mmengine(timm_reference):
    model = model_for(timm_reference, [
        dict(type='Constant', layer='LayerNorm2d', val=3.0, bias=0.0)])
    assert torch.all(model.norm3.weight == 3.0)


@pytest.fixture
def two_backbones(tmp_path, timm_reference):
    """A checkpoint holding the reference backbone under ``backbone.`` and a
    zeroed copy under ``teacher.``: only prefix= tells which to load."""
    official = timm_reference['official_state_dict']
    state = {f'teacher.{k}': torch.zeros_like(v) for k, v in official.items()}
    state.update({f'backbone.{k}': v for k, v in official.items()})
    path = tmp_path / 'distilled.pth'
    torch.save({'state_dict': state}, path)
    return path


@pytest.mark.parametrize('prefix', ['backbone.', 'backbone'])
def test_prefix_selects_the_sub_dict(two_backbones, timm_reference, prefix,
                                     log_lines):
    model = model_for(timm_reference, dict(
        type='Pretrained', checkpoint=str(two_backbones), prefix=prefix))
    assert_backbone_equals(model, timm_reference['official_state_dict'])
    assert any(f"distilled.pth (prefix '{prefix}')" in line
               for line in log_lines)

    teacher = model_for(timm_reference, dict(
        type='Pretrained', checkpoint=str(two_backbones), prefix='teacher.'))
    assert torch.all(teacher.stages[0][0].dwconv.weight == 0)


def test_prefix_matching_nothing_is_one_line(two_backbones, timm_reference):
    with pytest.raises(CheckpointFormatError,
                       match=r"distilled\.pth: no key starts with init_cfg "
                       r"prefix 'student\.'") as error:
        model_for(timm_reference, dict(
            type='Pretrained', checkpoint=str(two_backbones),
            prefix='student.'))
    assert '\n' not in str(error.value)


@pytest.mark.parametrize('init_cfg, unknown', [
    (dict(type='Pretrained', checkpoint='x.pth', prefx='backbone.'), 'prefx'),
    (dict(type='Pretrained'), None),
    ([dict(type='Pretrained', checkpoint='x.pth', strict=True)], 'strict'),
])
def test_pretrained_with_unknown_keys_is_refused(init_cfg, unknown):
    model = ConvNeXt(arch=dict(depths=(1, 1, 1, 1), dims=(8, 8, 8, 8)),
                     init_cfg=init_cfg)
    with pytest.raises(ConfigError, match='a Pretrained init_cfg takes a '
                       'checkpoint') as error:
        model.init_weights()
    if unknown:
        assert str(error.value).endswith(f'not {unknown}')


@pytest.fixture
def loaded(monkeypatch, timm_reference):
    """What the pretrained loader was asked to read (no download)."""
    from convnext_dense.checkpoint import pretrained
    asked = []

    def load_checkpoint(filename, map_location=None, logger=None):
        asked.append(filename)
        return {'model': dict(timm_reference['official_state_dict'])}

    monkeypatch.setattr(pretrained.CheckpointLoader, 'load_checkpoint',
                        load_checkpoint)
    return asked


def test_official_name_resolves_to_its_url(tmp_path, monkeypatch, loaded,
                                           timm_reference, log_lines):
    monkeypatch.chdir(tmp_path)
    url = 'https://dl.fbaipublicfiles.com/convnext/convnext_tiny_1k_224.pth'
    model_for(timm_reference,
              dict(type='Pretrained', checkpoint='convnext_tiny_1k_224'))
    assert loaded == [url]
    assert any(f"'convnext_tiny_1k_224' is the official ImageNet checkpoint "
               f'{url}' in line for line in log_lines)


def test_a_local_file_of_that_name_wins(tmp_path, monkeypatch, loaded,
                                        timm_reference):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'convnext_tiny_1k_224').write_bytes(b'')
    model_for(timm_reference,
              dict(type='Pretrained', checkpoint='convnext_tiny_1k_224'))
    assert loaded == ['convnext_tiny_1k_224']


def test_table_covers_the_release_names_and_every_config():
    base = 'https://dl.fbaipublicfiles.com/convnext/'
    for arch in ('tiny', 'small', 'base', 'large', 'xlarge'):
        name = f'convnext_{arch}_22k_224'
        assert PRETRAINED_WEIGHTS[name] == f'{base}{name}.pth'
    for arch in ('tiny', 'small', 'base', 'large'):
        for name in (f'convnext_{arch}_1k_224', f'convnext_{arch}_1k_224_ema'):
            assert PRETRAINED_WEIGHTS[name] == f'{base}{name}.pth'
    for config in sorted(CONFIGS.glob('*.py')):
        backbone = Config.fromfile(str(config)).model.backbone
        if backbone.type != 'convnext_dense.ConvNeXt':
            continue  # the isotropic and ConvMixer backbones
        checkpoint = backbone.init_cfg.checkpoint
        assert (checkpoint in PRETRAINED_WEIGHTS
                or checkpoint in PRETRAINED_WEIGHTS.values()), config.name
