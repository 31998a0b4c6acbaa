"""A micro training for tests of what happens around it (kills, NaN losses,
failed checkpoint writes): the toy UperNet on 2 images per iteration for 12
iterations, a checkpoint every 4, validation on 4 images at the end, in a
folder with a small toy ADE20K dataset. Faults come from
``tests/fault_injection.py`` (``FAULT=KIND@WHERE``)."""
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import torch

from helpers import CONFIGS, REPO, TOOLS, free_port, tool_env

MAX_ITERS = 12
INTERVAL = 4
#: The micro run's config: the toy UperNet without dropout, so that a resumed
#: run can match an uninterrupted one exactly (dropout draws from the main
#: process's torch RNG, which checkpoints do not hold). custom_imports is
#: imported when the file is read, so it cannot come from --cfg-options.
BASE = str(CONFIGS / 'toy/upernet_convnext_toy_ade.py')
CONFIG_TEXT = f"""_base_ = [{BASE!r}]
custom_imports = dict(imports=['convnext_dense', 'fault_injection'],
                      allow_failed_imports=False)
model = dict(decode_head=dict(dropout_ratio=0),
             auxiliary_head=dict(dropout_ratio=0))
train_dataloader = dict(batch_size=2)
train_cfg = dict(max_iters={MAX_ITERS}, val_interval={MAX_ITERS})
default_hooks = dict(logger=dict(interval={INTERVAL}),
                     checkpoint=dict(interval={INTERVAL}))
"""
#: Longest a micro run may take (about 10 s on 2 idle cores; far more when
#: the cores are busy).
TIMEOUT_S = 900


def make_data(root: Path) -> Path:
    """A folder holding ``data/toy_ade`` (16 training, 4 validation images),
    where the toy config finds it, and the micro config ``micro.py``."""
    from convnext_dense.data.toy import toy_ade
    toy_ade.generate(root / toy_ade.DEFAULT_ROOT, num_train=16, num_val=4)
    (root / 'micro.py').write_text(CONFIG_TEXT)
    return root


def fault_env(fault: Optional[str] = None,
              ready: Optional[Path] = None) -> Dict[str, str]:
    """The environment of a micro run, with ``FAULT`` armed if given."""
    # This checkout first, also where another one is installed (editable).
    env = dict(OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / 'tests')]))
    if fault:
        env.update(FAULT=fault, FAULT_READY=str(ready))
    return env


def command(work_dir: Path, *extra: str) -> List[str]:
    """``tools/train.py`` on the micro run (run in the :func:`make_data`
    folder)."""
    return [sys.executable, str(TOOLS / 'train.py'), 'micro.py',
            '--work-dir', str(work_dir), *extra]


def run(cwd: Path, work_dir: Path, *extra: str,
        fault: Optional[str] = None) -> subprocess.CompletedProcess:
    """Runs the micro training to its end (or its error)."""
    return subprocess.run(
        command(work_dir, *extra), cwd=cwd, capture_output=True, text=True,
        timeout=TIMEOUT_S,
        env=tool_env(**fault_env(fault, cwd / 'fault_ready')))


def run_until_paused(cwd: Path, work_dir: Path, fault: str,
                     *extra: str) -> str:
    """Runs the micro training until ``fault`` pauses it, then kills it
    (SIGKILL); returns what it printed."""
    ready = cwd / 'fault_ready'
    ready.unlink(missing_ok=True)
    log = cwd / 'paused_run.log'
    with open(log, 'w') as out:
        run = subprocess.Popen(
            command(work_dir, *extra), cwd=cwd, stdout=out,
            stderr=subprocess.STDOUT, env=tool_env(**fault_env(fault, ready)))
    try:
        deadline = time.time() + TIMEOUT_S
        while not ready.exists() and run.poll() is None:
            assert time.time() < deadline, 'the fault was not reached in time'
            time.sleep(0.05)
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
    output = log.read_text()
    assert ready.exists(), f'the run ended before {fault}:\n{output[-3000:]}'
    return output


def checkpoints(work_dir: Path) -> Dict[str, dict]:
    """Every ``.pth`` in ``work_dir``, loaded weights-only."""
    from convnext_dense.patches.weights_only_load import safe_torch_load
    return {path.name: safe_torch_load(path)
            for path in sorted(work_dir.glob('*.pth'))}


def last_checkpoint(work_dir: Path) -> str:
    """The file name ``last_checkpoint`` points to."""
    return Path((work_dir / 'last_checkpoint').read_text().strip()).name


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def same_weights(a: dict, b: dict) -> bool:
    """Whether two checkpoints hold exactly the same model weights."""
    return a.keys() == b.keys() and all(
        torch.equal(a[key], b[key]) for key in a)


def val_metrics(work_dir: Path) -> Dict[str, float]:
    """The last validation metrics logged in ``work_dir`` (any run)."""
    metrics: Dict[str, float] = {}
    for path in sorted(work_dir.glob('*/vis_data/*.json')):
        if path.name == 'scalars.json':
            continue
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if 'mIoU' in record:
                metrics = record
    assert metrics, f'no validation metrics logged under {work_dir}'
    return metrics


