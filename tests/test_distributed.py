"""Distributed runs without CUDA: tools/dist_train.sh and dist_test.sh on CPU
processes. mmengine's Runner launches distributed runs for GPUs only (NCCL,
torch.cuda.set_device, DDP device ids, SyncBN); without CUDA the tools use
gloo and BatchNorm, each said in one log line, and with CUDA nothing
changes."""
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch
import torch.distributed as dist

from convnext_dense.cli import distributed
from convnext_dense.cli.common import load_config, set_launcher
from convnext_dense.errors import UserError
from helpers import (CONFIGS, TOOLS, check, free_port, only_metrics_json,
                     running, tool_env)
from micro_training import checkpoints, fault_env, make_data

UPERNET = CONFIGS / 'upernet_convnext_t_160k_ade20k_512.py'
CASCADE = CONFIGS / 'cascade_mask_rcnn_convnext_t_3x_coco.py'
#: Longest a 2-process run may take (about a minute on 2 idle cores).
TIMEOUT_S = 1200
GLOO_NOTE = ('no CUDA: distributed backend gloo instead of nccl '
             '(env_cfg.dist_cfg.backend)')
BN_NOTE = ('no CUDA: SyncBN layers are built as BatchNorm (SyncBN needs '
           'CUDA); each process normalises over its own images')


def norm_types(node) -> list:
    """Every norm layer ``type`` in a config tree."""
    if isinstance(node, dict):
        own = [node['type']] if 'BN' in str(node.get('type', '')) else []
        return own + [t for value in node.values() for t in norm_types(value)]
    if isinstance(node, (list, tuple)):
        return [t for value in node for t in norm_types(value)]
    return []


@pytest.fixture
def joined(monkeypatch) -> list:
    """Records process-group joins instead of making them."""
    calls = []
    monkeypatch.setattr(distributed, 'init_cpu_process_group', calls.append)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    return calls


@pytest.mark.parametrize('config, syncbn', [(UPERNET, 2), (CASCADE, 3)])
def test_without_cuda_gloo_and_batchnorm_each_in_one_line(
        joined, config, syncbn):
    cfg = load_config(str(config))
    assert norm_types(cfg.model).count('SyncBN') == syncbn
    notes = set_launcher(cfg, 'pytorch', 0)
    assert notes == [GLOO_NOTE, BN_NOTE]
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert 'SyncBN' not in norm_types(cfg.model)
    assert norm_types(cfg.model).count('BN') >= syncbn
    assert cfg.model_wrapper_cfg.device_ids is None
    assert cfg.model_wrapper_cfg.type == 'MMDistributedDataParallel'
    assert joined == [cfg]


def test_with_cuda_nccl_and_syncbn_stay(joined, monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    cfg = load_config(str(UPERNET))
    assert set_launcher(cfg, 'pytorch', 0) == []
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'
    assert norm_types(cfg.model).count('SyncBN') == 2
    assert cfg.get('model_wrapper_cfg') is None
    assert joined == []


def test_single_process_runs_are_left_to_mmengine(joined):
    cfg = load_config(str(UPERNET))
    assert set_launcher(cfg, 'none', 0) == []
    assert norm_types(cfg.model).count('SyncBN') == 2
    assert joined == []


def test_slurm_without_cuda_is_one_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = load_config(str(UPERNET))
    with pytest.raises(UserError, match=r'^--launcher slurm needs CUDA; '
                       r'.*tools/dist_train\.sh'):
        set_launcher(cfg, 'slurm', 0)


def test_the_process_group_is_joined_with_gloo(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setenv('MASTER_ADDR', '127.0.0.1')
    monkeypatch.setenv('MASTER_PORT', str(free_port()))
    monkeypatch.setenv('RANK', '0')
    monkeypatch.setenv('WORLD_SIZE', '1')
    cfg = load_config(str(UPERNET), {'env_cfg.dist_cfg.timeout': 60})
    set_launcher(cfg, 'pytorch', 0)
    try:
        assert dist.is_initialized() and dist.get_backend() == 'gloo'
    finally:
        dist.destroy_process_group()


def dist_script(script: str, *args, cwd, port: int = 0,
                timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess:
    """tools/<script> on 2 CPU processes, on a free port unless ``port``.

    On a timeout the whole process group goes: killing torchrun alone (as
    subprocess.run would) leaves its workers running.
    """
    with subprocess.Popen(
            ['bash', str(TOOLS / script), *map(str, args)], cwd=cwd,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True,
            env=tool_env(PYTHON=sys.executable, PORT=str(port or free_port()),
                         **fault_env())) as run:
        try:
            stdout, stderr = run.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
            raise
    return subprocess.CompletedProcess(run.args, run.returncode, stdout,
                                       stderr)


def test_a_port_in_use_fails_fast(tmp_path):
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        done = dist_script('dist_train.sh', 'no_config.py', 2, cwd=tmp_path,
                           port=taken.getsockname()[1], timeout=120)
    assert done.returncode != 0
    assert 'EADDRINUSE' in done.stderr


@pytest.mark.slow
def test_two_processes_train_and_test_like_one(tmp_path):
    root = make_data(tmp_path)
    work = tmp_path / 'work'
    train = check(dist_script(
        'dist_train.sh', 'micro.py', 2, '--work-dir', work, '--cfg-options',
        'train_cfg.max_iters=4', 'default_hooks.checkpoint.interval=2',
        'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None',
        cwd=root))
    console = train.stdout + train.stderr
    assert console.count(GLOO_NOTE) == 1 and console.count(BN_NOTE) == 1
    # Only rank 0 writes: one run folder with one log, the checkpoints.
    logs = list(work.glob('*/*.log'))
    assert len(logs) == 1 and len(list(work.glob('*/vis_data'))) == 1
    log = logs[0].read_text()
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    assert log.count(GLOO_NOTE) == 1 and log.count(BN_NOTE) == 1
    assert not [p for p in work.rglob('*') if 'rank' in p.name]
    assert {name: ckpt['meta']['iter']
            for name, ckpt in checkpoints(work).items()} == {
        'iter_2.pth': 2, 'iter_4.pth': 4}

    checkpoint = work / 'iter_4.pth'
    check(dist_script('dist_test.sh', 'micro.py', checkpoint, 2,
                      '--work-dir', tmp_path / 'test2', cwd=root))
    check(subprocess.run(
        [sys.executable, str(TOOLS / 'test.py'), 'micro.py', str(checkpoint),
         '--work-dir', str(tmp_path / 'test1')], cwd=root,
        capture_output=True, text=True, timeout=TIMEOUT_S,
        env=tool_env(**fault_env())))
    two = only_metrics_json(tmp_path / 'test2')
    one = only_metrics_json(tmp_path / 'test1')
    assert {'aAcc', 'mIoU', 'mAcc'} <= set(one)
    assert two == one


def _worker(ready: int) -> None:
    """A forked worker that watches its launcher; tells ``ready`` its PID.
    Never returns: a forked copy of the test process must not run on."""
    try:
        distributed.exit_with_launcher()
        os.write(ready, f'{os.getpid()}\n'.encode())
        while True:
            time.sleep(60)
    except SystemExit as stop:  # the watcher's SIGTERM, as in a real worker
        os._exit(stop.code)
    finally:
        os._exit(1)


def _launcher(ready: int) -> None:
    """A forked stand-in for torchrun: starts a worker, waits to be
    killed."""
    try:
        if os.fork() == 0:
            _worker(ready)
        while True:
            time.sleep(60)
    finally:
        os._exit(1)


def test_a_worker_stops_when_its_launcher_is_killed(capfd):
    read, write = os.pipe()
    launcher = os.fork()
    if launcher == 0:
        _launcher(write)
    os.close(write)
    with os.fdopen(read) as ready:
        worker = int(ready.readline())
    os.kill(launcher, signal.SIGKILL)
    os.waitpid(launcher, 0)
    deadline = time.time() + 10
    while running(worker):
        assert time.time() < deadline, f'worker {worker} outlived its launcher'
        time.sleep(0.1)
    assert (f'error: the launcher of this worker (PID {launcher}) is gone; '
            f'worker {worker} stops') in capfd.readouterr().err
