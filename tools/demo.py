#!/usr/bin/env python
"""The embedded default end to end, each step a run of the real tool.

    python tools/demo.py detection      # toy Cascade Mask R-CNN: box/mask AP
    python tools/demo.py segmentation   # toy UperNet: mIoU, single-scale and ms+flip

Steps: ``tools/make_toy_data.py`` (only when the toy data is absent),
``tools/train.py``, ``tools/test.py`` (and ``tools/test.py --tta`` for
segmentation), ``tools/infer.py`` painting 3 validation images and
``tools/analysis/plot_curves.py`` drawing the run's curves. Each
command is printed before it runs; the metrics (from the JSON that
``tools/test.py`` writes) and the wall times are summarised at the end. A
failed step ends the demo with one ``error:`` line.
"""
import argparse
import glob
import json
import os
import os.path as osp
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Dict, List, Optional, Sequence, Tuple

from convnext_dense.cli.common import run_cli
from convnext_dense.data.toy import toy_ade, toy_coco
from convnext_dense.errors import UserError

#: The checkout: the tools, configs and (relative) toy data roots live here.
REPO = Path(__file__).resolve().parents[1]
#: Validation images the infer step paints.
NUM_PAINTED = 3
#: The picture of the run's curves, in its work dir.
CURVES = 'curves.png'


@dataclass(frozen=True)
class Demo:
    """What one demo runs and reports.

    Attributes:
        title: First line of the summary.
        dataset: ``tools/make_toy_data.py``'s name of the toy dataset.
        generator: Its generator module (``DEFAULT_ROOT``, ``is_generated``).
        config: The toy config, relative to the checkout.
        val_images: Glob of the validation images under the data root.
        tta: Whether to test with ``--tta`` too.
        metrics: ``(label, step, key)``: what the summary shows, from the
            metrics JSON of that test step.
        env: Environment defaults for the tools.
    """
    title: str
    dataset: str
    generator: ModuleType
    config: str
    val_images: str
    tta: bool
    metrics: Tuple[Tuple[str, str, str], ...]
    env: Dict[str, str] = field(default_factory=dict)

    @property
    def data_root(self) -> Path:
        """Where the toy config reads the data (relative to the checkout)."""
        return REPO / self.generator.DEFAULT_ROOT


DEMOS: Dict[str, Demo] = {
    'detection': Demo(
        title='toy Cascade Mask R-CNN (ConvNeXt, trained from scratch) on '
        'the toy COCO dataset',
        dataset='coco',
        generator=toy_coco,
        config='configs/toy/cascade_mask_rcnn_convnext_toy_coco.py',
        val_images='val/*.png',
        tta=False,
        metrics=(('box AP', 'test', 'coco/bbox_mAP'),
                 ('box AP50', 'test', 'coco/bbox_mAP_50'),
                 ('mask AP', 'test', 'coco/segm_mAP'),
                 ('mask AP50', 'test', 'coco/segm_mAP_50'))),
    'segmentation': Demo(
        title='toy UperNet + ConvNeXt (trained from scratch) on the toy '
        f'ADE20K-layout dataset ({", ".join(toy_ade.CLASSES)}; "other" '
        'ignored)',
        dataset='ade',
        generator=toy_ade,
        config='configs/toy/upernet_convnext_toy_ade.py',
        val_images='images/validation/*.jpg',
        tta=True,
        metrics=(('mIoU (sliding window)', 'test', 'mIoU'),
                 ('mAcc', 'test', 'mAcc'),
                 ('aAcc', 'test', 'aAcc'),
                 ('mIoU (multi-scale + flip)', 'test_tta', 'mIoU')),
        # Measured on 2 cores: a second thread speeds the toy UperNet up by
        # under 10% on an idle machine, and slows it down many times over
        # when another process keeps a core busy.
        env={'OMP_NUM_THREADS': '1'}),
}


@dataclass(frozen=True)
class Step:
    """One run of a tool.

    Attributes:
        name: Short name, for the summary and errors.
        command: The command line, run in the checkout.
        metrics_dir: Where this step (``tools/test.py``) writes its metrics.
    """
    name: str
    command: List[str]
    metrics_dir: Optional[str] = None


def tool(name: str, *args: str) -> List[str]:
    """The command line running ``tools/<name>`` with this interpreter."""
    return [sys.executable, f'tools/{name}', *args]


def final_checkpoint(work_dir: str) -> str:
    """The checkpoint that training's ``last_checkpoint`` pointer names.

    Raises:
        UserError: when ``work_dir`` holds no such pointer.
    """
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        raise UserError(f'{work_dir} holds no last_checkpoint: did training '
                        f'finish?')
    with open(pointer) as f:
        return f.read().strip()


def latest_metrics(metrics_dir: str) -> Dict:
    """The newest ``metrics_*.json`` that ``tools/test.py`` wrote there."""
    files = sorted(glob.glob(osp.join(metrics_dir, 'metrics_*.json')),
                   key=osp.getmtime)
    if not files:
        raise UserError(f'tools/test.py wrote no metrics into {metrics_dir}')
    with open(files[-1]) as f:
        return json.load(f)


def data_steps(demo: Demo) -> List[Step]:
    """Generating the toy data, unless the default one is already there."""
    if demo.generator.is_generated(demo.data_root):
        return []
    return [Step('data', tool('make_toy_data.py', demo.dataset))]


def train_step(demo: Demo, work_dir: str,
               train_options: Sequence[str] = ()) -> Step:
    """Training the toy config, with optional ``--cfg-options``."""
    options = ['--cfg-options', *train_options] if train_options else []
    return Step('train',
                tool('train.py', demo.config, '--work-dir', work_dir,
                     *options))


def evaluation_steps(demo: Demo, work_dir: str, checkpoint: str,
                     images: Sequence[str]) -> List[Step]:
    """Testing the checkpoint (and with ``--tta``), then painting ``images``."""
    tests = [('test', [])]
    if demo.tta:
        tests.append(('test_tta', ['--tta']))
    steps = []
    for name, extra in tests:
        metrics_dir = osp.join(work_dir, name)
        steps.append(
            Step(name,
                 tool('test.py', demo.config, checkpoint, '--work-dir',
                      metrics_dir, *extra),
                 metrics_dir=metrics_dir))
    steps.append(
        Step('infer',
             tool('infer.py', *images, '--config', demo.config,
                  '--checkpoint', checkpoint, '--out-dir',
                  osp.join(work_dir, 'painted'))))
    return steps


def curves_step(work_dir: str) -> Step:
    """Drawing the run's loss and validation metric curves."""
    return Step('curves', tool('analysis/plot_curves.py', work_dir, '--out',
                               osp.join(work_dir, CURVES)))


def validation_images(demo: Demo, count: int = NUM_PAINTED) -> List[str]:
    """The first ``count`` validation images of the toy data."""
    images = sorted(glob.glob(str(demo.data_root / demo.val_images)))
    if not images:
        raise UserError(f'no validation images match '
                        f'{demo.data_root / demo.val_images}')
    return images[:count]


class StepRunner:
    """Runs steps in the checkout, timing them and reading their metrics."""

    def __init__(self, demo: Demo) -> None:
        self.env = dict(os.environ)
        # OpenMP's default busy-waiting slows a multi-threaded torch down
        # many times over whenever another process wants the same cores.
        self.env.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
        for key, value in demo.env.items():
            self.env.setdefault(key, value)
        self.seconds: Dict[str, float] = {}
        self.metrics: Dict[str, Dict] = {}

    def __call__(self, step: Step) -> None:
        print(f'\n$ {shlex.join(step.command)}', flush=True)
        start = time.perf_counter()
        code = subprocess.run(step.command, cwd=REPO, env=self.env).returncode
        self.seconds[step.name] = time.perf_counter() - start
        if code != 0:
            raise UserError(f'demo step {step.name!r} failed with exit code '
                            f'{code}: {shlex.join(step.command)}')
        if step.metrics_dir:
            self.metrics[step.name] = latest_metrics(step.metrics_dir)


def summary(demo: Demo, runner: StepRunner, checkpoint: str,
            painted_dir: str, curves: str) -> str:
    """The metrics, wall times and outputs, one per line."""
    lines = [f'{demo.title}:']
    width = max(len(label) for label, _, _ in demo.metrics)
    for label, step, key in demo.metrics:
        lines.append(f'  {label:<{width}}  {runner.metrics[step][key]:.4g}')
    times = ', '.join(f'{name} {seconds:.1f} s'
                      for name, seconds in runner.seconds.items())
    total = sum(runner.seconds.values())
    lines += [f'  wall time: {times} (total {total / 60:.1f} min)',
              f'  checkpoint: {osp.relpath(checkpoint, REPO)}',
              f'  painted predictions: {osp.relpath(painted_dir, REPO)}/',
              f'  curves: {osp.relpath(curves, REPO)}']
    return '\n'.join(lines)


def run(demo: Demo, work_dir: str,
        train_options: Sequence[str] = ()) -> Dict[str, Dict]:
    """Runs a demo; returns the metrics of each test step.

    Args:
        demo: One of :data:`DEMOS`.
        work_dir: Where logs, checkpoints, metrics and painted images go,
            relative to the checkout unless absolute.
        train_options: ``KEY=VALUE`` overrides for ``tools/train.py``
            (e.g. a shorter schedule). Defaults to none.
    """
    work_dir = str(REPO / work_dir)
    runner = StepRunner(demo)
    for step in data_steps(demo):
        runner(step)
    runner(train_step(demo, work_dir, train_options))
    checkpoint = final_checkpoint(work_dir)
    images = validation_images(demo)
    for step in evaluation_steps(demo, work_dir, checkpoint, images):
        runner(step)
    runner(curves_step(work_dir))
    print('\n' + summary(demo, runner, checkpoint,
                         osp.join(work_dir, 'painted'),
                         osp.join(work_dir, CURVES)))
    return runner.metrics


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('task', nargs='?', default='detection',
                        choices=sorted(DEMOS))
    parser.add_argument('--work-dir', help='default: work_dirs/demo_<task>')
    parser.add_argument(
        '--train-cfg-options', nargs='+', default=(), metavar='KEY=VALUE',
        help='overrides for tools/train.py, e.g. a shorter schedule: '
        'train_cfg.max_epochs=1 (detection) or train_cfg.max_iters=20 '
        '(segmentation)')
    args = parser.parse_args(argv)
    run(DEMOS[args.task], args.work_dir or f'work_dirs/demo_{args.task}',
        args.train_cfg_options)


if __name__ == '__main__':
    run_cli(main)
