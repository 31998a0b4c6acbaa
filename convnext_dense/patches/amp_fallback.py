"""Patch: a mixed-precision config trains in fp32 on a machine without CUDA.

What is wrong: mmengine 0.10.7's ``AmpOptimWrapper`` asserts a CUDA (or NPU,
MLU, MUSA) device when it is built, so the paper's fp16 configs, and
``tools/train.py --amp``, stop with an assertion on a CPU-only machine.

The fix: :func:`install` wraps ``Runner.build_optim_wrapper``, the one place
every mmengine Runner turns its ``optim_wrapper`` config into an object (for
training and for resuming). Where no such device is available, an
``AmpOptimWrapper`` config is built as a plain ``OptimWrapper`` without its
AMP-only keys, and the Runner logs one warning for the run.
"""
import copy
import functools
from typing import Any, Callable, Mapping

from mmengine.device import (is_cuda_available, is_mlu_available,
                             is_musa_available, is_npu_available)
from mmengine.runner import Runner

#: What the Runner logs, once, when it falls back.
WARNING = ('the config asks for mixed precision (AmpOptimWrapper) but CUDA is '
           'not available: training in fp32 instead')
#: Keys only ``AmpOptimWrapper`` takes.
AMP_ONLY_KEYS = ('loss_scale', 'dtype', 'use_fsdp')

_WARNED = '_convnext_dense_warned_amp_fallback'


def amp_is_supported() -> bool:
    """Whether ``AmpOptimWrapper`` can be built here (its own device check)."""
    return (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available())


def asks_for_amp(optim_wrapper: Any) -> bool:
    """Whether an optim_wrapper config names ``AmpOptimWrapper``."""
    if not isinstance(optim_wrapper, Mapping):
        return False
    kind = optim_wrapper.get('type')
    name = kind if isinstance(kind, str) else getattr(kind, '__name__', '')
    return name.split('.')[-1] == 'AmpOptimWrapper'


def fall_back_to_fp32(optim_wrapper: Any) -> Any:
    """An ``AmpOptimWrapper`` config as an ``OptimWrapper`` one, if needed.

    Args:
        optim_wrapper: An optim_wrapper config (or an already built wrapper,
            returned as it is).

    Returns:
        ``optim_wrapper`` itself when it does not ask for AMP or AMP is
        supported here; otherwise a copy with ``type='OptimWrapper'`` and
        without :data:`AMP_ONLY_KEYS`. The argument is never modified.
    """
    if not asks_for_amp(optim_wrapper) or amp_is_supported():
        return optim_wrapper
    fp32 = copy.copy(optim_wrapper)
    fp32['type'] = 'OptimWrapper'
    for key in AMP_ONLY_KEYS:
        fp32.pop(key, None)
    return fp32


def _with_fp32_fallback(build: Callable) -> Callable:
    """Wraps ``Runner.build_optim_wrapper``: falls back, warns once a Runner."""

    @functools.wraps(build)
    def build_optim_wrapper(runner: Runner, optim_wrapper: Any) -> Any:
        fp32 = fall_back_to_fp32(optim_wrapper)
        if fp32 is not optim_wrapper and not getattr(runner, _WARNED, False):
            runner.logger.warning(WARNING)
            setattr(runner, _WARNED, True)
        return build(runner, fp32)

    return build_optim_wrapper


def install() -> None:
    """Makes every mmengine Runner fall back to fp32 without CUDA."""
    Runner.build_optim_wrapper = _with_fp32_fallback(
        Runner.build_optim_wrapper)
