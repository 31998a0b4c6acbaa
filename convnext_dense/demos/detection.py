"""``make demo``: the toy Cascade Mask R-CNN end to end on a CPU.

Generates the toy COCO dataset into ``data/toy_coco/`` if it is absent,
trains ``configs/toy/cascade_mask_rcnn_convnext_toy_coco.py`` with
``tools/train.py``, evaluates the final checkpoint with ``tools/test.py``
(COCO box and mask AP through pycocotools) and prints the result. Each tool
runs as its own process, exactly as a user would run it; the commands are
printed first.
"""
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

from convnext_dense.cli.common import UserError
from convnext_dense.datasets import toy_coco
from convnext_dense.demos.common import final_checkpoint

#: The repository root: configs/ and tools/ live beside the package.
REPO = Path(__file__).resolve().parents[2]
CONFIG = 'configs/toy/cascade_mask_rcnn_convnext_toy_coco.py'
DATA_ROOT = toy_coco.DEFAULT_ROOT


def _run(command: List[str]) -> None:
    print('$ ' + ' '.join(command), flush=True)
    env = dict(os.environ)
    # OpenMP's default busy-waiting slows a 2-thread torch down many times
    # over whenever another process wants the same cores.
    env.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
    if subprocess.run(command, cwd=REPO, env=env).returncode != 0:
        raise UserError(f'the demo step failed: {" ".join(command)}')


def _latest_metrics(work_dir: str) -> Dict[str, float]:
    files = sorted(glob.glob(osp.join(work_dir, 'metrics_*.json')),
                   key=osp.getmtime)
    if not files:
        raise UserError(f'tools/test.py wrote no metrics into {work_dir}')
    with open(files[-1]) as f:
        return json.load(f)


def run(work_dir: str = 'work_dirs/demo_detection') -> Dict[str, float]:
    """Runs the demo; returns the test metrics (``coco/bbox_mAP``, ...).

    Args:
        work_dir: Where the logs, checkpoints and metrics go, relative to
            the repository root unless absolute.
    """
    start = time.time()
    work_dir = str(REPO / work_dir)
    data_root = REPO / DATA_ROOT
    if toy_coco.exists(data_root):
        print(f'toy COCO found in {DATA_ROOT}/')
    else:
        print(f'generating toy COCO into {DATA_ROOT}/ ...', flush=True)
        toy_coco.generate(data_root, overwrite=True)
    print(toy_coco.summary(data_root), flush=True)

    python = sys.executable
    _run([python, 'tools/train.py', CONFIG, '--work-dir', work_dir])
    checkpoint = final_checkpoint(work_dir)
    _run([python, 'tools/test.py', CONFIG, checkpoint, '--work-dir', work_dir])
    metrics = _latest_metrics(work_dir)

    minutes, seconds = divmod(int(time.time() - start), 60)
    print(f'\ntoy Cascade Mask R-CNN (ConvNeXt, trained from scratch) on '
          f'{toy_coco.summary(data_root, ["val"])}:\n'
          f'  box AP  {metrics["coco/bbox_mAP"]:.3f}  '
          f'(AP50 {metrics["coco/bbox_mAP_50"]:.3f})\n'
          f'  mask AP {metrics["coco/segm_mAP"]:.3f}  '
          f'(AP50 {metrics["coco/segm_mAP_50"]:.3f})\n'
          f'  checkpoint {osp.relpath(checkpoint, os.getcwd())}, '
          f'wall time {minutes} min {seconds} s')
    return metrics
