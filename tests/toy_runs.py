"""The toy models the suite trains end to end, each once per test session.

Every toy model is trained by ``tools/train.py`` in a subprocess, as a user
would run it, in one shared folder that holds the generated toy datasets under
``data/`` (where the toy configs look for them). The runs start in the
background as soon as the session knows it needs them, on at most
:data:`CORES` processes at a time with one torch thread each (a 2-process
run, through ``tools/dist_train.sh``, takes two), while the tests that need no
trained model go on in the main process; a test asking for a run waits for
it. What the tests then run on a trained model (tools/test.py, infer.py,
export_onnx.py) is registered with :func:`after_training` and runs in the
background too, on a core, as soon as the model is trained: the main process
only checks the results.
"""
import functools
import glob
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Deque, Dict, List, Optional, Set

from mmengine.config import Config

from helpers import CONFIGS, TOOLS, free_port, tool_env

#: Training processes running side by side: one per core.
CORES = 2
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
        procs: Processes to train on: 2 trains through
            ``tools/dist_train.sh`` (gloo), each process with half of the
            config's batch, so that the total batch is the config's.
        long: Trained only when a selected test is marked ``long``
            (``make test-long``), not by ``make test``.
    """
    config: Path
    interrupt: bool = False
    procs: int = 1
    long: bool = False

    @property
    def dist_args(self) -> List[str]:
        """What a run on :attr:`procs` processes adds to the command line."""
        if self.procs == 1:
            return []
        batch = Config.fromfile(str(self.config)).train_dataloader.batch_size
        assert batch % self.procs == 0, (self.config, batch, self.procs)
        return ['--cfg-options',
                f'train_dataloader.batch_size={batch // self.procs}']


#: Every toy model the suite trains, in the order they start: the 2-process
#: runs first (a run waiting for both cores would leave one idle), then the
#: longest, then the one with the most work after it (its jobs run on the
#: first core free) before the other. The plain backbones' and ConvNeXt V2's
#: runs are ``long``: with them the suite takes twice the 10 minutes ``make
#: test`` is allowed on 2 cores.
TOY_SPECS: Dict[str, ToySpec] = {
    'mask_rcnn_iso': ToySpec(
        CONFIGS / 'toy/mask_rcnn_convnext_iso_toy_coco.py', procs=2,
        long=True),
    'upernet_iso': ToySpec(CONFIGS / 'toy/upernet_convnext_iso_toy_ade.py',
                           procs=2, long=True),
    'cascade': ToySpec(CONFIGS / 'toy/cascade_mask_rcnn_convnext_toy_coco.py'),
    'upernet': ToySpec(CONFIGS / 'toy/upernet_convnext_toy_ade.py'),
    'mask_rcnn': ToySpec(CONFIGS / 'toy/mask_rcnn_convnext_toy_coco.py',
                         interrupt=True),
    'mask_rcnn_convmixer': ToySpec(
        CONFIGS / 'toy/mask_rcnn_convmixer_toy_coco.py', long=True),
    'upernet_convmixer': ToySpec(
        CONFIGS / 'toy/upernet_convmixer_toy_ade.py', long=True),
    'mask_rcnn_v2': ToySpec(
        CONFIGS / 'toy/mask_rcnn_convnextv2_toy_coco.py', long=True),
    'upernet_v2': ToySpec(CONFIGS / 'toy/upernet_convnextv2_toy_ade.py',
                          long=True),
}


def toy_runs_to_start(short: bool, long: bool) -> List[str]:
    """The toy models a session trains, in start order: the ``long`` ones
    when it selected a test marked ``long`` that needs a trained model, the
    others when it selected one not marked so."""
    return [name for name, spec in TOY_SPECS.items()
            if (long if spec.long else short)]


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
        procs: Processes it trained on.
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
    procs: int = 1
    interrupted_at: Optional[str] = None

    def summary(self) -> str:
        """One line: the final validation metrics and the training time."""
        metrics = self.val_metrics()
        shown = [f'{key} {metrics[key]:.3f}' if key.startswith('coco/')
                 else f'{key} {metrics[key]:.2f}'
                 for key in SUMMARY_KEYS if key in metrics]
        on = f' on {self.procs} processes' if self.procs > 1 else ''
        return (f'{self.name} ({self.config.name}): {", ".join(shown)}; '
                f'trained in {self.seconds:.0f} s{on}')

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


#: A job on a trained toy model: ``job(run, folder)`` with an empty folder of
#: its own; what it returns is what the tests check.
Job = Callable[[ToyRun, Path], Any]
#: The jobs registered by :func:`after_training`, by toy model and job name.
_AFTER: Dict[str, Dict[str, Job]] = {}


def after_training(*names: str) -> Callable[[Job], Job]:
    """Registers the decorated ``job(run, folder)`` to run on each of the toy
    models ``names`` as soon as it is trained, in the background on a core
    (test modules register at import, before the trainings start); a test
    gets its :class:`AfterTraining` from the ``toy_after`` fixture by model
    and job name."""
    def register(job: Job) -> Job:
        for name in names:
            if name not in TOY_SPECS:
                raise KeyError(f'unknown toy model {name!r}')
            _AFTER.setdefault(name, {})[job.__name__] = job
        return job
    return register


@dataclass(frozen=True)
class AfterTraining:
    """What a job registered with :func:`after_training` left.

    Attributes:
        run: The trained toy model it ran on.
        folder: Its own folder.
        value: What it returned.
    """
    run: ToyRun
    folder: Path
    value: Any


#: Training processes still running, stopped when the session ends early.
_LIVE: Set[subprocess.Popen] = set()


def _start(spec: ToySpec, args: List[str], cwd: Path,
           log: Path) -> subprocess.Popen:
    env = tool_env(OMP_NUM_THREADS='1')
    if spec.procs == 1:
        command = [sys.executable, str(TOOLS / 'train.py'), str(spec.config)]
    else:
        command = ['bash', str(TOOLS / 'dist_train.sh'), str(spec.config),
                   str(spec.procs)]
        env.update(PYTHON=sys.executable, PORT=str(free_port()))
    with open(log, 'w') as out:
        # A session of its own: a kill reaches torchrun's workers too.
        run = subprocess.Popen(
            command + args + spec.dist_args, cwd=cwd, env=env, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)
    _LIVE.add(run)
    return run


def _stop(run: subprocess.Popen) -> None:
    if run.poll() is None:
        os.killpg(run.pid, signal.SIGKILL)
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
    assert not (spec.interrupt and spec.procs > 1), name
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
                  seconds=time.time() - start, procs=spec.procs,
                  interrupted_at=interrupted_at)


class Cores:
    """The cores the trainings and the jobs after them share: a training
    holds :attr:`ToySpec.procs` of them, a job one, and they get them in the
    order they asked (a 2-process run is not overtaken by 1-process ones)."""

    def __init__(self, count: int) -> None:
        self._free = count
        self._waiting: Deque[str] = deque()
        self._closed = False
        self._changed = threading.Condition()

    def close(self) -> None:
        """Runs still waiting for cores give up (the session is ending)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def run(self, label: str, procs: int, work: Callable[[], Any]) -> Any:
        """Runs ``work`` once its turn has come and ``procs`` cores are free."""
        with self._changed:
            self._waiting.append(label)
            self._changed.wait_for(lambda: self._closed or (
                self._waiting[0] == label and self._free >= procs))
            if self._closed:
                raise RuntimeError(f'toy run {label}: the session ended')
            self._waiting.popleft()
            self._free -= procs
            self._changed.notify_all()
        try:
            return work()
        finally:
            with self._changed:
                self._free += procs
                self._changed.notify_all()


class ToyTrainer:
    """Trains each toy model once, in the background, on :data:`CORES`
    processes at most, and runs the jobs registered for it after it."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self._cores = Cores(CORES)
        self._pool = ThreadPoolExecutor(max_workers=CORES,
                                        thread_name_prefix='toy-train')
        self._runs: Dict[str, Future] = {}
        self._after: Dict[str, Dict[str, Future]] = {}
        self._lock = threading.Lock()

    def start(self, names: List[str]) -> None:
        """Queues the trainings of ``names`` not queued yet."""
        with self._lock:
            for name in names:
                if name not in self._runs:
                    self._runs[name] = self._pool.submit(self._train, name)

    def _train(self, name: str) -> ToyRun:
        """Trains ``name``, then queues the jobs registered for it."""
        run = self._cores.run(name, TOY_SPECS[name].procs,
                              lambda: train(name, self.cwd))
        self._after[name] = {
            key: self._pool.submit(self._cores.run, f'{name}/{key}', 1,
                                   functools.partial(self._job, run, key, job))
            for key, job in _AFTER.get(name, {}).items()}
        return run

    def _job(self, run: ToyRun, key: str, job: Job) -> AfterTraining:
        folder = self.cwd / f'after_{run.name}' / key
        folder.mkdir(parents=True)
        return AfterTraining(run, folder, job(run, folder))

    def get(self, name: str) -> ToyRun:
        """The finished run of ``name``; waits for it, starting it if needed."""
        if name not in TOY_SPECS:
            raise KeyError(f'unknown toy model {name!r}: {sorted(TOY_SPECS)}')
        self.start([name])
        return self._runs[name].result()

    def after(self, name: str, key: str) -> AfterTraining:
        """What the job ``key`` registered for ``name`` left; waits for it."""
        self.get(name)
        jobs = self._after[name]
        if key not in jobs:
            raise KeyError(f'no job {key!r} registered with after_training '
                           f'for {name!r}: {sorted(jobs)}')
        return jobs[key].result()

    def finished(self) -> List[ToyRun]:
        """The runs that finished successfully, in start order."""
        return [future.result() for future in self._runs.values()
                if future.done() and not future.cancelled()
                and future.exception() is None]

    def close(self) -> None:
        """Cancels queued trainings and stops running ones."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._cores.close()
        for run in list(_LIVE):
            _stop(run)
