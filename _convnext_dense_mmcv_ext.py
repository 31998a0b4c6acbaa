"""Makes ``import mmcv._ext`` work under mmcv-lite, whatever is imported first.

Installed with convnext-dense, with ``_convnext_dense_mmcv_ext.pth`` that
imports it when the interpreter starts (so that ``import mmdet.apis`` works
before ``import convnext_dense``); ``import convnext_dense`` imports it too.
It adds one finder at the end of ``sys.meta_path``: asked for ``mmcv._ext``,
which only happens when no compiled ``mmcv._ext`` was found (mmcv-lite), it
loads ``convnext_dense/ops/mmcv_ext.py`` under that name. It imports nothing
else and does nothing for any other module.

It is the ``mmcv_ops`` entry of :mod:`convnext_dense.patches`: naming
``mmcv_ops`` in the environment variable ``CONVNEXT_DENSE_DISABLE_PATCHES``
(read here, when the interpreter starts, and by the registry) leaves the
finder out.
"""
import importlib.util
import os
import sys
from typing import FrozenSet

NAME = 'mmcv._ext'
#: This hook's name among convnext_dense's patches.
PATCH_NAME = 'mmcv_ops'
#: The environment variable naming the patches to leave out, comma-separated.
DISABLE_VARIABLE = 'CONVNEXT_DENSE_DISABLE_PATCHES'


def disabled_patches() -> FrozenSet[str]:
    """The patch names :data:`DISABLE_VARIABLE` lists (not checked here)."""
    names = os.environ.get(DISABLE_VARIABLE, '').split(',')
    return frozenset(name.strip() for name in names if name.strip())


class MmcvExtFinder:
    """Finds ``mmcv._ext`` in convnext-dense's kernels."""

    @staticmethod
    def find_spec(fullname, path=None, target=None):
        if fullname != NAME:
            return None
        package = importlib.util.find_spec('convnext_dense')
        if package is None or not package.submodule_search_locations:
            return None
        location = os.path.join(package.submodule_search_locations[0], 'ops',
                                'mmcv_ext.py')
        return importlib.util.spec_from_file_location(NAME, location)


def install() -> None:
    """Adds the finder once."""
    if not any(isinstance(finder, MmcvExtFinder) for finder in sys.meta_path):
        sys.meta_path.append(MmcvExtFinder())


if PATCH_NAME not in disabled_patches():
    install()
