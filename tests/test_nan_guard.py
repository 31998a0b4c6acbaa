"""The NaN guard (convnext_dense.NonFiniteLossHook, added by tools/train.py):
a NaN or infinite loss stops training with one line naming the iteration and
the loss term, before the checkpoint of that iteration is saved, leaving the
last good checkpoint as it was."""
import math
from pathlib import Path

import pytest
import torch
from mmengine.runner import Runner

from convnext_dense.cli.train import add_nan_guard
from convnext_dense.engine.hooks import NonFiniteLossHook, non_finite_loss
from convnext_dense.errors import ConvNeXtDenseError, TrainingDivergedError
from helpers import error_messages, free_port
from micro_training import (checkpoints, last_checkpoint, make_data, run,
                            sha256)
from tiny_runner import TinyModel, ToyData


@pytest.mark.parametrize('outputs, expected', [
    ({'loss': torch.tensor(1.0), 'loss_cls': torch.tensor(0.5)}, None),
    ({'loss': torch.tensor(math.nan), 'loss_cls': torch.tensor(0.5),
      'loss_mask': torch.tensor(math.nan)}, 'loss_mask is nan'),
    ({'loss': torch.tensor(math.inf), 'acc': torch.tensor(math.nan)},
     'loss is inf'),
    ({'decode.loss_ce': torch.tensor(-math.inf), 'decode.acc_seg': 3.0},
     'decode.loss_ce is -inf'),
    ({'loss': 2.0, 'acc_seg': math.nan}, None),
    (None, None),
])
def test_the_first_non_finite_loss_term_is_named(outputs, expected):
    assert non_finite_loss(outputs) == expected


def test_train_adds_the_guard_once():
    from mmengine.config import Config
    cfg = Config(dict(custom_hooks=[dict(type='EMAHook')]))
    add_nan_guard(cfg)
    add_nan_guard(cfg)
    assert [hook['type'] for hook in cfg.custom_hooks] == [
        'EMAHook', 'convnext_dense.NonFiniteLossHook']


class NaNModel(TinyModel):
    """TinyModel with two loss terms; ``loss_reg`` is NaN in iteration
    ``nan_at`` (counted from 1)."""

    def __init__(self, nan_at: int):
        super().__init__()
        self.nan_at, self.calls = nan_at, 0

    def forward(self, inputs, targets=None, mode='tensor'):
        out = self.linear(inputs)
        if mode != 'loss':
            return out
        self.calls += 1
        reg = out.abs().mean() * (math.nan if self.calls == self.nan_at else 1)
        return dict(loss_mse=((out - targets)**2).mean(), loss_reg=reg)


def nan_runner(work_dir: Path, nan_at: int, by_epoch: bool = False) -> Runner:
    """With the guard: 6 iterations and a checkpoint every 2, or 3 epochs of
    2 iterations and a checkpoint every epoch."""
    if by_epoch:
        schedule = dict(sampler=dict(type='DefaultSampler', shuffle=False),
                        train_cfg=dict(by_epoch=True, max_epochs=3),
                        checkpoint=dict(type='CheckpointHook', interval=1))
    else:
        schedule = dict(sampler=dict(type='InfiniteSampler', shuffle=False),
                        train_cfg=dict(by_epoch=False, max_iters=6),
                        checkpoint=dict(type='CheckpointHook', by_epoch=False,
                                        interval=2))
    return Runner(
        model=NaNModel(nan_at), work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=ToyData(), batch_size=4, sampler=schedule['sampler'],
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=schedule['train_cfg'],
        default_hooks=dict(checkpoint=schedule['checkpoint']),
        custom_hooks=[dict(type='convnext_dense.NonFiniteLossHook')],
        randomness=dict(seed=0),
        experiment_name=f'nan_guard_{work_dir.name}')


def test_nan_stops_training_before_that_iterations_checkpoint(tmp_path):
    with pytest.raises(TrainingDivergedError) as caught:
        nan_runner(tmp_path, nan_at=4).train()
    message = str(caught.value)
    assert message.startswith('iteration 4: loss_reg is nan; ')
    assert (f'The last checkpoint, {tmp_path / "iter_2.pth"}, was written '
            'before it and is intact') in message
    assert '\n' not in message
    assert isinstance(caught.value, ConvNeXtDenseError)
    # The guard ran before CheckpointHook in iteration 4.
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['iter_2.pth']
    assert last_checkpoint(tmp_path) == 'iter_2.pth'
    state = checkpoints(tmp_path)['iter_2.pth']['state_dict']
    assert all(torch.isfinite(value).all() for value in state.values())


def test_nan_before_any_checkpoint_says_so(tmp_path):
    with pytest.raises(TrainingDivergedError,
                       match=r'^iteration 1: loss_reg is nan; .*No checkpoint '
                       r'was written before it'):
        nan_runner(tmp_path, nan_at=1).train()


def test_epoch_based_training_names_the_epoch_too(tmp_path):
    with pytest.raises(TrainingDivergedError,
                       match=r'^iteration 5 \(epoch 3\): loss_reg is nan; .*'
                       r'The last checkpoint, .*epoch_2\.pth, was written'):
        nan_runner(tmp_path, nan_at=5, by_epoch=True).train()
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == [
        'epoch_1.pth', 'epoch_2.pth']


def test_processes_agree_on_a_problem(monkeypatch):
    """The distributed path (a flag all-reduced, the problem gathered), in a
    one-process gloo group."""
    import torch.distributed as dist
    monkeypatch.setenv('MASTER_ADDR', '127.0.0.1')
    monkeypatch.setenv('MASTER_PORT', str(free_port()))
    dist.init_process_group('gloo', rank=0, world_size=1)
    try:
        assert NonFiniteLossHook._any_process(None) is None
        assert NonFiniteLossHook._any_process('loss_x is nan') == \
            'loss_x is nan (process 0)'
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_train_py_stops_at_a_nan_loss_with_one_line(tmp_path):
    """tools/train.py: NaN in iteration 8, where a checkpoint is due."""
    root = make_data(tmp_path)
    work = tmp_path / 'work'
    done = run(root, work, fault='nan@8')
    assert done.returncode == 2, done.stderr[-3000:]
    errors = error_messages(done)
    iter_4 = work / 'iter_4.pth'
    assert errors == [
        f'error: iteration 8: decode.loss_ce is nan; training stopped before '
        f'saving it. The last checkpoint, {iter_4}, was written before it '
        f'and is intact; lower the lr (optim_wrapper.optimizer.lr) or clip '
        f'gradients (optim_wrapper.clip_grad) and continue with --resume']
    assert 'Traceback' not in done.stderr
    # The checkpoint named when the NaN came is the same file, unchanged.
    path, digest = (root / 'fault_ready').read_text().split()
    assert path == str(iter_4) and sha256(iter_4) == digest
    assert {name: ckpt['meta']['iter']
            for name, ckpt in checkpoints(work).items()} == {'iter_4.pth': 4}
    assert last_checkpoint(work) == 'iter_4.pth'
