"""mmcv-lite with the toolkit's kernels (patches/mmcv_ops.py): mmdet and mmseg
import in any order, their own training entry point runs a detector, and an
op the toolkit does not provide is one line naming it and the full build."""
import subprocess
import sys
from pathlib import Path

import mmcv.ops
import pytest
import torch

import convnext_dense  # noqa: F401
from convnext_dense.cli.common import run_cli
from convnext_dense.errors import OpNotProvidedError
from convnext_dense.ops import mmcv_ext
from convnext_dense.patches.mmcv_ops import using_toolkit_kernels
from helpers import REPO, tool_env
from tiny_datasets import coco_config, write_coco

lite_only = pytest.mark.skipif(
    not using_toolkit_kernels(),
    reason="mmcv's full build is installed: mmcv._ext is mmcv's own")


def run_python(code: str, cwd: Path, timeout: int = 300
               ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-c', code], cwd=cwd,
                          env=tool_env(), capture_output=True, text=True,
                          timeout=timeout)


@lite_only
def test_mmdet_imported_before_the_toolkit(tmp_path):
    """A user's script that imports mmdet.apis and mmseg.apis first (the
    toolkit never imported) gets the kernels from the interpreter's start."""
    done = run_python(
        'import sys, torch\n'
        'import mmdet.apis, mmseg.apis\n'
        'from mmcv.ops import nms\n'
        "assert 'convnext_dense' not in sys.modules\n"
        'boxes = torch.tensor([[0., 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]])\n'
        'dets, keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5)\n'
        'print(keep.tolist())\n'
        'print(sys.modules["mmcv._ext"].__file__)\n', tmp_path)
    assert done.returncode == 0, done.stderr
    keep, origin = done.stdout.strip().splitlines()
    assert keep == '[0, 2]'
    assert Path(origin).parts[-3:] == ('convnext_dense', 'ops', 'mmcv_ext.py')


@lite_only
def test_mmdet_own_train_script_with_custom_imports(tmp_path):
    """mmdet's tools/train.py (shipped in the mmdet package) trains the toy
    Mask R-CNN (NMS and RoIAlign forward and backward) for one iteration."""
    import mmdet
    train = Path(mmdet.__file__).parent / '.mim' / 'tools' / 'train.py'
    root = tmp_path / 'coco'
    write_coco(root, 'train', num_images=2)
    write_coco(root, 'val', num_images=1)
    config = coco_config(
        tmp_path, root,
        'train_cfg = dict(max_epochs=1, val_interval=1)\n'
        'train_dataloader.update(batch_size=2, num_workers=0, '
        'persistent_workers=False)\n'
        'default_hooks = dict(checkpoint=dict(interval=1))\n')
    done = subprocess.run(
        [sys.executable, str(train), str(config), '--work-dir',
         str(tmp_path / 'work')], cwd=REPO, env=tool_env(OMP_NUM_THREADS='1'),
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file()
    assert 'coco/bbox_mAP' in done.stdout + done.stderr


@lite_only
def test_an_op_not_provided_is_one_line(capsys):
    with pytest.raises(OpNotProvidedError) as error:
        mmcv.ops.nms_rotated(torch.zeros(1, 5), torch.zeros(1), 0.5)
    message = str(error.value)
    assert 'nms_rotated' in message and 'MMCV=full' in message
    assert '\n' not in message

    def tool():
        mmcv.ops.box_iou_rotated(torch.zeros(2, 5), torch.zeros(3, 5))

    with pytest.raises(SystemExit) as exited:
        run_cli(tool)
    assert exited.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: mmcv op ')
    assert 'box_iou_rotated' in lines[0]
    assert 'mmcv-lite' in lines[0] and 'MMCV=full' in lines[0]


@lite_only
def test_roi_align_max_mode_is_not_provided():
    layer = mmcv.ops.RoIAlign(2, pool_mode='max')
    with pytest.raises(OpNotProvidedError, match="pool_mode='max'"):
        layer(torch.zeros(1, 1, 4, 4), torch.tensor([[0., 0, 0, 2, 2]]))


def test_stand_in_answers_every_name_mmcv_asks_for():
    """mmcv's ops look their functions up when imported: every name is
    there, dunder names are not (so copy/pickle/inspect behave)."""
    assert callable(mmcv_ext.some_future_op)
    assert mmcv_ext.some_future_op.__name__ == 'some_future_op'
    with pytest.raises(AttributeError):
        mmcv_ext.__wrapped__
    assert set(mmcv_ext.PROVIDED) == {'nms', 'softnms', 'roi_align_forward',
                                      'roi_align_backward'}
    for name in mmcv_ext.PROVIDED:  # real functions, not the stand-ins
        assert getattr(mmcv_ext, name).__qualname__ == name


def test_hook_is_installed_once():
    import _convnext_dense_mmcv_ext as hook
    before = list(sys.meta_path)
    hook.install()
    convnext_dense.patches.install()
    assert sys.meta_path == before
    assert sum(isinstance(f, hook.MmcvExtFinder) for f in sys.meta_path) == 1
    assert hook.MmcvExtFinder.find_spec('mmcv.cnn') is None
