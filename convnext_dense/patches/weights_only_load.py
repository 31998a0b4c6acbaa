"""Patch: weights-only checkpoint loading for every path mmengine offers.

What is wrong: torch >= 2.6 unpickles with ``weights_only=True`` by default,
and mmengine 0.10.7 never says otherwise, so its own checkpoints (which pickle
a few mmengine and numpy objects in ``message_hub`` and ``meta``) fail to load
for ``load_from``, ``--resume`` and testing. Turning ``weights_only`` off would
let any checkpoint run code.

The fix: :func:`install` replaces mmengine's checkpoint loaders (local files
and every remote scheme) by ones that unpickle weights only, with exactly the
objects mmengine's checkpoints need allowed, and that refuse anything else
with a one-line :class:`~convnext_dense.errors.UnsafeCheckpointError`. A
missing local checkpoint is a one-line
:class:`~convnext_dense.errors.InputNotFoundError`; a folder, an empty,
truncated or corrupt file, or one that is not a PyTorch checkpoint, a
one-line :class:`~convnext_dense.errors.UnreadableFileError`
(:mod:`convnext_dense.checkpoint.files`).
"""
import functools
import os.path as osp
import pickle
import re
from typing import Any, Callable, List, Optional, Set

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

from convnext_dense.checkpoint.files import check_checkpoint_file
from convnext_dense.errors import (InputNotFoundError, UnreadableFileError,
                                   UnsafeCheckpointError)

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct, scalar
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import _reconstruct, scalar

#: Statistics methods a HistoryBuffer pickles by reference (as
#: ``getattr(HistoryBuffer, name)``): its built-in ones and registered ones.
_HISTORY_BUFFER_METHODS = frozenset({'min', 'max', 'current', 'mean'})


def history_buffer_method(owner: Any, name: str) -> Callable:
    """Stands in for ``builtins.getattr`` while unpickling a checkpoint.

    mmengine pickles a HistoryBuffer's statistics methods as
    ``getattr(HistoryBuffer, 'mean')``; a general getattr would hand a
    malicious file any attribute of any allowed object, and the methods it
    returns are called later. Only HistoryBuffer's statistics methods pass.
    """
    allowed = _HISTORY_BUFFER_METHODS | set(HistoryBuffer._statistics_methods)
    if owner is not HistoryBuffer or name not in allowed:
        raise pickle.UnpicklingError(
            f'GLOBAL builtins.getattr on {owner!r}.{name} is not allowed')
    return getattr(owner, name)


#: Exactly the non-tensor objects mmengine's Runner pickles into its
#: checkpoints: the message hub's HistoryBuffers (numpy arrays and scalars
#: inside, statistics methods by reference) and numpy scalars in ``meta``.
MMENGINE_CHECKPOINT_GLOBALS: List[Any] = [
    HistoryBuffer,
    _reconstruct,
    scalar,
    np.ndarray,
    np.dtype,
    *sorted({type(np.dtype(code)) for code in '?bhilqBHILQefd'},
            key=lambda t: t.__name__),
    (history_buffer_method, 'builtins.getattr'),
]


def allowed_global_names() -> Set[str]:
    """The pickle names of :data:`MMENGINE_CHECKPOINT_GLOBALS`."""
    return {
        g[1] if isinstance(g, tuple) else f'{g.__module__}.{g.__qualname__}'
        for g in MMENGINE_CHECKPOINT_GLOBALS
    }


def _unsafe_globals(filename: str, error: Exception) -> str:
    """Names what the checkpoint would call, read without unpickling it."""
    try:
        found = torch.serialization.get_unsafe_globals_in_checkpoint(filename)
        found = sorted(set(found) - allowed_global_names())
    except Exception:  # not a local zip checkpoint: read torch's message
        found = []
    message = str(error)
    found = found or [
        a or b for a, b in re.findall(
            r"GLOBAL (\S+)|got <class '([^']+)'>", message)
    ]
    return ', '.join(found) or message.strip().splitlines()[-1]


def _refusal(filename: str, error: Exception) -> UnsafeCheckpointError:
    return UnsafeCheckpointError(
        f'refused to load checkpoint {filename}: unpickling it would call '
        f'{_unsafe_globals(filename, error)}, which can run arbitrary code; '
        f'only tensors, containers and mmengine training state are loaded. '
        f'Re-save the weights as a plain state dict with code you trust.')


def safe_torch_load(filename: Any,
                    map_location: Optional[Any] = None) -> Any:
    """``torch.load`` with ``weights_only=True`` and mmengine's objects allowed.

    Raises:
        UnsafeCheckpointError: when the file would need any other global.
        UnreadableFileError: when torch finds the file truncated or corrupt.
    """
    with torch.serialization.safe_globals(MMENGINE_CHECKPOINT_GLOBALS):
        try:
            return torch.load(
                filename, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as error:
            if 'GLOBAL' not in str(error) and _READ_FAILURE.search(
                    str(error)):
                raise _unreadable(str(filename), error) from None
            raise _refusal(str(filename), error) from None
        except (EOFError, IndexError, KeyError, ValueError,
                RuntimeError) as error:
            # What a cut or damaged pickle raises; a RuntimeError may also
            # be about the device, which is not the file's fault.
            if not isinstance(error, RuntimeError) or _READ_FAILURE.search(
                    str(error)):
                raise _unreadable(str(filename), error) from None
            raise


#: What torch says about a file it cannot read (as opposed to one it refuses).
_READ_FAILURE = re.compile(
    r'EOF|zip archive|corrupt|invalid load key|magic number|truncated', re.I)


def _unreadable(filename: str, error: Exception) -> UnreadableFileError:
    lines = [line.strip() for line in str(error).splitlines()]
    reason = next((line for line in lines if _READ_FAILURE.search(line)),
                  f'{type(error).__name__}: {lines[0]}' if lines and lines[0]
                  else type(error).__name__)
    return UnreadableFileError(
        f'checkpoint {filename} could not be read ({reason[:160]}): it is '
        f'truncated or corrupt; use another copy')


def load_from_local(filename: str, map_location: Optional[Any] = None) -> Any:
    """mmengine's local-file loader, weights only.

    Raises:
        InputNotFoundError: when ``filename`` does not exist.
        UnreadableFileError: when it is a folder, an empty, truncated or
            corrupt file, or not a PyTorch checkpoint
            (:func:`~convnext_dense.checkpoint.files.check_checkpoint_file`).
        UnsafeCheckpointError: when unpickling it could run code.
    """
    filename = osp.expanduser(filename)
    if not osp.exists(filename):
        raise InputNotFoundError(
            f'checkpoint {filename} does not exist: check the path given to '
            f'load_from, --resume, --checkpoint or init_cfg.checkpoint')
    check_checkpoint_file(filename)
    return safe_torch_load(filename, map_location)


def _guard(loader: Callable) -> Callable:
    """Runs one of mmengine's remote loaders with the same allow-list and refusal.

    They call ``torch.load`` without ``weights_only``, which torch >= 2.6 takes
    as True; the allow-list context lets mmengine's own objects through.
    """

    @functools.wraps(loader)
    def guarded(filename: str, map_location: Optional[Any] = None) -> Any:
        with torch.serialization.safe_globals(MMENGINE_CHECKPOINT_GLOBALS):
            try:
                return loader(filename, map_location)
            except UnsafeCheckpointError:
                raise
            except pickle.UnpicklingError as error:
                raise _refusal(filename, error) from None

    return guarded


def install() -> None:
    """Routes every mmengine checkpoint scheme through the weights-only loaders."""
    schemes = dict(CheckpointLoader._schemes)
    for prefix, loader in schemes.items():
        replacement = load_from_local if prefix == '' else loader
        CheckpointLoader.register_scheme(
            prefixes=prefix, loader=_guard(replacement), force=True)
