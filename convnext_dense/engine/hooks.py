"""Hooks the tools add to the runner."""
import math
import os.path as osp
import sys
from typing import Dict, List, Optional

import torch
from mmengine.dist import (all_gather_object, all_reduce, get_world_size,
                           is_main_process)
from mmengine.hooks import Hook
from mmengine.runner import EpochBasedTrainLoop
from mmengine.utils import ProgressBar

from convnext_dense.errors import TrainingDivergedError
from convnext_dense.registry import HOOKS


#: The progress bar drawing on a line of stderr now, if any.
_OPEN_BAR: List[ProgressBar] = []


def end_progress_line() -> None:
    """Ends the line an unfinished progress bar is drawing on, so that what
    is printed next (an error) starts a line of its own."""
    while _OPEN_BAR:
        _OPEN_BAR.pop().file.write('\n')


@HOOKS.register_module()
class TestProgressBarHook(Hook):
    """Shows a progress bar (images/s, ETA) while the test set is evaluated."""

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._bar: Optional[ProgressBar] = None

    def before_test_epoch(self, runner) -> None:
        if is_main_process():
            total = len(runner.test_dataloader.dataset)
            self._bar = ProgressBar(total, file=sys.stderr)
            _OPEN_BAR[:] = [self._bar]

    def after_test_iter(self, runner, batch_idx, data_batch=None,
                        outputs=None) -> None:
        if self._bar is not None:
            batch_size = len(outputs) if outputs is not None else 1
            self._bar.update(batch_size * runner.world_size)

    def after_test_epoch(self, runner, metrics=None) -> None:
        if self._bar is not None:
            _OPEN_BAR.clear()
            self._bar.file.write('\n')
            self._bar = None


def non_finite_loss(outputs: Optional[Dict]) -> Optional[str]:
    """The first loss term of ``outputs`` (a ``train_step``'s log vars) that
    is NaN or infinite, as ``'NAME is nan'``; None when all are finite.

    Terms are the keys with ``loss`` in their name; the total ``loss`` is
    named only when no single term is to blame.
    """
    if not outputs:
        return None
    bad = {}
    for name, value in outputs.items():
        if 'loss' not in name:
            continue
        value = float(value.detach().float().mean()) if isinstance(
            value, torch.Tensor) else float(value)
        if not math.isfinite(value):
            bad[name] = value
    if not bad:
        return None
    name = next((key for key in bad if key != 'loss'), 'loss')
    return f'{name} is {bad[name]}'


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Stops training at the first NaN or infinite loss, before anything
    saves that iteration's (already updated) weights.

    It runs first among the hooks after each iteration (priority
    ``VERY_HIGH``; ``CheckpointHook`` is ``VERY_LOW``) and raises
    :class:`~convnext_dense.errors.TrainingDivergedError`, which the tools
    print as one line (exit code 2) naming the iteration, the loss term and
    the last checkpoint saved. In a distributed run the processes agree
    (one all-reduce of a flag per iteration), so every process stops.
    """

    priority = 'VERY_HIGH'

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[Dict] = None) -> None:
        problem = non_finite_loss(outputs)
        if get_world_size() > 1:
            problem = self._any_process(problem)
        if problem is not None:
            raise TrainingDivergedError(
                f'{self._when(runner)}: {problem}; training stopped '
                f'before saving it. {self._last_checkpoint(runner)}; lower '
                'the lr (optim_wrapper.optimizer.lr) or clip gradients '
                '(optim_wrapper.clip_grad) and continue with --resume')

    @staticmethod
    def _when(runner) -> str:
        """``iteration N``, counted from 1 as in the log, with the epoch in
        epoch-based training."""
        when = f'iteration {runner.iter + 1}'
        if isinstance(runner.train_loop, EpochBasedTrainLoop):
            when += f' (epoch {runner.epoch + 1})'
        return when

    @staticmethod
    def _any_process(problem: Optional[str]) -> Optional[str]:
        """The first process's problem, if any process has one."""
        flag = torch.tensor([0. if problem is None else 1.])
        all_reduce(flag, op='max')
        if flag.item() == 0:
            return None
        problems = all_gather_object(problem)
        rank, found = next((rank, found) for rank, found in
                           enumerate(problems) if found is not None)
        return f'{found} (process {rank})'

    @staticmethod
    def _last_checkpoint(runner) -> str:
        path = runner.message_hub.get_info('last_ckpt')
        if path and osp.isfile(path):
            return (f'The last checkpoint, {path}, was written before it and '
                    'is intact')
        return 'No checkpoint was written before it'
