"""Checks of a checkpoint file before torch reads it.

torch's own messages for a file that is not a checkpoint are misleading:
``KeyError: 101`` for a text file, ``EOFError`` with no message for an empty
one, an internal miniz error for a truncated zip. :func:`check_checkpoint_file`
reads the file's first bytes and, for a zip checkpoint, its central directory
(both cheap, whatever the file's size), and says in one line what is wrong.
"""
import os
import os.path as osp
import zipfile
from typing import List

from convnext_dense.errors import InputNotFoundError, UnreadableFileError
from convnext_dense.path_checks import check_readable

#: How ``torch.save`` files start: a zip archive (torch >= 1.6), or a pickle
#: of protocol 2 or later (the legacy format).
ZIP_MAGIC = b'PK\x03\x04'
PICKLE_MAGIC = b'\x80'
#: File names a folder passed as a checkpoint may hold.
CHECKPOINT_SUFFIXES = ('.pth', '.pt', '.ckpt', '.bin', '.tar')


def _checkpoints_in(folder: str, limit: int = 3) -> List[str]:
    """Up to ``limit`` checkpoint files in ``folder``; mmengine's
    ``last_checkpoint`` (the path of the latest) first."""
    found = []
    last = osp.join(folder, 'last_checkpoint')
    if osp.isfile(last):
        with open(last) as f:
            latest = f.read().strip()
        if latest:
            found.append(latest)
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        names = []
    found += [osp.join(folder, name) for name in names
              if name.endswith(CHECKPOINT_SUFFIXES)
              and osp.join(folder, name) not in found]
    return found[:limit]


def check_checkpoint_file(path: str) -> None:
    """Fails in one line when ``path`` cannot be a checkpoint torch reads.

    A legacy-format (pickle) file passes when its first byte is right; its
    truncation shows when torch reads it (see
    :func:`convnext_dense.patches.weights_only_load.safe_torch_load`).

    Args:
        path: A local file named as a checkpoint (``load_from``, ``--resume``,
            tools/test.py's and tools/infer.py's checkpoint, a ``Pretrained``
            ``init_cfg``).

    Raises:
        InputNotFoundError: ``path`` does not exist.
        UnreadableFileError: ``path`` is a folder, an empty file, a truncated
            zip checkpoint, or a file of another kind (text, an image, ...).
    """
    if osp.isdir(path):
        inside = _checkpoints_in(path)
        hint = (f'pass one of its files, e.g. {", ".join(inside)}'
                if inside else 'it holds no checkpoint files')
        raise UnreadableFileError(
            f'checkpoint {path} is a folder, not a checkpoint file: {hint}')
    if not osp.exists(path):
        raise InputNotFoundError(f'checkpoint {path} does not exist')
    check_readable(path, 'checkpoint')
    size = osp.getsize(path)
    if size == 0:
        raise UnreadableFileError(
            f'checkpoint {path} is empty (0 bytes): it was not written '
            f'completely; use another checkpoint')
    with open(path, 'rb') as f:
        head = f.read(16)
    if head.startswith(ZIP_MAGIC):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError):
            raise UnreadableFileError(
                f'checkpoint {path} is truncated or corrupt ({size} bytes, a '
                f'zip archive without its end): it was not written or copied '
                f'completely; use another copy') from None
        if not any(name.endswith('data.pkl') for name in names):
            raise UnreadableFileError(
                f'checkpoint {path} is a zip archive but not a PyTorch '
                f'checkpoint (no data.pkl inside): pass a file written by '
                f'torch.save')
    elif not head.startswith(PICKLE_MAGIC):
        raise UnreadableFileError(
            f'checkpoint {path} is not a PyTorch checkpoint (it starts with '
            f'{head!r}): pass a file written by torch.save (.pth)')
