"""Hooks the tools add to the runner."""
import sys
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.utils import ProgressBar

from convnext_dense.registry import HOOKS


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

    def after_test_iter(self, runner, batch_idx, data_batch=None,
                        outputs=None) -> None:
        if self._bar is not None:
            batch_size = len(outputs) if outputs is not None else 1
            self._bar.update(batch_size * runner.world_size)

    def after_test_epoch(self, runner, metrics=None) -> None:
        if self._bar is not None:
            self._bar.file.write('\n')
            self._bar = None
