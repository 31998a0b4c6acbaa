"""Patch: a checkpoint that does not fit the model, said in one line.

What is wrong: mmengine's ``load_state_dict`` (behind ``load_from``,
``--resume``, tools/test.py's and tools/infer.py's checkpoint, and a
``Pretrained`` init of a module) loads the tensors whose names and shapes fit
and prints every missing, unexpected and mismatched key over many lines. A
checkpoint fine-tuned for another number of classes, one of another backbone
arch and one of another kind altogether (ImageNet weights given as
``load_from``) all end in the same wall of keys, and a test with weights that
start fresh runs to the end with meaningless results.

The fix: :func:`install` replaces it (non-strict loads only) by one that
compares names and shapes first:

* no tensor fits: :class:`~convnext_dense.errors.CheckpointFormatError`;
* the backbone does not fit (tensors missing or of another shape): the same
  error, naming the first such tensor (another arch);
* anything else that does not fit (heads trained for another
  ``num_classes``, modules the checkpoint lacks) starts fresh, and one warning
  line names those modules, their shapes and their head's ``num_classes``;
* inside :func:`exact_fit` (tools/test.py, tools/infer.py) any tensor that
  would start fresh is an error: a model tested with fresh weights gives
  meaningless results.
"""
import contextlib
from contextvars import ContextVar
from typing import Dict, Iterator, List, Mapping, Optional, Tuple

import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.model import BaseTTAModel, is_model_wrapper
from mmengine.runner import checkpoint as mmengine_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader

from convnext_dense.errors import CheckpointFormatError

#: The checkpoint read last (set by CheckpointLoader.load_checkpoint), named
#: in the messages.
_SOURCE: ContextVar[Optional[str]] = ContextVar('checkpoint_source',
                                                default=None)
_EXACT: ContextVar[bool] = ContextVar('checkpoint_exact_fit', default=False)
#: mmengine's own ``load_state_dict`` (set by :func:`install`).
_ORIGINAL: Dict[str, object] = {}
#: Shapes, as (in the checkpoint, in the model).
Shapes = Tuple[Tuple[int, ...], Tuple[int, ...]]
#: Modules listed in a message.
_SHOWN = 6


@contextlib.contextmanager
def exact_fit() -> Iterator[None]:
    """Within it, loading a checkpoint in which any tensor of the model is
    missing or of another shape is an error (testing, inference)."""
    token = _EXACT.set(True)
    try:
        yield
    finally:
        _EXACT.reset(token)


def _unwrap(module: nn.Module) -> nn.Module:
    while is_model_wrapper(module) or isinstance(module, BaseTTAModel):
        module = module.module
    return module


def compare(model: nn.Module, state_dict: Mapping) -> Tuple[
        List[str], Dict[str, Shapes], List[str], List[str]]:
    """How ``state_dict`` fits ``model``.

    Returns:
        tuple: the model's tensors it fits, those of another shape (with
        their shapes), those it lacks (BatchNorm's ``num_batches_tracked``
        left out) and its tensors the model does not have.
    """
    own = model.state_dict()
    fits, other_shape = [], {}
    for key, value in state_dict.items():
        if key not in own:
            continue
        shape = tuple(getattr(value, 'shape', ()))
        if shape == tuple(own[key].shape):
            fits.append(key)
        else:
            other_shape[key] = (shape, tuple(own[key].shape))
    missing = [k for k in own if k not in state_dict
               and not k.endswith('num_batches_tracked')]
    unexpected = [k for k in state_dict if k not in own]
    return fits, other_shape, missing, unexpected


def _head(model: nn.Module,
          module_path: str) -> Tuple[Optional[str], Optional[int]]:
    """The nearest module on ``module_path`` with an int ``num_classes`` (a
    head), as (path, num_classes); (None, None) when there is none."""
    parts = module_path.split('.')
    for end in range(len(parts), 0, -1):
        path = '.'.join(parts[:end])
        try:
            module = model.get_submodule(path)
        except AttributeError:
            continue
        if isinstance(getattr(module, 'num_classes', None), int):
            return path, module.num_classes
    return None, None


def _fmt(shape: Tuple[int, ...]) -> str:
    return '[' + ', '.join(map(str, shape)) + ']'


def _classes_there(theirs: Tuple[int, ...], ours: Tuple[int, ...],
                   num_classes: int) -> Optional[int]:
    """The checkpoint's num_classes, when the shapes differ only in the first
    dimension and ours is num_classes (+1 for background, or x4 for boxes)."""
    if not theirs or len(theirs) != len(ours) or theirs[1:] != ours[1:]:
        return None
    if ours[0] == num_classes:
        return theirs[0]
    if ours[0] == num_classes + 1:
        return theirs[0] - 1
    if ours[0] == 4 * num_classes and theirs[0] % 4 == 0:
        return theirs[0] // 4
    return None


def describe_fresh(model: nn.Module, other_shape: Dict[str, Shapes],
                   missing: List[str]) -> str:
    """The modules whose tensors start fresh, and why, for one line."""
    modules: Dict[str, str] = {}
    for key, (theirs, ours) in other_shape.items():
        path, name = key.rsplit('.', 1)
        if path in modules:
            continue
        why = f'{name} {_fmt(theirs)} in the checkpoint, {_fmt(ours)} here'
        _, classes = _head(model, path)
        there = (_classes_there(theirs, ours, classes)
                 if classes is not None else None)
        if there is not None:
            why += f': num_classes {there} there, {classes} here'
        modules[path] = f'{path} ({why})'
    absent: Dict[str, int] = {}  # heads (or top modules) -> tensors
    for key in missing:
        head, _ = _head(model, key.rsplit('.', 1)[0])
        group = head or '.'.join(key.split('.')[:2])
        absent[group] = absent.get(group, 0) + 1
    for group, count in absent.items():
        modules.setdefault(
            group, f'{group} ({count} tensors not in the checkpoint)')
    shown = list(modules.values())[:_SHOWN]
    more = len(modules) - len(shown)
    return ', '.join(shown) + (f' and {more} more modules' if more else '')


def _check(model: nn.Module, state_dict: Mapping,
           source: str) -> Tuple[str, Dict[str, Shapes]]:
    """Raises when the checkpoint must not be loaded.

    Returns:
        tuple: the warning line for what starts fresh ('' when everything
        fits) and the tensors of another shape, which are not loaded.
    """
    fits, other_shape, missing, unexpected = compare(model, state_dict)
    if not fits:
        ours = ', '.join(list(model.state_dict())[:2])
        theirs = ', '.join(list(state_dict)[:3]) or 'none'
        raise CheckpointFormatError(
            f'{source} holds none of this model\'s weights (its '
            f'{len(state_dict)} entries are named like {theirs}; the '
            f'model\'s like {ours}): load_from takes a checkpoint of this '
            f'kind of model; to start from backbone weights (e.g. ImageNet) '
            f"set model.backbone.init_cfg=dict(type='Pretrained', "
            f'checkpoint=PATH) instead')
    backbone = [k for k in other_shape if k.startswith('backbone.')] + [
        k for k in missing if k.startswith('backbone.')]
    if backbone:
        key = backbone[0]
        what = (f'{key} is {_fmt(other_shape[key][0])} there and '
                f'{_fmt(other_shape[key][1])} here' if key in other_shape
                else f'{key} is not in it')
        raise CheckpointFormatError(
            f'{source} does not fit this model\'s backbone: '
            f'{len(backbone)} of its tensors are missing or of another shape '
            f'({what}): it was trained with another backbone arch; set the '
            f'arch it was trained with')
    if not other_shape and not missing:
        return '', other_shape
    fresh = describe_fresh(model, other_shape, missing)
    count = len(other_shape) + len(missing)
    if _EXACT.get():
        raise CheckpointFormatError(
            f'{source} does not fit this model: {count} tensors would start '
            f'fresh: {fresh}; use the config it was trained with')
    unused = (f'; {len(unexpected)} checkpoint tensors unused'
              if unexpected else '')
    return (f'{source}: loaded {len(fits)} of the model\'s '
            f'{len(fits) + count} tensors; {count} start fresh: '
            f'{fresh}{unused}'), other_shape


def load_state_dict(module: nn.Module,
                    state_dict: Mapping,
                    strict: bool = False,
                    logger=None) -> None:
    """mmengine's ``load_state_dict``, with what does not fit said in one line.

    Args:
        module: The model (model wrappers and TTA models are looked through).
        state_dict: The checkpoint's weights.
        strict: Any difference is an error (mmengine's own function).
        logger: Unused: the line goes to mmengine's current logger.

    Raises:
        CheckpointFormatError: nothing fits, the backbone does not fit, or
            (inside :func:`exact_fit`) anything does not fit.
    """
    if strict:
        return _ORIGINAL['load_state_dict'](module, state_dict, strict, logger)
    model = _unwrap(module)
    source = _SOURCE.get()
    line, other_shape = _check(
        model, state_dict,
        f'checkpoint {source}' if source else 'the checkpoint')
    fitting = type(state_dict)(
        (k, v) for k, v in state_dict.items() if k not in other_shape)
    metadata = getattr(state_dict, '_metadata', None)
    if metadata is not None:
        fitting._metadata = metadata
    _ORIGINAL['load_state_dict'](module, fitting, False, 'silent')
    if line:
        MMLogger.get_current_instance().warning(line)


def _noting_source(load_checkpoint):
    """``CheckpointLoader.load_checkpoint`` that records the file it reads,
    to be named in :func:`load_state_dict`'s messages."""

    def load(cls, filename, map_location=None, logger='current'):
        _SOURCE.set(str(filename))
        return load_checkpoint(cls, filename, map_location, logger)

    return classmethod(load)


def install() -> None:
    """Replaces mmengine's non-strict ``load_state_dict``."""
    _ORIGINAL['load_state_dict'] = mmengine_checkpoint.load_state_dict
    mmengine_checkpoint.load_state_dict = load_state_dict
    loader = CheckpointLoader.__dict__['load_checkpoint'].__func__
    CheckpointLoader.load_checkpoint = _noting_source(loader)
