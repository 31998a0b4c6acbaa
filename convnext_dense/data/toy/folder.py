"""What the toy-data generators do with their output folder: one contract.

* ``root`` holds a complete dataset generated with the same arguments (its
  meta file records them): it is kept, and nothing is written.
* ``root`` does not exist, or is an empty folder: the dataset is written.
* Anything else under ``root`` (a dataset of other arguments, an incomplete
  one, other files) is refused with a one-line
  :class:`~convnext_dense.errors.OutputExistsError`, unless ``overwrite`` is
  set, which replaces it.

Files are written into a temporary sibling folder that is renamed to ``root``
once complete, so an interrupted run never leaves a half dataset under the
final name; the temporary folders a killed run leaves are removed by the next.

Concurrent runs into the same ``root`` (two shells, parallel test sessions)
take turns: each holds an exclusive lock on ``root``'s parent folder (POSIX
``flock``, released by the system when a process dies) from its check to its
rename, and the later one then finds the dataset written (and keeps it) or
refuses it as above. Without ``fcntl`` (Windows) runs do not wait for each
other.
"""
import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Callable, Iterator, Optional, Set

from mmengine.logging import MMLogger

from convnext_dense.errors import OutputExistsError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

#: Writes a dataset's files (not the meta file) into the given folder.
Writer = Callable[[Path], None]
#: Whether the given folder holds every file of the dataset.
CompletenessCheck = Callable[[Path], bool]


def mismatch(root: Path, meta_file: str, meta: dict,
             is_complete: CompletenessCheck) -> Optional[str]:
    """Why ``root`` does not hold the dataset ``meta`` describes, or None.

    Args:
        root: The dataset folder.
        meta_file: Name of the meta file inside ``root``.
        meta: The generator's arguments (and version), as the meta file
            records them.
        is_complete: Checks the dataset's files.

    Returns:
        None when ``root`` holds that dataset, complete; otherwise what it
        holds instead, for a message.
    """
    meta_path = root / meta_file
    if not meta_path.is_file():
        return f'no {meta_file} (not a toy dataset of this kind)'
    try:
        found = json.loads(meta_path.read_text())
    except ValueError:
        return f'an unreadable {meta_file}'
    if not isinstance(found, dict):
        return f'an unreadable {meta_file}'
    differences = [
        f'{key}={found.get(key)!r} (asked: {value!r})'
        for key, value in meta.items() if found.get(key) != value
    ]
    if differences:
        return f'a toy dataset with {", ".join(differences)}'
    if not is_complete(root):
        return 'an incomplete toy dataset (files are missing)'
    return None


def write_dataset(root: Path,
                  meta_file: str,
                  meta: dict,
                  write: Writer,
                  is_complete: CompletenessCheck,
                  overwrite: bool = False) -> bool:
    """Writes a toy dataset into ``root`` following the module's contract.

    Args:
        root: The dataset folder.
        meta_file: Name of the meta file written into ``root`` last.
        meta: The generator's arguments (and version), JSON-serialisable.
        write: Writes the dataset's files into a given (new) folder.
        is_complete: Checks the dataset's files in a folder.
        overwrite: Replace whatever else ``root`` holds. Defaults to False.

    Returns:
        True when the dataset was written, False when it was already there.

    Raises:
        OutputExistsError: ``root`` holds something else and ``overwrite``
            is False.
    """
    root = Path(root)
    with locked(root):
        _remove_leftovers(root)
        if root.exists() and not _is_empty_dir(root):
            found = mismatch(root, meta_file, meta, is_complete)
            if found is None:
                return False
            if not overwrite:
                raise OutputExistsError(
                    f'{root} already exists and holds {found}: pass '
                    f'--overwrite (overwrite=True) to replace it, or choose '
                    f'another root')
        tmp = root.with_name(f'.{root.name}.tmp{os.getpid()}')
        _remove(tmp)
        try:
            tmp.mkdir()
            write(tmp)
            (tmp / meta_file).write_text(json.dumps(meta, indent=2))
            _rename_into_place(tmp, root)
        finally:
            _remove(tmp)
    return True


#: Parent folders this process holds the lock of (the lock is re-entrant).
_HELD: Set[str] = set()


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    """Holds the exclusive lock on ``root``'s parent folder (created if
    missing), waiting for another process that holds it, with one log line.

    Args:
        root: A dataset folder.
    """
    parent = Path(root).absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    key = str(parent)
    if fcntl is None or key in _HELD:
        yield
        return
    fd = os.open(parent, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            MMLogger.get_current_instance().info(
                f'waiting for another run writing into {parent}/')
            fcntl.flock(fd, fcntl.LOCK_EX)
        _HELD.add(key)
        try:
            yield
        finally:
            _HELD.discard(key)
    finally:
        os.close(fd)  # releases the lock


def _remove_leftovers(root: Path) -> None:
    """Removes the temporary folders of runs that were killed (SIGKILL,
    power loss) before their cleanup; call it holding :func:`locked`."""
    for pattern in (f'.{root.name}.tmp*', f'.{root.name}.old*'):
        for path in root.parent.glob(pattern):
            _remove(path)


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _rename_into_place(tmp: Path, root: Path) -> None:
    """Renames ``tmp`` to ``root``; what ``root`` held is moved aside first
    and deleted after, so ``root`` is never a half-deleted dataset."""
    aside = root.with_name(f'.{root.name}.old{os.getpid()}')
    if root.exists() or root.is_symlink():
        _remove(aside)
        os.replace(root, aside)
    os.replace(tmp, root)
    _remove(aside)
