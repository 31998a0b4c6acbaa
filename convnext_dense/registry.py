"""The toolkit's registries: scoped children of mmengine's root registries.

Configs refer to the toolkit's components with the ``convnext_dense.`` scope
prefix, e.g. ``backbone=dict(type='convnext_dense.ConvNeXt', ...)``. mmengine
resolves such a key from any default scope (``mmdet``, ``mmseg``, ...): it
imports ``convnext_dense.registry``, finds the ``convnext_dense`` child of the
root registry and, through ``locations``, imports the module that registers
the component. Configs still list ``custom_imports=dict(imports=['convnext_dense'])``
so that the package's stack fixes (safe checkpoint loading, contiguous RoIAlign)
are in place before anything is built or loaded.
"""
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import (
    OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS)
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import Registry

SCOPE = 'convnext_dense'


def _child(name: str, parent: Registry, location: str) -> Registry:
    """The toolkit's scoped child of one of mmengine's root registries,
    importing ``location`` to find its components."""
    return Registry(name, parent=parent, scope=SCOPE, locations=[location])


MODELS = _child('model', MMENGINE_MODELS, 'convnext_dense.models')
OPTIM_WRAPPER_CONSTRUCTORS = _child('optimizer wrapper constructor',
                                    MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
                                    'convnext_dense.engine')
HOOKS = _child('hook', MMENGINE_HOOKS, 'convnext_dense.engine')
METRICS = _child('metric', MMENGINE_METRICS, 'convnext_dense.evaluation')
TRANSFORMS = _child('transform', MMENGINE_TRANSFORMS,
                    'convnext_dense.data.loading')
