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

MODELS = Registry(
    'model',
    parent=MMENGINE_MODELS,
    scope=SCOPE,
    locations=['convnext_dense.models'])

OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    scope=SCOPE,
    locations=['convnext_dense.engine'])

HOOKS = Registry(
    'hook',
    parent=MMENGINE_HOOKS,
    scope=SCOPE,
    locations=['convnext_dense.engine'])

METRICS = Registry(
    'metric',
    parent=MMENGINE_METRICS,
    scope=SCOPE,
    locations=['convnext_dense.evaluation'])

TRANSFORMS = Registry(
    'transform',
    parent=MMENGINE_TRANSFORMS,
    scope=SCOPE,
    locations=['convnext_dense.checked_loading'])
