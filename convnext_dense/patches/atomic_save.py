"""Patch: crash-safe checkpoint writes for mmengine's local backend.

What is wrong: mmengine 0.10.7 writes checkpoints (and ``last_checkpoint``)
with ``open(path, 'wb')``: a kill or a full disk mid-write leaves a truncated
file under the final name, possibly over the previous good checkpoint.

The fix: :func:`install` replaces ``LocalBackend.put`` by :func:`atomic_put`,
which writes to a temporary file in the same directory, syncs it and renames it
over the target, so each write is all-or-nothing. A write that fails (a full
disk, an unwritable folder, a path through a file) raises one
:class:`~convnext_dense.errors.CheckpointWriteError` naming the path and the
OS error, and leaves whatever was at ``filepath`` before as it was.
"""
import errno
import os
import os.path as osp
import re
from pathlib import Path
from typing import List, Union

from mmengine.fileio.backends.local_backend import LocalBackend
from mmengine.utils import mkdir_or_exist

from convnext_dense.errors import CheckpointWriteError

#: Name of the temporary file of a write in progress: ``.NAME.PID.tmp``.
_TEMPORARY = re.compile(r'^\.(?P<name>.+)\.(?P<pid>\d+)\.tmp$')


#: What to do about a failed write, by errno name.
_REMEDIES = {
    'ENOSPC': 'free disk space',
    'EDQUOT': 'free disk space (the disk quota is used up)',
    'EACCES': 'make the folder writable',
    'EPERM': 'make the folder writable',
    'EROFS': 'use a work dir on a writable file system (--work-dir)',
    'ENOTDIR': 'a part of that path is a file: move it or pick another '
               '--work-dir',
    'EEXIST': 'a part of that path is a file: move it or pick another '
              '--work-dir',
}


def write_error(filepath: str, error: OSError) -> CheckpointWriteError:
    """The one-line error for a failed write of ``filepath``."""
    what = 'checkpoint' if filepath.endswith(('.pth', '.pt')) else 'file'
    code = errno.errorcode.get(error.errno or 0, error.__class__.__name__)
    if error.filename and filepath.startswith(f'{error.filename}{os.sep}'):
        code = f'{code}, {error.filename}'  # a folder on the way
    remedy = _REMEDIES.get(code.split(',')[0], 'fix that')
    return CheckpointWriteError(
        f'could not write {what} {filepath}: {error.strerror or error} '
        f'({code}); nothing was written there, and the checkpoints saved '
        f'before are intact: {remedy}, then continue with --resume')


def atomic_put(self: LocalBackend, obj: bytes, filepath: Union[str, Path]) -> None:
    """``LocalBackend.put`` that never leaves a partial file at ``filepath``.

    Raises:
        CheckpointWriteError: when the folder cannot be made or the file
            cannot be written (``ENOSPC``, ``EACCES``, ``ENOTDIR``, ...).
    """
    filepath = str(filepath)
    tmp = osp.join(
        osp.dirname(filepath),
        f'.{osp.basename(filepath)}.{os.getpid()}.tmp')
    try:
        mkdir_or_exist(osp.dirname(filepath) or '.')
        with open(tmp, 'wb') as f:
            f.write(obj)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except OSError as error:
        raise write_error(filepath, error) from error
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def stale_temporaries(directory: Union[str, Path]) -> List[Path]:
    """Temporary files in ``directory`` left by writes whose process died
    (a kill mid-write); a live process's write in progress is not listed."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    stale = []
    for path in sorted(directory.iterdir()):
        match = _TEMPORARY.match(path.name)
        if match and path.is_file() and not _alive(int(match['pid'])):
            stale.append(path)
    return stale


def install() -> None:
    """Makes mmengine's local-file writes atomic."""
    LocalBackend.put = atomic_put
