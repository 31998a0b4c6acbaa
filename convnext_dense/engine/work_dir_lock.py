"""One live training run per work dir.

Two runs writing checkpoints into one work dir (a second launch, a
``--resume`` while the first run still trains) overwrite each other's files. :func:`hold_work_dir` makes training take an
exclusive ``flock`` on ``WORK_DIR/.train.lock`` (by the first process of a
distributed run) and write who holds it (PID, host, start time) into that
file. The system releases the lock when its process dies, however it dies;
a lock file whose lock is free but that still names a holder was left by a
process that died without releasing it, and is taken over with a warning.

An ``flock`` belongs to the open file, which ``fork`` shares: data loader
workers forked by the holder would keep the lock after the holder is
killed, for the seconds they take to notice, and refuse the ``--resume``
that follows. Forked children therefore close their copy at once.
"""
import contextlib
import datetime
import json
import os
import socket
from pathlib import Path
from typing import Iterator, Optional

from mmengine.logging import MMLogger

from convnext_dense.errors import UserError, WorkDirBusyError
from convnext_dense.path_checks import check_output_dir

try:
    import fcntl
except ImportError:  # Windows: no lock, as before
    fcntl = None

#: The lock file, in the work dir.
LOCK_NAME = '.train.lock'

#: The lock file this process holds open, None when it holds none.
_held_fd: Optional[int] = None


def _drop_inherited_lock() -> None:
    """Runs in every forked child: closes its copy of the parent's lock
    file, so that the lock ends with the process that took it."""
    global _held_fd
    if _held_fd is not None:
        os.close(_held_fd)
        _held_fd = None


if hasattr(os, 'register_at_fork'):
    os.register_at_fork(after_in_child=_drop_inherited_lock)


def _describe(holder: dict) -> str:
    return (f'PID {holder.get("pid", "?")} on {holder.get("host", "?")}, '
            f'started {holder.get("started", "?")}')


def _read_holder(fd: int) -> Optional[dict]:
    """The holder a lock file names, None when it is empty or unreadable."""
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 4096).decode('utf-8', errors='replace').strip()
    if not text:
        return None
    try:
        holder = json.loads(text)
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}


def _write_holder(fd: int) -> None:
    holder = dict(pid=os.getpid(), host=socket.gethostname(),
                  started=datetime.datetime.now().astimezone().isoformat(
                      timespec='seconds'))
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, json.dumps(holder).encode())
    os.fsync(fd)


def _open_lock_file(work_dir: Path) -> int:
    """Opens (creating) the lock file; a folder that cannot hold it is one
    error line."""
    check_output_dir(str(work_dir), '--work-dir')
    try:
        work_dir.mkdir(parents=True, exist_ok=True)
        return os.open(work_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise UserError(
            f'--work-dir {work_dir} cannot be written ({error.strerror}): '
            'make it writable or pick another --work-dir') from None


def _lock(fd: int, work_dir: Path) -> None:
    """Takes the lock or raises :class:`WorkDirBusyError` naming its
    holder; warns when taking over a dead holder's lock."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_holder(fd) or {}
        raise WorkDirBusyError(
            f'--work-dir {work_dir} is in use by another training run '
            f'({_describe(holder)}): wait for it to end or stop it, or '
            'pass another --work-dir') from None
    holder = _read_holder(fd)
    if holder is not None:
        MMLogger.get_current_instance().warning(
            f'{work_dir / LOCK_NAME}: took over the lock of a training run '
            f'that ended without releasing it ({_describe(holder)})')


def _is_first_process() -> bool:
    return int(os.environ.get('RANK', '0')) == 0


@contextlib.contextmanager
def hold_work_dir(work_dir: str) -> Iterator[None]:
    """Holds ``work_dir`` for one training run, in the first process of a
    distributed run (the others run under it), until the block ends.

    Args:
        work_dir: The run's work dir (made if absent).

    Raises:
        WorkDirBusyError: when another live run holds it, naming that run's
            PID, host and start time.
        UserError: when ``work_dir`` is a file or cannot be written.
    """
    path = Path(work_dir).absolute()
    if fcntl is None or not _is_first_process():
        yield
        return
    global _held_fd
    fd = _open_lock_file(path)
    try:
        _lock(fd, path)
        _write_holder(fd)
        _held_fd = fd
        try:
            yield
        finally:
            _held_fd = None
            os.ftruncate(fd, 0)  # released cleanly: nothing to take over
    finally:
        os.close(fd)  # releases the lock
