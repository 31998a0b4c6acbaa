"""Checks of the tools' path arguments before any work starts.

Each names the argument as the user wrote it (``config``, ``--work-dir``,
``--out``, ...), the path and what to do, in one line: a missing input, a
folder where a file is expected or a file where a folder is, an unreadable
input, an output that cannot be written. Without them these end in a
traceback from mmengine or ``os`` (or, for a folder given as a config, in
"does not exist").
"""
import os
import os.path as osp
from typing import Optional

from convnext_dense.errors import (InputNotFoundError, UnreadableFileError,
                                   UserError)


def check_input_file(path: str, argument: str) -> None:
    """Fails when ``path`` is not a readable file.

    Args:
        path: The path given.
        argument: How the user named it (``config``, ``--checkpoint``, ...).

    Raises:
        InputNotFoundError: ``path`` does not exist.
        UnreadableFileError: it is a folder, or cannot be read.
    """
    if osp.isdir(path):
        raise UnreadableFileError(
            f'{argument} {path} is a folder, not a file: pass a file')
    if not osp.exists(path):
        raise InputNotFoundError(f'{argument} {path} does not exist')
    check_readable(path, argument)


def check_readable(path: str, argument: str) -> None:
    """Fails when existing file ``path`` cannot be read.

    Args:
        path: The file given.
        argument: How the user named it (``config``, ``checkpoint``, ...).

    Raises:
        UnreadableFileError: naming it and what to do.
    """
    if not os.access(path, os.R_OK):
        raise UnreadableFileError(
            f'{argument} {path} cannot be read (permission denied): make it '
            f'readable (chmod u+r) or pass a copy you can read')


def _nearest_existing(path: str) -> str:
    """``path`` or its closest ancestor that exists."""
    path = osp.abspath(path)
    while not osp.exists(path):
        path = osp.dirname(path)
    return path


def _check_writable_at(folder: str, argument: str, path: str) -> None:
    """Fails unless what exists of ``folder`` lets ``path`` (the argument's
    value, ``folder`` or a file in it) be made: folders all the way down to
    it (no file on the way), the last of them writable."""
    existing = _nearest_existing(folder)
    if not osp.isdir(existing):
        raise UserError(
            f'{argument} {path}: {existing} is a file, not a folder: move it '
            f'or pass another {argument}')
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(
            f'{argument} {path} cannot be written ({existing} is not '
            f'writable): make it writable or pass another {argument}')


def check_output_dir(path: Optional[str], argument: str) -> None:
    """Fails when folder ``path`` (made if absent) cannot be written.

    Args:
        path: The folder given, or None (not given: nothing to check).
        argument: How the user named it (``--work-dir``, ``--out-dir``, ...).

    Raises:
        UserError: ``path`` is a file, lies under one, or cannot be written.
    """
    if path is None:
        return
    if osp.exists(path) and not osp.isdir(path):
        raise UserError(f'{argument} {path} is a file, not a folder: pass a '
                        f'folder (made if absent)')
    _check_writable_at(path, argument, path)


def check_output_file(path: Optional[str], argument: str) -> None:
    """Fails when file ``path`` cannot be written (its folder is made if
    absent).

    Args:
        path: The file given, or None (not given: nothing to check).
        argument: How the user named it (``--out``, ...).

    Raises:
        UserError: ``path`` is a folder, lies under a file, or its folder
            cannot be written.
    """
    if path is None:
        return
    if osp.isdir(path):
        raise UserError(f'{argument} {path} is a folder: pass a file name, '
                        f'e.g. {osp.join(path, "out")}')
    if osp.exists(path) and not os.access(path, os.W_OK):
        raise UserError(f'{argument} {path} cannot be written (permission '
                        f'denied): make it writable or pass another '
                        f'{argument}')
    _check_writable_at(osp.dirname(osp.abspath(path)), argument, path)
