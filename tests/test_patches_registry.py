"""The patch registry (convnext_dense/patches/registry.py): it lists every
patch module, ``installed()`` says what is in place, a patch switched off by
CONVNEXT_DENSE_DISABLE_PATCHES leaves its upstream symbols as the packages
define them, a bad switch is one error line, and installing twice changes
nothing."""
import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Dict, Sequence

import pytest
from mmdet.evaluation.metrics import coco_metric as mmdet_coco_metric

import convnext_dense
from convnext_dense import patches
from convnext_dense.errors import ConfigError, PatchSwitchError
from convnext_dense.evaluation import FasterCocoMetric
from convnext_dense.patches.__main__ import describe
from convnext_dense.patches import registry
from convnext_dense.patches.mmcv_ops import using_toolkit_kernels
from helpers import REPO, resolve_symbol, tool_env

PACKAGE = Path(convnext_dense.__file__).resolve().parent
NAMES = [patch.name for patch in patches.PATCHES]
#: Patches whose change is made at install time (not only inside a call).
INSTALLED_AT_IMPORT = [p for p in patches.PATCHES if not p.scoped]

#: Run in a child process: what is installed, which files the code at each
#: patch's symbols comes from, and what ``python -m convnext_dense.patches``
#: prints.
PROBE = '''
import json
import convnext_dense
from convnext_dense import patches
from convnext_dense.patches.__main__ import describe
from helpers import code_files, resolve_symbol
print(json.dumps(dict(
    installed=[patch.name for patch in patches.installed()],
    files={patch.name: sorted(set().union(*(
        code_files(resolve_symbol(symbol)) for symbol in patch.replaces)))
        for patch in patches.PATCHES if not patch.scoped},
    described=describe())))
'''


def run_python(args: Sequence[str], disabled: Sequence[str] = ()
               ) -> subprocess.CompletedProcess:
    """Runs the test's interpreter in tests/ with those patches switched
    off."""
    env = tool_env(OMP_NUM_THREADS='1')
    env[patches.DISABLE_VARIABLE] = ','.join(disabled)
    return subprocess.run([sys.executable, *args], cwd=REPO / 'tests',
                          env=env, capture_output=True, text=True,
                          timeout=300)


def in_package(path: str) -> bool:
    return Path(path).resolve().is_relative_to(PACKAGE)


def in_place() -> Dict[str, object]:
    """What every patch's symbols are now (a dict's values copied)."""
    values = {}
    for patch in patches.PATCHES:
        for symbol in patch.replaces:
            value = resolve_symbol(symbol)
            values[symbol] = dict(value) if isinstance(value, dict) else value
    return values


def test_every_module_under_patches_is_registered():
    modules = {path.stem for path in PACKAGE.joinpath('patches').glob('*.py')}
    modules -= {'__init__', '__main__', 'registry'}
    assert sorted(modules) == sorted(NAMES)
    assert len(set(NAMES)) == len(NAMES)
    for patch in patches.PATCHES:
        assert patch.fixes and '\n' not in patch.fixes, patch.name
        assert patch.replaces, patch.name
        module = importlib.import_module(patch.module)
        # A scoped patch makes its change inside its own calls only.
        assert callable(getattr(module, 'install', None)) is not patch.scoped
        for symbol in patch.replaces:
            resolve_symbol(symbol)  # each names something that exists


@pytest.mark.parametrize('disabled', [
    (), ('atomic_save', ), tuple(NAMES[1:])
], ids=['none', 'atomic_save', 'all but mmcv_ops'])
def test_installed_lists_what_is_in_place(disabled):
    done = run_python(['-c', PROBE], disabled)
    assert done.returncode == 0, done.stderr[-3000:]
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    assert probe['installed'] == [n for n in NAMES if n not in disabled]
    for patch in INSTALLED_AT_IMPORT:
        files = probe['files'][patch.name]
        if patch.name in disabled:  # as the upstream package defines them
            assert not any(map(in_package, files)), (patch.name, files)
        elif patch.name != 'mmcv_ops' or using_toolkit_kernels():
            assert all(map(in_package, files)), (patch.name, files)
    states = {line.split(' ', 1)[0]: line for line in probe['described']
              if not line.startswith(' ')}
    assert list(states) == NAMES
    for name, line in states.items():
        state = (f'switched off by {patches.DISABLE_VARIABLE}'
                 if name in disabled else 'installed')
        assert line.startswith(f'{name} ({state}): '), line


def test_installing_twice_changes_nothing():
    before, hooks = in_place(), list(sys.meta_path)
    installed = patches.installed()
    assert [patch.name for patch in installed] == NAMES
    patches.install()
    patches.install()
    assert in_place() == before
    assert sys.meta_path == hooks
    assert patches.installed() == installed


def test_an_unknown_name_is_one_line_naming_the_patches(monkeypatch):
    before = in_place()
    monkeypatch.setenv(patches.DISABLE_VARIABLE, 'atomic_save, nonexistent')
    with pytest.raises(PatchSwitchError) as error:
        patches.install()
    message = str(error.value)
    assert '\n' not in message
    assert message.startswith(
        f'{patches.DISABLE_VARIABLE} names nonexistent, which is not a patch')
    assert message.endswith('the patches are ' + ', '.join(NAMES))
    assert in_place() == before


def test_a_tool_given_an_unknown_name_says_so_in_one_line():
    done = run_python([str(REPO / 'tools' / 'train.py'), '--help'],
                      ['atomic_sav'])
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f'error: {patches.DISABLE_VARIABLE} names '
                           'atomic_sav, which is not a patch'), line


def test_mmcv_ops_cannot_be_switched_off_after_python_started(monkeypatch):
    monkeypatch.setenv(patches.DISABLE_VARIABLE, 'mmcv_ops')
    with pytest.raises(PatchSwitchError, match='installed when Python '
                       'started, before the variable was set'):
        patches.install()


@pytest.mark.skipif(not using_toolkit_kernels(),
                    reason="mmcv's full build: mmcv._ext is mmcv's own")
def test_mmcv_ops_switched_off_under_mmcv_lite_says_what_fails():
    done = run_python(['-c', 'import convnext_dense'], ['mmcv_ops'])
    assert done.returncode == 2
    [last] = done.stderr.strip().splitlines()
    assert last.startswith('error: '
                           'CONVNEXT_DENSE_DISABLE_PATCHES switches off '
                           'mmcv_ops, but this mmcv is mmcv-lite'), last
    assert 'mmdet, mmseg and convnext_dense, cannot be imported' in last
    assert 'make install MMCV=full' in last


def test_faster_coco_metric_with_its_patch_off_is_one_error(monkeypatch):
    names = mmdet_coco_metric.COCO, mmdet_coco_metric.COCOeval
    monkeypatch.delitem(registry._INSTALLED, 'coco_eval_backend')
    with pytest.raises(ConfigError) as error:
        FasterCocoMetric(ann_file='unused.json')
    assert str(error.value).startswith(
        'FasterCocoMetric evaluates through the coco_eval_backend patch, '
        f'which {patches.DISABLE_VARIABLE} switches off')
    assert (mmdet_coco_metric.COCO, mmdet_coco_metric.COCOeval) == names


def test_module_prints_the_list():
    done = run_python(['-m', 'convnext_dense.patches'])
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines() == describe()
    assert len(describe()) == 2 * len(NAMES)
