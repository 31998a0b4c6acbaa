"""convnext-dense: ConvNeXt as a dense-prediction backbone on OpenMMLab 2.x.

Importing the package registers its components in the ``convnext_dense``
registry scope and installs the fixes to the stack that every entry point
needs (:mod:`convnext_dense.patches`): weights-only checkpoint loading for all
of mmengine's loaders, all-or-nothing checkpoint writes, a RoIAlign that is
correct for any memory format, and fp32 training of AMP configs without CUDA.
Under mmcv-lite, mmcv's compiled ops come from :mod:`convnext_dense.ops`
(:mod:`.patches.mmcv_ops`). ``convnext_dense.patches.installed()`` lists what
is installed; ``CONVNEXT_DENSE_DISABLE_PATCHES`` switches patches off.
"""
import importlib.util
import sys

# Before anything imports mmcv.ops: under mmcv-lite it needs the stand-in.
import _convnext_dense_mmcv_ext  # noqa: F401,I001

if importlib.util.find_spec('mmcv') is None:
    raise ImportError(
        "convnext-dense needs mmcv 2.1.0: pip install 'convnext-dense"
        "[mmcv-lite]' (no compiler), or mmcv's full build (make install "
        'MMCV=full)')

# Before anything imports mmcv.ops: a switch-off this environment cannot run
# with is one error naming it, not a failed import further on. It is the
# environment that is wrong, not the importing code: one `error:` line and
# exit code 2, as the tools report every bad input.
from . import patches  # noqa: I001
from .errors import PatchSwitchError
try:
    patches.disabled_patches()
except PatchSwitchError as error:
    print(f'error: {error}', file=sys.stderr)
    raise SystemExit(2) from None

from . import checkpoint, engine, errors, models, ops

__version__ = '0.1.0'

patches.install()

__all__ = ['checkpoint', 'engine', 'errors', 'models', 'ops', 'patches',
           '__version__']
