"""Patch: crash-safe checkpoint writes for mmengine's local backend.

What is wrong: mmengine 0.10.7 writes checkpoints (and ``last_checkpoint``)
with ``open(path, 'wb')``: a kill or a full disk mid-write leaves a truncated
file under the final name, possibly over the previous good checkpoint.

The fix: :func:`install` replaces ``LocalBackend.put`` by :func:`atomic_put`,
which writes to a temporary file in the same directory, syncs it and renames it
over the target, so each write is all-or-nothing.
"""
import os
import os.path as osp
from pathlib import Path
from typing import Union

from mmengine.fileio.backends.local_backend import LocalBackend
from mmengine.utils import mkdir_or_exist

_MARK = '__convnext_dense_atomic__'


def atomic_put(self: LocalBackend, obj: bytes, filepath: Union[str, Path]) -> None:
    """``LocalBackend.put`` that never leaves a partial file at ``filepath``."""
    filepath = str(filepath)
    mkdir_or_exist(osp.dirname(filepath) or '.')
    tmp = osp.join(
        osp.dirname(filepath),
        f'.{osp.basename(filepath)}.{os.getpid()}.tmp')
    try:
        with open(tmp, 'wb') as f:
            f.write(obj)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


setattr(atomic_put, _MARK, True)


def install() -> None:
    """Makes mmengine's local-file writes atomic, once per process."""
    if not getattr(LocalBackend.put, _MARK, False):
        LocalBackend.put = atomic_put
