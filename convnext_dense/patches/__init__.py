"""Fixes to the OpenMMLab / torch stack, one module per fix.

Each module's docstring says what is wrong in the stack and how it is fixed:

* :mod:`.mmcv_ops`: under mmcv-lite, ``mmcv._ext`` is the toolkit's kernels
  (NMS, RoIAlign; :mod:`convnext_dense.ops`), so that mmdet and mmseg import
  and run without mmcv's compiled build;
* :mod:`.weights_only_load`: mmengine's checkpoint loaders unpickle weights
  only, with mmengine's own objects allowed; unsafe checkpoints are refused;
* :mod:`.checkpoint_fit`: a checkpoint that does not fit the model is one
  line: heads of another ``num_classes`` start fresh, another backbone arch
  is an error, and tools/test.py and tools/infer.py need an exact fit;
* :mod:`.atomic_save`: checkpoint writes are all-or-nothing, and a failed
  write is one error naming the path;
* :mod:`.rotate_after_save`: with ``max_keep_ckpts``, the outdated checkpoint
  is deleted only after the new one is saved;
* :mod:`.contiguous_roi_align`: mmcv's RoIAlign is right for channels_last
  inputs;
* :mod:`.fast_roi_align_cpu`: mmcv's RoIAlign ('avg' mode) on the CPU is
  separable matrix products: its results to float rounding, forward and
  backward several times faster;
* :mod:`.amp_fallback`: an ``AmpOptimWrapper`` config trains in fp32 (one
  warning) on a machine without CUDA.

``import convnext_dense`` calls :func:`install`, so every entry point (the
tools, a config's ``custom_imports``, a user's script) gets them all.
"""
from . import mmcv_ops  # noqa: I001 (first: the others import mmcv.ops)
from . import (amp_fallback, atomic_save, checkpoint_fit, contiguous_roi_align,
               fast_roi_align_cpu, rotate_after_save, weights_only_load)

#: The fixes, in the order they are installed.
PATCHES = (mmcv_ops, weights_only_load, checkpoint_fit, atomic_save,
           rotate_after_save, contiguous_roi_align, fast_roi_align_cpu,
           amp_fallback)


def install() -> None:
    """Installs every fix; calling it again changes nothing."""
    for patch in PATCHES:
        patch.install()


__all__ = ['PATCHES', 'install']
