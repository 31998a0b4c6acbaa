"""The detection tools end to end on the toy COCO data, each as a user runs
it (a subprocess): tools/train.py learns (box and mask AP >= 0.5 on the
held-out split) for the toy Mask R-CNN and Cascade Mask R-CNN, tools/test.py
reproduces the AP from the saved checkpoint, --resume continues an
interrupted run, tools/infer.py paints PNGs, --tta on a mask detector is
one line. (A missing dataset: test_cli_errors.py.)
"""
import glob
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import cv2
import pytest
import torch
from mmengine.config import Config
from mmengine.fileio import load

from convnext_dense.datasets import toy_coco

REPO = Path(__file__).resolve().parents[1]
TOY = {
    'mask_rcnn': REPO / 'configs/toy/mask_rcnn_convnext_toy_coco.py',
    'cascade': REPO / 'configs/toy/cascade_mask_rcnn_convnext_toy_coco.py',
}
MIN_AP = 0.5
AMP_WARNING = 'the config asks for mixed precision (AmpOptimWrapper) but ' \
    'CUDA is not available: training in fp32 instead'


def tool_env() -> Dict[str, str]:
    # OpenMP's default busy-waiting makes every op of a 2-thread torch many
    # times slower when another process shares the 2 cores.
    env = dict(os.environ)
    env.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
    return env


def run_tool(tool: str, args: List, cwd: Path,
             timeout: float = 900) -> subprocess.CompletedProcess:
    """Runs tools/<tool> with the test's interpreter, in ``cwd``."""
    return subprocess.run(
        [sys.executable, str(REPO / 'tools' / tool)] + [str(a) for a in args],
        cwd=cwd, env=tool_env(), capture_output=True, text=True,
        timeout=timeout)


def check(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, (
        f'{" ".join(done.args)} failed:\n{done.stdout[-3000:]}\n'
        f'{done.stderr[-3000:]}')
    return done


def final_val_metrics(work_dir: Path) -> Dict[str, float]:
    """The last validation metrics mmengine logged during training."""
    metrics = {}
    for path in sorted(glob.glob(str(work_dir / '*/vis_data/*.json'))):
        if path.endswith('scalars.json'):
            continue
        for line in Path(path).read_text().splitlines():
            record = json.loads(line)
            if 'coco/bbox_mAP' in record:
                metrics = record
    assert metrics, f'no validation metrics logged under {work_dir}'
    return metrics


@pytest.fixture(scope='module')
def workspace(tmp_path_factory) -> Path:
    """A folder with the default toy data under data/toy_coco/: the tools
    run there with the toy configs unchanged."""
    root = tmp_path_factory.mktemp('det_tools')
    toy_coco.generate(root / 'data' / 'toy_coco')
    return root


def start_training(name: str, args: List[str], cwd: Path,
                   log: Path) -> subprocess.Popen:
    """Starts tools/train.py on a toy config in the background."""
    env = tool_env()
    # The two toy runs train side by side, one core each.
    env.setdefault('OMP_NUM_THREADS', '1')
    command = [sys.executable, str(REPO / 'tools/train.py'), str(TOY[name])]
    with open(log, 'a') as out:
        return subprocess.Popen(command + [str(a) for a in args], cwd=cwd,
                                env=env, stdout=out, stderr=subprocess.STDOUT)


def finish(run: subprocess.Popen, log: Path) -> str:
    """Waits for a background run; returns its output."""
    run.wait(timeout=1800)
    output = log.read_text()
    assert run.returncode == 0, f'{" ".join(run.args)}:\n{output[-4000:]}'
    return output


def kill_after_first_checkpoint(run: subprocess.Popen, work_dir: Path) -> str:
    """Kills a training run once it has saved a checkpoint; returns that
    checkpoint's file name."""
    # CheckpointHook writes last_checkpoint after the checkpoint itself.
    pointer = work_dir / 'last_checkpoint'
    deadline = time.time() + 900
    while not pointer.exists() and run.poll() is None:
        assert time.time() < deadline, 'no checkpoint after 15 minutes'
        time.sleep(0.1)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert run.returncode == -signal.SIGKILL, 'the run ended before the kill'
    return Path(pointer.read_text().strip()).name


def summarise(name: str, work_dir: Path, output: str, start: float,
              interrupted_at: Optional[str] = None) -> dict:
    checkpoint = (work_dir / 'last_checkpoint').read_text().strip()
    return dict(name=name, config=TOY[name], work_dir=work_dir,
                checkpoint=Path(checkpoint), log=output,
                interrupted_at=interrupted_at, seconds=time.time() - start)


@pytest.fixture(scope='module')
def train_runs(workspace) -> Dict[str, dict]:
    """Trains both toy models once for the whole module, side by side.

    The toy Mask R-CNN run is killed after its first checkpoint and finished
    with --resume, so its learned AP is that of a resumed run.
    """
    start = time.time()
    work = {name: workspace / f'work_{name}' for name in TOY}
    logs = {name: workspace / f'train_{name}.log' for name in TOY}
    cascade = start_training('cascade', ['--work-dir', work['cascade']],
                             workspace, logs['cascade'])
    try:
        mask_args = ['--work-dir', work['mask_rcnn']]
        interrupted_at = kill_after_first_checkpoint(
            start_training('mask_rcnn', mask_args, workspace,
                           logs['mask_rcnn']), work['mask_rcnn'])
        # Keep only the resumed run's output (the log is appended to).
        logs['mask_rcnn'].write_text('')
        resumed = start_training('mask_rcnn', mask_args + ['--resume'],
                                 workspace, logs['mask_rcnn'])
        runs = {'mask_rcnn': summarise(
            'mask_rcnn', work['mask_rcnn'], finish(resumed, logs['mask_rcnn']),
            start, interrupted_at)}
        runs['cascade'] = summarise('cascade', work['cascade'],
                                    finish(cascade, logs['cascade']), start)
    finally:
        if cascade.poll() is None:  # a failure above: stop the other run
            cascade.kill()
            cascade.wait()
    return runs


@pytest.fixture(scope='module', params=sorted(TOY))
def trained(request, train_runs) -> dict:
    return train_runs[request.param]


@pytest.mark.slow
def test_training_learns_boxes_and_masks(trained):
    metrics = final_val_metrics(trained['work_dir'])
    summary = (f'{trained["name"]}: box AP {metrics["coco/bbox_mAP"]:.3f}, '
               f'mask AP {metrics["coco/segm_mAP"]:.3f} after '
               f'{trained["seconds"]:.0f} s')
    print(summary)
    assert metrics['coco/bbox_mAP'] >= MIN_AP, summary
    assert metrics['coco/segm_mAP'] >= MIN_AP, summary
    max_epochs = Config.fromfile(str(trained['config'])).train_cfg.max_epochs
    assert trained['checkpoint'].name == f'epoch_{max_epochs}.pth'


@pytest.mark.slow
def test_resume_continued_the_interrupted_run(train_runs):
    run = train_runs['mask_rcnn']
    epoch = int(run['interrupted_at'][len('epoch_'):-len('.pth')])
    cfg = Config.fromfile(str(run['config']))
    iters_per_epoch = 200 // cfg.train_dataloader.batch_size
    assert 1 <= epoch < cfg.train_cfg.max_epochs
    assert (f'resumed epoch: {epoch}, iter: {epoch * iters_per_epoch}'
            in run['log'])
    assert not re.search(r'Epoch\(train\) +\[ *1\]\[', run['log'])
    final = torch.load(run['checkpoint'], map_location='cpu',
                       weights_only=False)
    assert final['meta']['epoch'] == cfg.train_cfg.max_epochs
    assert final['meta']['iter'] == cfg.train_cfg.max_epochs * iters_per_epoch


@pytest.mark.slow
def test_fp16_config_trains_in_fp32_with_one_warning(trained):
    assert trained['log'].count(AMP_WARNING) == 1
    saved = torch.load(trained['checkpoint'], map_location='cpu',
                       weights_only=False)
    # No AMP loss scaler state: the fp32 OptimWrapper trained.
    assert 'loss_scaler' not in saved


@pytest.mark.slow
def test_test_py_reproduces_the_ap(trained, workspace, tmp_path):
    dump, painted = tmp_path / 'predictions.pkl', tmp_path / 'painted'
    done = check(run_tool('test.py', [
        trained['config'], trained['checkpoint'], '--work-dir', tmp_path,
        '--out', dump, '--show-dir', painted], workspace))
    written = glob.glob(str(tmp_path / 'metrics_*.json'))
    assert len(written) == 1
    metrics = json.loads(Path(written[0]).read_text())
    expected = final_val_metrics(trained['work_dir'])
    for key in ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP',
                'coco/segm_mAP_50'):
        assert metrics[key] == pytest.approx(expected[key], abs=1e-3), key
    # The progress bar counted every held-out image.
    assert '50/50' in done.stderr
    # --out dumped every prediction, --show-dir painted every image.
    predictions = load(dump)
    assert len(predictions) == 50
    assert all('pred_instances' in p for p in predictions)
    assert len(list(painted.glob('*.png'))) == 50


BOX_ONLY = """_base_ = {base!r}
model = dict(roi_head=dict(mask_roi_extractor=None, mask_head=None))
val_evaluator = dict(metric='bbox')
test_evaluator = val_evaluator
"""


@pytest.mark.slow
def test_flip_tta_of_a_box_only_detector(train_runs, workspace, tmp_path):
    run = train_runs['mask_rcnn']
    config = tmp_path / 'box_only.py'
    config.write_text(BOX_ONLY.format(base=str(run['config'])))
    done = check(run_tool('test.py', [config, run['checkpoint'],
                                      '--work-dir', tmp_path, '--tta'],
                          workspace))
    metrics = json.loads(next(tmp_path.glob('metrics_*.json')).read_text())
    print(f'box-only flip TTA: box AP {metrics["coco/bbox_mAP"]:.3f}')
    assert metrics['coco/bbox_mAP'] >= MIN_AP
    ran = Config.fromfile(str(tmp_path / config.name))
    assert ran.model.type == 'DetTTAModel'
    assert '50/50' in done.stderr


def test_tta_of_a_mask_detector_is_one_line(tmp_path):
    (tmp_path / 'model.pth').write_bytes(b'')
    done = run_tool('test.py', [TOY['mask_rcnn'], tmp_path / 'model.pth',
                                '--work-dir', tmp_path / 'work', '--tta'],
                    tmp_path)
    assert done.returncode == 2
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert lines == [f'error: --tta: {TOY["mask_rcnn"]} predicts instance '
                     "masks, and mmdet's DetTTAModel merges boxes only: test "
                     'it without --tta']


@pytest.mark.slow
def test_infer_paints_pngs_and_prints_detections(train_runs, workspace,
                                                 tmp_path):
    run = train_runs['cascade']
    images = [workspace / 'data/toy_coco/val' / f'{i:06d}.png'
              for i in (1, 2)]
    out_dir = tmp_path / 'painted'
    done = check(run_tool('infer.py', images + [
        '--config', run['config'], '--checkpoint', run['checkpoint'],
        '--out-dir', out_dir, '--score-thr', '0.5'], workspace))
    for image in images:
        painted = cv2.imread(str(out_dir / image.name))
        original = cv2.imread(str(image))
        assert painted is not None and painted.shape == original.shape
        assert (painted != original).any(), 'nothing was drawn'
        assert f'{image}: ' in done.stdout
    detections = [line.split() for line in done.stdout.splitlines()
                  if line.startswith('  ') and 'box [' in line]
    assert detections, done.stdout
    assert {d[0] for d in detections} <= set(toy_coco.CLASSES)
    assert all(float(d[1]) >= 0.5 for d in detections)
