"""The patch registry: every change convnext-dense makes to another package.

Each entry of :data:`PATCHES` names one module under
``convnext_dense/patches/`` (its docstring says what is wrong upstream and how
it is fixed), what it fixes in one line, and the upstream symbols it
replaces. :func:`install` installs those not switched off by
:data:`DISABLE_VARIABLE`, once, and records them: that record is what
:func:`installed` and :func:`is_installed` read.

Adding a patch is one module with an ``install()`` function that makes the
change (the registry calls it once) and one :class:`Patch` entry here.
"""
import importlib
import importlib.util
import sys
from dataclasses import dataclass
from typing import Dict, FrozenSet, Tuple

import _convnext_dense_mmcv_ext as mmcv_ext_hook

from convnext_dense.errors import PatchSwitchError

#: The environment variable naming the patches to leave out.
DISABLE_VARIABLE = mmcv_ext_hook.DISABLE_VARIABLE


@dataclass(frozen=True)
class Patch:
    """One change to another package.

    Attributes:
        name: The module under ``convnext_dense/patches/`` that makes it; the
            name :data:`DISABLE_VARIABLE` takes.
        fixes: What it fixes, in one line.
        replaces: The upstream symbols it replaces, as ``module:attribute``
            (``module`` alone for a whole module).
        scoped: Whether the replacement holds only inside the toolkit's own
            calls (the module then has no ``install`` function: being
            installed allows those calls to make it).
    """
    name: str
    fixes: str
    replaces: Tuple[str, ...]
    scoped: bool = False

    @property
    def module(self) -> str:
        """The module that makes the change."""
        return f'{__package__}.{self.name}'

    def install(self) -> None:
        """Makes the change (the module's ``install()``): call it once."""
        if not self.scoped:
            importlib.import_module(self.module).install()


#: The patches, in the order they are installed (mmcv_ops first: the others
#: import mmcv.ops).
PATCHES: Tuple[Patch, ...] = (
    Patch(mmcv_ext_hook.PATCH_NAME,
          "under mmcv-lite, mmcv._ext is the toolkit's kernels (NMS, "
          'RoIAlign), so mmdet and mmseg import and run without mmcv\'s '
          'compiled build', ('mmcv._ext', )),
    Patch('weights_only_load',
          "mmengine's checkpoint loaders unpickle weights only (mmengine's "
          'own objects allowed); a checkpoint that would run code is refused',
          ('mmengine.runner.checkpoint:CheckpointLoader._schemes', )),
    Patch('checkpoint_fit',
          'a checkpoint that does not fit the model is one line: heads of '
          'another num_classes start fresh, another backbone arch is an '
          'error, tools/test.py and tools/infer.py need an exact fit',
          ('mmengine.runner.checkpoint:load_state_dict',
           'mmengine.runner.checkpoint:CheckpointLoader.load_checkpoint')),
    Patch('atomic_save',
          'checkpoint writes are all-or-nothing; a failed write is one error '
          'naming the path',
          ('mmengine.fileio.backends.local_backend:LocalBackend.put', )),
    Patch('rotate_after_save',
          'with max_keep_ckpts, the outdated checkpoint is deleted only after '
          'the new one is saved',
          ('mmengine.hooks.checkpoint_hook:'
           'CheckpointHook._save_checkpoint_with_step', )),
    Patch('contiguous_roi_align',
          "mmcv's RoIAlign is right for channels_last inputs",
          ('mmcv.ops.roi_align:RoIAlignFunction.forward', )),
    Patch('fast_roi_align_cpu',
          "mmcv's RoIAlign ('avg' mode) on the CPU is separable matrix "
          'products: equal to float rounding, several times faster',
          ('mmcv.ops.roi_align:RoIAlign.forward', 'mmcv.ops:roi_align')),
    Patch('amp_fallback',
          'an AmpOptimWrapper config trains in fp32 (one warning) on a '
          'machine without CUDA',
          ('mmengine.runner.runner:Runner.build_optim_wrapper', )),
    Patch('coco_eval_backend',
          "FasterCocoMetric: mmdet's CocoMetric indexes and evaluates with "
          'faster-coco-eval, only while a FasterCocoMetric builds or '
          'computes',
          ('mmdet.evaluation.metrics.coco_metric:COCO',
           'mmdet.evaluation.metrics.coco_metric:COCOeval'),
          scoped=True),
)

#: What :func:`install` installed, by name, in the order it did: the one
#: record of what is in place.
_INSTALLED: Dict[str, Patch] = {}


def disabled_patches() -> FrozenSet[str]:
    """The patches :data:`DISABLE_VARIABLE` switches off.

    Raises:
        PatchSwitchError: when it names a patch that does not exist; when it
            switches off ``mmcv_ops`` under mmcv-lite, where mmcv.ops cannot
            be imported without it, or after its import hook was installed.
    """
    names = mmcv_ext_hook.disabled_patches()
    valid = [patch.name for patch in PATCHES]
    unknown = sorted(names.difference(valid))
    if unknown:
        raise PatchSwitchError(
            f'{DISABLE_VARIABLE} names {", ".join(unknown)}, which '
            f'{"is not a patch" if len(unknown) == 1 else "are not patches"}'
            f' of convnext-dense: the patches are {", ".join(valid)}')
    if mmcv_ext_hook.PATCH_NAME in names:
        _check_mmcv_ops_can_be_off()
    return names


def _check_mmcv_ops_can_be_off() -> None:
    """Raises when mmcv.ops cannot do without the toolkit's ``mmcv._ext``."""
    name = mmcv_ext_hook.PATCH_NAME
    if any(isinstance(finder, mmcv_ext_hook.MmcvExtFinder)
           for finder in sys.meta_path):
        raise PatchSwitchError(
            f'{DISABLE_VARIABLE} switches off {name}, but its import hook was '
            f'installed when Python started, before the variable was set: '
            f'set {DISABLE_VARIABLE} in the environment Python starts with')
    if importlib.util.find_spec(mmcv_ext_hook.NAME) is None:
        raise PatchSwitchError(
            f'{DISABLE_VARIABLE} switches off {name}, but this mmcv is '
            f'mmcv-lite, without a compiled {mmcv_ext_hook.NAME}: mmcv.ops, '
            f'and with it mmdet, mmseg and convnext_dense, cannot be '
            f'imported; install mmcv\'s full build (make install MMCV=full) '
            f'or remove {name} from {DISABLE_VARIABLE}')


def install() -> None:
    """Installs every patch not switched off; calling it again changes
    nothing.

    Raises:
        PatchSwitchError: see :func:`disabled_patches`.
    """
    disabled = disabled_patches()
    for patch in PATCHES:
        if patch.name not in _INSTALLED and patch.name not in disabled:
            patch.install()
            _INSTALLED[patch.name] = patch


def installed() -> Tuple[Patch, ...]:
    """The patches in place, in the order they were installed."""
    return tuple(_INSTALLED.values())


def is_installed(name: str) -> bool:
    """Whether the patch ``name`` is in place."""
    return name in _INSTALLED


__all__ = ['DISABLE_VARIABLE', 'PATCHES', 'Patch', 'disabled_patches',
           'install', 'installed', 'is_installed']
