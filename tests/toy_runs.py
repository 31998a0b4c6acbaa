"""The toy models the suite trains end to end, each once per test session.

Every toy model is trained by ``tools/train.py`` in a subprocess, as a user
would run it, in one shared folder that holds the generated toy datasets under
``data/`` (where the toy configs look for them). The runs start in the
background as soon as the session knows it needs them, at most
:data:`PARALLEL_RUNS` at a time with one torch thread each, while the tests
that need no trained model go on in the main process; a test asking for a run
waits for it.
"""
import glob
import json
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Set

from helpers import CONFIGS, TOOLS, tool_env

#: Trainings running side by side: one per core.
PARALLEL_RUNS = 2
#: Longest a single toy training may take before the session gives up on it.
RUN_TIMEOUT_S = 1200


@dataclass(frozen=True)
class ToySpec:
    """How the suite trains one toy model.

    Attributes:
        config: The toy config.
        interrupt: Kill the run (SIGKILL) right after its first checkpoint
            and finish it with ``--resume``, so that the trained model is
            that of a resumed run.
    """
    config: Path
    interrupt: bool = False


#: Every toy model the suite trains, longest first (the order they start in).
TOY_SPECS: Dict[str, ToySpec] = {
    'mask_rcnn': ToySpec(CONFIGS / 'toy/mask_rcnn_convnext_toy_coco.py',
                         interrupt=True),
    'cascade': ToySpec(CONFIGS / 'toy/cascade_mask_rcnn_convnext_toy_coco.py'),
    'upernet': ToySpec(CONFIGS / 'toy/upernet_convnext_toy_ade.py'),
}


#: The validation metrics the end-of-session summary shows.
SUMMARY_KEYS = ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP',
                'coco/segm_mAP_50', 'mIoU', 'mAcc', 'aAcc')


@dataclass(frozen=True)
class ToyRun:
    """A finished toy training.

    Attributes:
        name: Its key in :data:`TOY_SPECS`.
        config: The toy config it trained.
        cwd: The folder it ran in, holding ``data/toy_coco`` and
            ``data/toy_ade``; the tools run there with the toy configs as
            they are.
        work_dir: Its work dir (logs, ``<timestamp>/vis_data/scalars.json``,
            checkpoints, ``last_checkpoint``).
        checkpoint: The final checkpoint.
        log: What the (last) training process printed.
        seconds: Wall time of the training, interruption included.
        interrupted_at: File name of the checkpoint the run was killed
            after, for an interrupted run.
    """
    name: str
    config: Path
    cwd: Path
    work_dir: Path
    checkpoint: Path
    log: str
    seconds: float
    interrupted_at: Optional[str] = None

    def summary(self) -> str:
        """One line: the final validation metrics and the training time."""
        metrics = self.val_metrics()
        shown = [f'{key} {metrics[key]:.3f}' if key.startswith('coco/')
                 else f'{key} {metrics[key]:.2f}'
                 for key in SUMMARY_KEYS if key in metrics]
        return (f'{self.name} ({self.config.name}): {", ".join(shown)}; '
                f'trained in {self.seconds:.0f} s')

    def val_metrics(self) -> Dict[str, float]:
        """The last validation metrics mmengine logged during training."""
        metrics: Dict[str, float] = {}
        for path in sorted(glob.glob(str(self.work_dir / '*/vis_data/*.json'))):
            if path.endswith('scalars.json'):
                continue
            for line in Path(path).read_text().splitlines():
                record = json.loads(line)
                if any(key.startswith(('coco/', 'mIoU')) for key in record):
                    metrics = record
        assert metrics, f'no validation metrics logged under {self.work_dir}'
        return metrics


#: Training processes still running, stopped when the session ends early.
_LIVE: Set[subprocess.Popen] = set()


def _start(spec: ToySpec, args: List[str], cwd: Path,
           log: Path) -> subprocess.Popen:
    command = [sys.executable, str(TOOLS / 'train.py'), str(spec.config)]
    with open(log, 'w') as out:
        run = subprocess.Popen(
            command + args, cwd=cwd, env=tool_env(OMP_NUM_THREADS='1'),
            stdout=out, stderr=subprocess.STDOUT)
    _LIVE.add(run)
    return run


def _stop(run: subprocess.Popen) -> None:
    if run.poll() is None:
        run.send_signal(signal.SIGKILL)
        run.wait()
    _LIVE.discard(run)


def _finish(run: subprocess.Popen, log: Path) -> str:
    try:
        run.wait(timeout=RUN_TIMEOUT_S)
    finally:
        _stop(run)
    output = log.read_text()
    assert run.returncode == 0, (
        f'{" ".join(map(str, run.args))} failed:\n{output[-4000:]}')
    return output


def _kill_after_first_checkpoint(run: subprocess.Popen, work_dir: Path,
                                 log: Path) -> str:
    """Kills a run once it has saved a checkpoint; returns that file name."""
    # CheckpointHook writes last_checkpoint after the checkpoint itself.
    pointer = work_dir / 'last_checkpoint'
    deadline = time.time() + RUN_TIMEOUT_S
    while not pointer.exists() and run.poll() is None:
        assert time.time() < deadline, 'no checkpoint in time'
        time.sleep(0.05)
    _stop(run)
    assert run.returncode == -signal.SIGKILL, (
        f'the run ended before the kill:\n{log.read_text()[-4000:]}')
    return Path(pointer.read_text().strip()).name


def train(name: str, cwd: Path) -> ToyRun:
    """Trains the toy model ``name`` in ``cwd`` (blocking)."""
    spec = TOY_SPECS[name]
    work_dir = cwd / f'work_{name}'
    log = cwd / f'train_{name}.log'
    args = ['--work-dir', str(work_dir)]
    start = time.time()
    interrupted_at = None
    if spec.interrupt:
        interrupted_at = _kill_after_first_checkpoint(
            _start(spec, args, cwd, log), work_dir, log)
        args.append('--resume')
    output = _finish(_start(spec, args, cwd, log), log)
    checkpoint = Path((work_dir / 'last_checkpoint').read_text().strip())
    return ToyRun(name=name, config=spec.config, cwd=cwd, work_dir=work_dir,
                  checkpoint=checkpoint, log=output,
                  seconds=time.time() - start, interrupted_at=interrupted_at)


class ToyTrainer:
    """Trains each toy model once, in the background, :data:`PARALLEL_RUNS`
    at a time."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self._pool = ThreadPoolExecutor(max_workers=PARALLEL_RUNS,
                                        thread_name_prefix='toy-train')
        self._runs: Dict[str, Future] = {}
        self._lock = threading.Lock()

    def start(self, names: List[str]) -> None:
        """Queues the trainings of ``names`` not queued yet."""
        with self._lock:
            for name in names:
                if name not in self._runs:
                    self._runs[name] = self._pool.submit(train, name, self.cwd)

    def get(self, name: str) -> ToyRun:
        """The finished run of ``name``; waits for it, starting it if needed."""
        if name not in TOY_SPECS:
            raise KeyError(f'unknown toy model {name!r}: {sorted(TOY_SPECS)}')
        self.start([name])
        return self._runs[name].result()

    def finished(self) -> List[ToyRun]:
        """The runs that finished successfully, in start order."""
        return [future.result() for future in self._runs.values()
                if future.done() and not future.cancelled()
                and future.exception() is None]

    def close(self) -> None:
        """Cancels queued trainings and stops running ones."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        for run in list(_LIVE):
            _stop(run)
