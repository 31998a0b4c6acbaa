"""Bad configs: a misspelled argument of the model, backbone or neck (in the
file or through --cfg-options), an unregistered type, a config of another
codebase's scope are one line before anything is built; a config that uses
the toolkit without importing it gets one warning line."""
import pytest

from tiny_datasets import COCO_CONFIG

from convnext_dense.cli import train
from convnext_dense.cli.common import load_config, run_cli
from convnext_dense.errors import ConfigError

BACKBONE_ARGS = ('arch, in_channels, drop_path_rate, layer_scale_init_value, '
                 'out_indices, frozen_stages, with_cp, init_cfg')


@pytest.mark.parametrize('options, message', [
    ({'model.backbone.drop_path_rat': 0.1},
     "model.backbone has no argument 'drop_path_rat' (did you mean "
     "'drop_path_rate'?), in the config or --cfg-options; "
     f'convnext_dense.ConvNeXt takes {BACKBONE_ARGS}'),
    ({'model.backbone.depths': [3, 3, 9, 3]},
     "model.backbone has no argument 'depths', in the config or "
     f'--cfg-options; convnext_dense.ConvNeXt takes {BACKBONE_ARGS}'),
    ({'model.neck.in_channel': 64},
     "model.neck has no argument 'in_channel' (did you mean 'in_channels'?)"),
    ({'model.backbon.arch': 'small'},
     "model has no argument 'backbon' (did you mean 'backbone'?)"),
    ({'model.backbone.type': 'ConvNeXt'},
     "model.backbone type 'ConvNeXt' is not registered in the mmdet scope; "
     "the toolkit's components are named with their scope: "
     "type='convnext_dense.ConvNeXt'"),
    ({'model.backbone.type': 'mmpretrain.ConvNeXt'},
     "model.backbone type 'mmpretrain.ConvNeXt' is not registered in the "
     "mmdet scope; the toolkit's components are named with their scope: "
     "type='convnext_dense.ConvNeXt'"),
    ({'model.neck.type': 'FPNN'},
     "model.neck type 'FPNN' is not registered in the mmdet scope: check "
     "the spelling"),
], ids=['backbone typo', 'backbone unknown', 'neck typo', 'model typo',
        'unscoped type', 'mmpretrain type', 'unknown neck'])
def test_model_config_is_checked_before_building(options, message):
    with pytest.raises(ConfigError) as raised:
        load_config(str(COCO_CONFIG), options)
    assert str(raised.value).startswith(f'config {COCO_CONFIG}: {message}')
    assert '\n' not in str(raised.value)


def test_a_misspelled_backbone_argument_is_one_error_line(tmp_path, capsys):
    config = tmp_path / 'typo.py'
    config.write_text(f'_base_ = {str(COCO_CONFIG)!r}\n'
                      'model = dict(backbone=dict(drop_path_rat=0.1))\n')
    with pytest.raises(SystemExit) as exited:
        run_cli(lambda: train.main([str(config)]))
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"error: config {config}: model.backbone has no argument "
        f"'drop_path_rat' (did you mean 'drop_path_rate'?), in the config or "
        f'--cfg-options; convnext_dense.ConvNeXt takes {BACKBONE_ARGS}']


def test_a_config_of_another_codebase_is_one_line(tmp_path, capsys):
    config = tmp_path / 'classifier.py'
    config.write_text("default_scope = 'mmpretrain'\n"
                      "model = dict(type='ImageClassifier', backbone=dict("
                      "type='ConvNeXt', arch='tiny'))\n")
    with pytest.raises(SystemExit):
        run_cli(lambda: train.main([str(config)]))
    assert capsys.readouterr().err.splitlines() == [
        f"error: config {config} has default_scope='mmpretrain'; these tools "
        f"run configs with default_scope in ['mmdet', 'mmseg']"]


@pytest.mark.parametrize('imports', [None, "['convnext_dense']"])
def test_a_config_without_the_toolkit_import_gets_one_warning(
        tmp_path, log_lines, imports):
    config = tmp_path / 'no_imports.py'
    config.write_text(f'_base_ = {str(COCO_CONFIG)!r}\n'
                      f'custom_imports = dict(_delete_=True, imports='
                      f'{imports or "[]"})\n')
    cfg = load_config(str(config))  # the tools run it all the same
    assert cfg.model.backbone.type == 'convnext_dense.ConvNeXt'
    warnings = [line for line in log_lines if 'custom_imports' in line]
    assert warnings == ([] if imports else [
        f"config {config} names convnext_dense components but has no "
        f"custom_imports=dict(imports=['convnext_dense']): these tools import "
        f"the toolkit themselves, but mmdet's and mmseg's own tools need it "
        f'to install its fixes before anything is built or loaded; add it'])

