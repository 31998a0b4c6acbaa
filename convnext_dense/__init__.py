"""convnext-dense: ConvNeXt as a dense-prediction backbone on OpenMMLab 2.x.

Importing the package registers its components in the ``convnext_dense``
registry scope and installs the fixes to the stack that every entry point
needs: weights-only checkpoint loading for all of mmengine's loaders,
all-or-nothing checkpoint writes, and a RoIAlign that is correct for any
memory format.
"""
from . import checkpoint, engine, models, ops
from .checkpoint import atomic_save as _atomic_save
from .checkpoint import safe_load as _safe_load

__version__ = '0.1.0'

_safe_load.install()
_atomic_save.install()
ops.install()

__all__ = ['checkpoint', 'engine', 'models', 'ops', '__version__']
