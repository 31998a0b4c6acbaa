"""Fixes to the OpenMMLab / torch stack, one module per fix.

Each module's docstring says what is wrong in the stack and how it is fixed:

* :mod:`.weights_only_load`: mmengine's checkpoint loaders unpickle weights
  only, with mmengine's own objects allowed; unsafe checkpoints are refused;
* :mod:`.atomic_save`: checkpoint writes are all-or-nothing;
* :mod:`.contiguous_roi_align`: mmcv's RoIAlign is right for channels_last
  inputs;
* :mod:`.amp_fallback`: an ``AmpOptimWrapper`` config trains in fp32 (one
  warning) on a machine without CUDA.

``import convnext_dense`` calls :func:`install`, so every entry point (the
tools, a config's ``custom_imports``, a user's script) gets them all.
"""
from . import (amp_fallback, atomic_save, contiguous_roi_align,
               weights_only_load)

#: The fixes, in the order they are installed.
PATCHES = (weights_only_load, atomic_save, contiguous_roi_align, amp_fallback)


def install() -> None:
    """Installs every fix; calling it again changes nothing."""
    for patch in PATCHES:
        patch.install()


__all__ = ['PATCHES', 'install']
