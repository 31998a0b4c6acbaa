"""Test-only faults for a training subprocess, imported through the config's
``custom_imports`` (with ``tests/`` on ``PYTHONPATH``); nothing happens unless
``FAULT`` is set. ``FAULT=KIND@WHERE``:

* ``step@N``: pause in iteration N after the backward pass, before the
  optimizer step (mid-iteration);
* ``write@NAME``: pause while checkpoint NAME is being written, with half of
  it in the temporary file;
* ``saved@NAME``: pause right after checkpoint NAME is in place, before
  ``last_checkpoint`` names it;
* ``enospc@NAME``: the write of checkpoint NAME fails with ``ENOSPC`` halfway;
* ``nan@N``: the decode head's loss is NaN in iteration N.

A pause writes ``FAULT_READY`` (a file path) and sleeps until the test kills
the process. ``nan@N`` writes ``FAULT_READY`` too, with the path and SHA-256
of the checkpoint ``last_checkpoint`` named when the NaN was injected.
"""
import errno
import hashlib
import os
import time
from pathlib import Path
from typing import Callable, Optional

import torch
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper

from convnext_dense.patches import atomic_save

KIND, _, WHERE = os.environ.get('FAULT', '').partition('@')


def _signal(text: str = '') -> None:
    ready = Path(os.environ['FAULT_READY'])
    ready.with_suffix('.part').write_text(text)
    ready.with_suffix('.part').replace(ready)


def _pause() -> None:
    _signal()
    while True:
        time.sleep(60)


def _iteration() -> int:
    """The current training iteration, counted from 1."""
    return MessageHub.get_current_instance().get_info('iter') + 1


def _pause_before_step(step: Callable) -> Callable:
    def paused_step(self, **kwargs):
        if _iteration() == int(WHERE):
            _pause()
        return step(self, **kwargs)
    return paused_step


class _FaultyFile:
    """A file whose ``write`` stops halfway: a pause, or ``ENOSPC``."""

    def __init__(self, file) -> None:
        self._file = file

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self._file.close()

    def write(self, data: bytes) -> int:
        half = len(data) // 2
        self._file.write(data[:half])
        self._file.flush()
        if KIND == 'write':
            _pause()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name: str):
        return getattr(self._file, name)


def _faulty_open(path, mode: str = 'r', *args, **kwargs):
    file = open(path, mode, *args, **kwargs)
    if Path(path).name.startswith(f'.{WHERE}.'):  # the temporary file
        return _FaultyFile(file)
    return file


def _pause_after_put(put: Callable) -> Callable:
    def put_then_pause(self, obj: bytes, filepath) -> None:
        put(self, obj, filepath)
        if Path(filepath).name == WHERE:
            _pause()
    return put_then_pause


def _checkpoint_digest() -> str:
    hub = MessageHub.get_current_instance()
    path: Optional[str] = hub.get_info('last_ckpt')
    if not path:
        return ''
    return f'{path} {hashlib.sha256(Path(path).read_bytes()).hexdigest()}'


def _nan_loss(loss_by_feat: Callable) -> Callable:
    def poisoned(self, *args, **kwargs):
        losses = loss_by_feat(self, *args, **kwargs)
        if type(self).__name__ == 'UPerHead' and \
                _iteration() == int(WHERE):
            losses['loss_ce'] = losses['loss_ce'] * torch.tensor(float('nan'))
            _signal(_checkpoint_digest())
        return losses
    return poisoned


def install() -> None:
    """Arms the fault ``FAULT`` names."""
    if KIND == 'step':
        OptimWrapper.step = _pause_before_step(OptimWrapper.step)
    elif KIND in ('write', 'enospc'):
        atomic_save.open = _faulty_open
    elif KIND == 'saved':
        put = atomic_save.LocalBackend.put
        atomic_save.LocalBackend.put = _pause_after_put(put)
    elif KIND == 'nan':
        from mmseg.models.decode_heads.decode_head import BaseDecodeHead
        BaseDecodeHead.loss_by_feat = _nan_loss(BaseDecodeHead.loss_by_feat)
    elif KIND:
        raise ValueError(f'unknown FAULT {KIND}@{WHERE}')


install()
