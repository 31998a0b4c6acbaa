"""Patch amp_fallback: an AmpOptimWrapper config trains in fp32 with one
warning per run on a machine without CUDA, in any mmengine Runner."""
import logging

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import AmpOptimWrapper, OptimWrapper

from convnext_dense.cli import train
from convnext_dense.patches import amp_fallback
from tiny_runner import runner

AMP = dict(type='AmpOptimWrapper', loss_scale='dynamic',
           optimizer=dict(type='SGD', lr=0.01))

needs_no_cuda = pytest.mark.skipif(torch.cuda.is_available(),
                                   reason='needs a machine without CUDA')


def warnings_of(run) -> list:
    """The fallback warnings the Runner's logger emits from now on."""
    lines = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    run.logger.addHandler(handler)
    return lines


@needs_no_cuda
def test_config_falls_back_without_being_modified():
    cfg = Config(dict(optim_wrapper=AMP))
    fp32 = amp_fallback.fall_back_to_fp32(cfg.optim_wrapper)
    assert fp32.type == 'OptimWrapper'
    assert 'loss_scale' not in fp32
    assert fp32.optimizer.lr == 0.01
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'


def test_other_configs_are_left_alone():
    plain = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1))
    assert amp_fallback.fall_back_to_fp32(plain) is plain
    assert amp_fallback.asks_for_amp(dict(AMP, type='mmengine.AmpOptimWrapper'))
    assert amp_fallback.asks_for_amp(dict(AMP, type=AmpOptimWrapper))
    assert not amp_fallback.asks_for_amp(plain)


@needs_no_cuda
def test_any_runner_trains_in_fp32_with_one_warning(tmp_path):
    first = runner(tmp_path, max_epochs=1, optim_wrapper=dict(AMP))
    messages = warnings_of(first)
    first.train()
    assert type(first.optim_wrapper) is OptimWrapper
    assert messages.count(amp_fallback.WARNING) == 1

    # Resuming builds the wrapper before training: still one warning.
    resumed = runner(tmp_path, max_epochs=2, optim_wrapper=dict(AMP),
                     load_from=str(tmp_path / 'epoch_1.pth'), resume=True)
    messages = warnings_of(resumed)
    resumed.train()
    assert resumed.epoch == 2
    assert messages.count(amp_fallback.WARNING) == 1


def test_patch_is_installed_once():
    from mmengine.runner import Runner

    from convnext_dense import patches
    build = Runner.build_optim_wrapper
    patches.install()
    assert Runner.build_optim_wrapper is build
    assert getattr(build, '__wrapped__', None) is not None


def test_train_amp_flag_asks_for_amp(tmp_path, monkeypatch):
    """tools/train.py --amp sets AmpOptimWrapper; the Runner falls back."""
    config = tmp_path / 'cfg.py'
    config.write_text(
        "default_scope = 'mmdet'\n"
        "optim_wrapper = dict(type='OptimWrapper', "
        "optimizer=dict(type='SGD', lr=0.01))\n")
    built = []

    class FakeRunner:

        @staticmethod
        def from_cfg(cfg):
            built.append(cfg)
            return FakeRunner()

        def train(self):
            pass

    monkeypatch.setattr(train, 'Runner', FakeRunner)
    train.main([str(config), '--amp', '--work-dir', str(tmp_path / 'work')])
    assert built[0].optim_wrapper.type == 'AmpOptimWrapper'
    assert built[0].optim_wrapper.loss_scale == 'dynamic'
