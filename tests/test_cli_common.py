"""What train.py and test.py share: config checks, dataset checks, AMP fallback."""
import re

import pytest
import torch
from mmengine.config import Config

from convnext_dense.cli.common import (UserError, check_datasets,
                                       fall_back_to_fp32_without_cuda,
                                       load_config, set_work_dir)


def write_config(tmp_path, text: str) -> str:
    path = tmp_path / 'cfg.py'
    path.write_text(text)
    return str(path)


def test_missing_config_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match=r'config .*nope\.py does not exist'):
        load_config(str(tmp_path / 'nope.py'))


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
    with pytest.raises(UserError) as error:
        check_datasets(cfg, ['train', 'val'])
    message = str(error.value)
    assert '\n' not in message
    assert re.search(r'CocoDataset data missing: .*coco/train2017/ '
                     r'\(train_dataloader\.dataset\.dataset\.data_prefix\.img\)'
                     r' does not exist; download COCO into data/coco/', message)
    (tmp_path / 'coco' / 'train2017').mkdir()
    check_datasets(cfg, ['train', 'val'])


@pytest.mark.skipif(torch.cuda.is_available(), reason='needs a machine without CUDA')
def test_amp_config_falls_back_to_fp32_with_one_warning(log_lines):
    cfg = Config(dict(optim_wrapper=dict(
        type='AmpOptimWrapper', loss_scale='dynamic',
        optimizer=dict(type='AdamW', lr=1e-4))))
    fall_back_to_fp32_without_cuda(cfg)
    fall_back_to_fp32_without_cuda(cfg)
    assert sum('mixed precision' in line for line in log_lines) == 1
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    assert 'loss_scale' not in cfg.optim_wrapper
    assert cfg.optim_wrapper.optimizer.lr == 1e-4
