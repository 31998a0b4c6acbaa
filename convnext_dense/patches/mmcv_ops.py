"""Patch: mmcv-lite gets the compiled ops the toolkit's models use.

What is wrong: mmcv 2.1.0 is on PyPI only as source; building its compiled
ops takes 20 minutes or more on 2 cores (longer with CUDA), and mmdet and
mmseg cannot be imported without them. mmcv-lite, the same release without
the extension, installs in seconds, but every ``mmcv.ops`` module asks
``mmcv._ext`` for its functions when imported.

The fix: the import hook ``_convnext_dense_mmcv_ext`` (installed with the
package and run at interpreter start by its ``.pth`` file, so import order
does not matter) serves :mod:`convnext_dense.ops.mmcv_ext` as ``mmcv._ext``
when no compiled one exists: NMS and RoIAlign run the toolkit's kernels,
any other op raises one line naming it and the full build. With mmcv's full
build installed, its own ``mmcv._ext`` is found first and nothing changes.
Switched off (``CONVNEXT_DENSE_DISABLE_PATCHES=mmcv_ops``) the hook adds no
finder; under mmcv-lite that is refused, since mmcv.ops cannot be imported
then (:func:`convnext_dense.patches.disabled_patches`).
"""
import importlib

import _convnext_dense_mmcv_ext


def install() -> None:
    """Adds the import hook (unless the interpreter's start already did)."""
    _convnext_dense_mmcv_ext.install()


def using_toolkit_kernels() -> bool:
    """Whether ``mmcv._ext`` is the toolkit's stand-in (mmcv-lite)."""
    ext = importlib.import_module('mmcv._ext')
    return getattr(ext, 'NAME', None) == _convnext_dense_mmcv_ext.NAME
