"""``make demo-seg``: the toy UperNet end to end, through the same tools.

Generates the toy ADE20K-layout dataset if absent, trains
``configs/toy/upernet_convnext_toy_ade.py`` with ``tools/train.py``'s code,
evaluates the checkpoint single-scale and with multi-scale + flip
(``tools/test.py [--tta]``), paints a few validation images
(``tools/infer.py``) and prints the metrics and wall times.
"""
import os
import os.path as osp
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple, TypeVar

import torch

from convnext_dense.cli import infer, test, train
from convnext_dense.datasets import toy_ade
from convnext_dense.demos.common import final_checkpoint

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / 'configs' / 'toy' / 'upernet_convnext_toy_ade.py'
#: The toy config's data_root (relative to the working directory).
DATA_ROOT = toy_ade.DEFAULT_ROOT
NUM_PAINTED = 3

T = TypeVar('T')


def _timed(step: Callable[[], T]) -> Tuple[T, float]:
    start = time.perf_counter()
    result = step()
    return result, time.perf_counter() - start


def run(work_dir: str = 'work_dirs/demo_segmentation') -> Dict[str, float]:
    """Runs the demo; returns the metrics and the wall time of each step."""
    config = str(CONFIG)
    if 'OMP_NUM_THREADS' not in os.environ:
        # Measured on 2 cores: a second thread speeds the toy model up by
        # under 10% on an idle machine, and slows it down many times over
        # when another process keeps a core busy.
        torch.set_num_threads(1)
    root, generate_s = _timed(lambda: toy_ade.generate(DATA_ROOT))
    _, train_s = _timed(
        lambda: train.main([config, '--work-dir', work_dir]))
    checkpoint = final_checkpoint(work_dir)
    single, test_s = _timed(lambda: test.main(
        [config, checkpoint, '--work-dir', work_dir]))
    tta, tta_s = _timed(lambda: test.main(
        [config, checkpoint, '--work-dir', work_dir, '--tta']))
    images: List[str] = sorted(
        str(p) for p in (root / 'images' / 'validation').glob('*.jpg'))
    painted_dir = osp.join(work_dir, 'painted')
    _, infer_s = _timed(lambda: infer.main(
        images[:NUM_PAINTED] +
        ['--config', config, '--checkpoint', checkpoint, '--out-dir',
         painted_dir]))
    summary = {
        'mIoU': float(single['mIoU']),
        'mAcc': float(single['mAcc']),
        'aAcc': float(single['aAcc']),
        'mIoU_ms_flip': float(tta['mIoU']),
        'generate_s': generate_s,
        'train_s': train_s,
        'test_s': test_s,
        'test_ms_flip_s': tta_s,
        'infer_s': infer_s,
    }
    _print_summary(summary, checkpoint, painted_dir)
    return summary


def _print_summary(summary: Dict[str, float], checkpoint: str,
                   painted_dir: str) -> None:
    print('\ntoy UperNet + ConvNeXt on the toy ADE20K-layout dataset '
          f'({", ".join(toy_ade.CLASSES)}; "other" ignored)')
    print(f'  single-scale (sliding window): mIoU {summary["mIoU"]:.2f}  '
          f'mAcc {summary["mAcc"]:.2f}  aAcc {summary["aAcc"]:.2f}')
    print(f'  multi-scale + flip:            mIoU '
          f'{summary["mIoU_ms_flip"]:.2f}')
    print(f'  wall time: data {summary["generate_s"]:.1f} s, train '
          f'{summary["train_s"]:.1f} s, test {summary["test_s"]:.1f} s, '
          f'test ms+flip {summary["test_ms_flip_s"]:.1f} s, infer '
          f'{summary["infer_s"]:.1f} s')
    print(f'  checkpoint: {checkpoint}')
    print(f'  painted predictions: {painted_dir}')
