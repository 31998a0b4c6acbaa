"""Every change convnext-dense makes to another package, one module each.

:mod:`.registry` lists them (:data:`PATCHES`: name, what it fixes, the
upstream symbols it replaces). ``import convnext_dense`` calls
:func:`install` once, so every entry point (the tools, a config's
``custom_imports``, a user's script) gets them all; :func:`installed` lists
what is in place.

To switch patches off, name them in the environment variable
``CONVNEXT_DENSE_DISABLE_PATCHES`` (comma-separated, read when the package is
imported), e.g. ``CONVNEXT_DENSE_DISABLE_PATCHES=atomic_save,amp_fallback``;
their upstream symbols stay as the packages define them.
``python -m convnext_dense.patches`` prints the list (docs/stack-changes.md).
"""
from .registry import (DISABLE_VARIABLE, PATCHES, Patch, disabled_patches,
                       install, installed, is_installed)

__all__ = ['DISABLE_VARIABLE', 'PATCHES', 'Patch', 'disabled_patches',
           'install', 'installed', 'is_installed']
