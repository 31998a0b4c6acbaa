"""The detection tools end to end on the toy COCO data, each as a user runs
it (a subprocess): tools/train.py learns (box and mask AP >= 0.5 on the
held-out split) for the toy Mask R-CNN and Cascade Mask R-CNN, tools/test.py
reproduces the AP from the saved checkpoint (with --classwise: per-class AP
whose mean is the AP), --resume continues an interrupted run, tools/infer.py
paints PNGs; --tta on a mask detector is one line (the tool in this process:
it trains nothing). (A missing dataset: test_cli_errors.py.)
"""
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.fileio import load

from conftest import ToyRun, check, error_lines, run_tool
from helpers import only_metrics_json, run_tool_in_process
from convnext_dense.data.toy import toy_coco
from toy_runs import TOY_SPECS, after_training

TOY = {name: TOY_SPECS[name].config for name in ('mask_rcnn', 'cascade')}
MIN_AP = 0.5
AMP_WARNING = 'the config asks for mixed precision (AmpOptimWrapper) but ' \
    'CUDA is not available: training in fp32 instead'


@pytest.fixture(params=sorted(TOY))
def trained(request, toy_run) -> ToyRun:
    """Each toy detector, trained once for the session."""
    return toy_run(request.param)


@pytest.mark.slow
def test_training_learns_boxes_and_masks(trained):
    metrics = trained.val_metrics()
    summary = (f'{trained.name}: box AP {metrics["coco/bbox_mAP"]:.3f}, '
               f'mask AP {metrics["coco/segm_mAP"]:.3f} after '
               f'{trained.seconds:.0f} s')
    print(summary)
    assert metrics['coco/bbox_mAP'] >= MIN_AP, summary
    assert metrics['coco/segm_mAP'] >= MIN_AP, summary
    max_epochs = Config.fromfile(str(trained.config)).train_cfg.max_epochs
    assert trained.checkpoint.name == f'epoch_{max_epochs}.pth'


@pytest.mark.slow
def test_resume_continued_the_interrupted_run(toy_run):
    run = toy_run('mask_rcnn')
    epoch = int(run.interrupted_at[len('epoch_'):-len('.pth')])
    cfg = Config.fromfile(str(run.config))
    iters_per_epoch = 200 // cfg.train_dataloader.batch_size
    assert 1 <= epoch < cfg.train_cfg.max_epochs
    assert (f'resumed epoch: {epoch}, iter: {epoch * iters_per_epoch}'
            in run.log)
    assert not re.search(r'Epoch\(train\) +\[ *1\]\[', run.log)
    final = torch.load(run.checkpoint, map_location='cpu', weights_only=False)
    assert final['meta']['epoch'] == cfg.train_cfg.max_epochs
    assert final['meta']['iter'] == cfg.train_cfg.max_epochs * iters_per_epoch


@pytest.mark.slow
def test_fp16_config_trains_in_fp32_with_one_warning(trained):
    assert trained.log.count(AMP_WARNING) == 1
    saved = torch.load(trained.checkpoint, map_location='cpu',
                       weights_only=False)
    # No AMP loss scaler state: the fp32 OptimWrapper trained.
    assert 'loss_scaler' not in saved


@dataclass(frozen=True)
class Evaluated:
    """One tools/test.py run of a trained toy detector, shared by the tests
    of what it printed and wrote."""
    run: ToyRun
    done: subprocess.CompletedProcess
    metrics: dict
    dump: Path
    painted: Path


@after_training(*TOY)
def classwise_test_py(run: ToyRun, folder: Path) -> subprocess.CompletedProcess:
    """tools/test.py on the final checkpoint with --classwise, --out and
    --show-dir."""
    return check(run_tool(
        'test.py', run.config, run.checkpoint, '--work-dir', folder, '--out',
        folder / 'predictions.pkl', '--show-dir', folder / 'painted',
        '--classwise', cwd=run.cwd))


@pytest.fixture(scope='module', params=sorted(TOY))
def tested(request, toy_after) -> Evaluated:
    """tools/test.py on each toy detector's final checkpoint, once."""
    after = toy_after(request.param, 'classwise_test_py')
    return Evaluated(after.run, after.value, only_metrics_json(after.folder),
                     after.folder / 'predictions.pkl',
                     after.folder / 'painted')


@pytest.mark.slow
def test_test_py_reproduces_the_ap(tested):
    expected = tested.run.val_metrics()
    for key in ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP',
                'coco/segm_mAP_50'):
        # mmdet rounds to 3 decimals: at most one unit apart (0.607 - 0.606
        # is 0.0010000000000000009 in floats, over an abs=1e-3 tolerance).
        units = round(tested.metrics[key] * 1000) - round(expected[key] * 1000)
        assert abs(units) <= 1, (key, tested.metrics[key], expected[key])
    # The progress bar counted every held-out image.
    assert '50/50' in tested.done.stderr
    # --out dumped every prediction, --show-dir painted every image.
    predictions = load(tested.dump)
    assert len(predictions) == 50
    assert all('pred_instances' in p for p in predictions)
    assert len(list(tested.painted.glob('*.png'))) == 50


@pytest.mark.slow
def test_test_py_classwise(tested):
    per_class = tested.metrics['coco/per_class']
    assert list(per_class) == list(toy_coco.CLASSES)
    for iou_type in ('bbox', 'segm'):
        values = [per_class[name][f'{iou_type}_mAP'] for name in per_class]
        # COCO's mAP is the mean over the classes (each rounded by mmdet).
        assert np.mean(values) == pytest.approx(
            tested.metrics[f'coco/{iou_type}_mAP'], abs=2e-3)
    log = tested.done.stdout + tested.done.stderr
    assert log.count('| category | mAP') == 2


BOX_ONLY = """_base_ = {base!r}
model = dict(roi_head=dict(mask_roi_extractor=None, mask_head=None))
val_evaluator = dict(metric='bbox')
test_evaluator = val_evaluator
"""


@after_training('mask_rcnn')
def box_only_flip_tta(run: ToyRun, folder: Path) -> subprocess.CompletedProcess:
    """tools/test.py --tta on the detector without its mask branch."""
    config = folder / 'box_only.py'
    config.write_text(BOX_ONLY.format(base=str(run.config)))
    return check(run_tool('test.py', config, run.checkpoint, '--work-dir',
                          folder, '--tta', cwd=run.cwd))


@pytest.mark.slow
def test_flip_tta_of_a_box_only_detector(toy_after):
    after = toy_after('mask_rcnn', 'box_only_flip_tta')
    metrics = only_metrics_json(after.folder)
    print(f'box-only flip TTA: box AP {metrics["coco/bbox_mAP"]:.3f}')
    assert metrics['coco/bbox_mAP'] >= MIN_AP
    ran = Config.fromfile(str(after.folder / 'box_only.py'))
    assert ran.model.type == 'DetTTAModel'
    assert '50/50' in after.value.stderr


def test_tta_of_a_mask_detector_is_one_line(tmp_path):
    (tmp_path / 'model.pth').write_bytes(b'')
    done = run_tool_in_process('test.py', TOY['mask_rcnn'],
                               tmp_path / 'model.pth', '--work-dir',
                               tmp_path / 'work', '--tta', cwd=tmp_path)
    assert done.returncode == 2
    assert error_lines(done) == [
        f'error: --tta: {TOY["mask_rcnn"]} predicts instance masks, and '
        "mmdet's DetTTAModel merges boxes only: test it without --tta"]


#: The held-out images tools/infer.py paints.
INFER_IMAGES = ('000001.png', '000002.png')


@after_training('cascade')
def infer(run: ToyRun, folder: Path) -> subprocess.CompletedProcess:
    """tools/infer.py on two held-out images, painted into ``folder``."""
    images = [run.cwd / toy_coco.DEFAULT_ROOT / 'val' / name
              for name in INFER_IMAGES]
    return check(run_tool(
        'infer.py', *images, '--config', run.config, '--checkpoint',
        run.checkpoint, '--out-dir', folder, '--score-thr', '0.5',
        cwd=run.cwd))


@pytest.mark.slow
def test_infer_paints_pngs_and_prints_detections(toy_after):
    after = toy_after('cascade', 'infer')
    done = after.value
    for name in INFER_IMAGES:
        image = after.run.cwd / toy_coco.DEFAULT_ROOT / 'val' / name
        painted = cv2.imread(str(after.folder / name))
        original = cv2.imread(str(image))
        assert painted is not None and painted.shape == original.shape
        assert (painted != original).any(), 'nothing was drawn'
        assert f'{image}: ' in done.stdout
    detections = [line.split() for line in done.stdout.splitlines()
                  if line.startswith('  ') and 'box [' in line]
    assert detections, done.stdout
    assert {d[0] for d in detections} <= set(toy_coco.CLASSES)
    assert all(float(d[1]) >= 0.5 for d in detections)
