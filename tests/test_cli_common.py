"""What the tools share: one-line errors, config checks, dataset checks."""
import pickle
import re
from types import SimpleNamespace

import pytest
from mmengine.config import Config

from convnext_dense.cli.common import (check_datasets, load_config, run_cli,
                                       set_work_dir)
from convnext_dense.engine import hooks
from convnext_dense.errors import (CheckpointFormatError, ConfigError,
                                   ConvNeXtDenseError, InputNotFoundError,
                                   OutputExistsError, UnsafeCheckpointError,
                                   UserError)


def write_config(tmp_path, text: str) -> str:
    path = tmp_path / 'cfg.py'
    path.write_text(text)
    return str(path)


def test_missing_config_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match=r'config .*nope\.py does not exist'):
        load_config(str(tmp_path / 'nope.py'))


def test_missing_base_config_is_a_toolkit_error(tmp_path):
    path = write_config(tmp_path, "_base_ = ['gone_base.py']\n")
    with pytest.raises(InputNotFoundError,
                       match=r'config .*cfg\.py: .*gone_base\.py'):
        load_config(path)


def test_config_of_another_scope_is_refused(tmp_path):
    path = write_config(tmp_path, "default_scope = 'mmpretrain'\n")
    with pytest.raises(UserError, match=r"default_scope='mmpretrain'"):
        load_config(path)


def test_cfg_options_are_applied(tmp_path):
    path = write_config(tmp_path, "default_scope = 'mmdet'\nmodel = dict(a=1)\n")
    assert load_config(path, {'model.a': 2}).model.a == 2


def test_work_dir_defaults_to_config_name(tmp_path):
    cfg = Config(dict(default_scope='mmdet'))
    set_work_dir(cfg, None, 'configs/foo_bar.py')
    assert cfg.work_dir == 'work_dirs/foo_bar'
    set_work_dir(cfg, 'elsewhere', 'configs/foo_bar.py')
    assert cfg.work_dir == 'elsewhere'


def test_missing_dataset_is_named_in_one_line(tmp_path):
    (tmp_path / 'coco' / 'annotations').mkdir(parents=True)
    (tmp_path / 'coco' / 'annotations' / 'train.json').write_text('{}')
    cfg = Config(dict(
        data_hint='download COCO into data/coco/',
        train_dataloader=dict(dataset=dict(
            type='RepeatDataset', times=2, dataset=dict(
                type='CocoDataset', data_root=str(tmp_path / 'coco') + '/',
                ann_file='annotations/train.json',
                data_prefix=dict(img='train2017/'))))))
    with pytest.raises(InputNotFoundError) as error:
        check_datasets(cfg, ['train', 'val'])
    message = str(error.value)
    assert '\n' not in message
    assert re.search(r'CocoDataset data missing: .*coco/train2017/ '
                     r'\(train_dataloader\.dataset\.dataset\.data_prefix\.img\)'
                     r' does not exist; download COCO into data/coco/', message)
    (tmp_path / 'coco' / 'train2017').mkdir()
    check_datasets(cfg, ['train', 'val'])


@pytest.mark.parametrize('error', [
    UserError('bad'), ConfigError('bad'), CheckpointFormatError('bad'),
    UnsafeCheckpointError('bad'), InputNotFoundError('bad'),
    OutputExistsError('bad')])
def test_toolkit_errors_are_one_line_and_exit_code_2(error, capsys):
    def main():
        raise error

    with pytest.raises(SystemExit) as exit_:
        run_cli(main)
    assert exit_.value.code == 2
    assert capsys.readouterr().err == 'error: bad\n'


def test_toolkit_errors_are_also_the_builtin_ones():
    assert issubclass(InputNotFoundError, (ConvNeXtDenseError,
                                           FileNotFoundError, UserError))
    assert issubclass(OutputExistsError, FileExistsError)
    assert issubclass(ConfigError, ValueError)
    assert issubclass(CheckpointFormatError, ValueError)
    assert issubclass(UnsafeCheckpointError, pickle.UnpicklingError)


@pytest.mark.parametrize('bug', [
    FileNotFoundError(2, 'No such file or directory', '/not/a/user/file'),
    ValueError('a bug'), KeyError('a bug')])
def test_other_exceptions_are_not_swallowed(bug, capsys):
    """A FileNotFoundError (or ValueError) from a bug keeps its traceback."""
    def main():
        raise bug

    with pytest.raises(type(bug)):
        run_cli(main)
    assert 'error:' not in capsys.readouterr().err


def test_an_error_during_evaluation_starts_its_own_line(capsys):
    """An error raised while the test progress bar draws (a bad label map in
    the loop) is printed on a line of its own, not after the bar."""
    runner = SimpleNamespace(
        test_dataloader=SimpleNamespace(dataset=[0] * 4), world_size=1)
    bar = hooks.TestProgressBarHook()

    def main():
        bar.before_test_epoch(runner)
        bar.after_test_iter(runner, 0, outputs=[None])
        raise UserError('label map x.png holds labels 7')

    with pytest.raises(SystemExit):
        run_cli(main)
    err = capsys.readouterr().err
    assert '1/4' in err
    assert err.splitlines()[-1] == 'error: label map x.png holds labels 7'
