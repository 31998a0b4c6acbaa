"""Distributed runs of the tools on a machine without CUDA.

mmengine's Runner launches distributed runs for GPUs only: its ``init_dist``
calls ``torch.cuda.set_device``, the configs ask for the NCCL backend, DDP is
given a CUDA device id, and ``SyncBN`` (the heads of the full configs) has no
CPU implementation. Without CUDA, :func:`adapt_to_cpu` changes just that, so
``tools/dist_train.sh`` and ``tools/dist_test.sh`` run on CPU processes with
the gloo backend; with CUDA nothing changes (NCCL and SyncBN stay).

:func:`exit_with_launcher` makes a worker of a distributed launch end when
its launcher (torchrun) is gone: torchrun killed with SIGKILL cannot stop its
workers, which would otherwise go on training, orphaned, next to the run a
user starts again.
"""
import datetime
import math
import os
import signal
import sys
import threading
import time
from typing import Any, List

import torch
import torch.distributed as torch_dist
from mmengine.config import Config

from convnext_dense.errors import UserError

#: Norm layer types that synchronise statistics across processes (torch's,
#: mmcv's), and what they are built as without CUDA.
SYNC_BN_TYPES = ('SyncBN', 'MMSyncBN')
CPU_BN_TYPE = 'BN'


def sync_bn_to_bn(node: Any) -> int:
    """Replaces every SyncBN ``type`` in a (model) config in place by
    ``BN``; returns how many it replaced."""
    count = 0
    if isinstance(node, dict):
        if node.get('type') in SYNC_BN_TYPES:
            node['type'] = CPU_BN_TYPE
            count += 1
        for value in node.values():
            count += sync_bn_to_bn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            count += sync_bn_to_bn(value)
    return count


def _use_gloo(cfg: Config) -> List[str]:
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    backend = dist_cfg.get('backend', 'nccl')
    if backend == 'gloo':
        return []
    dist_cfg['backend'] = 'gloo'
    return [f'no CUDA: distributed backend gloo instead of {backend} '
            f'(env_cfg.dist_cfg.backend)']


def _use_bn(cfg: Config) -> List[str]:
    replaced = sync_bn_to_bn(cfg.get('model'))
    if cfg.get('sync_bn') is not None:  # mmengine's BN -> SyncBN conversion
        cfg.sync_bn = None
        replaced += 1
    if not replaced:
        return []
    return ['no CUDA: SyncBN layers are built as BatchNorm (SyncBN needs '
            'CUDA); each process normalises over its own images']


def _cpu_model_wrapper(cfg: Config) -> None:
    """DDP of a CPU module takes no device ids (mmengine passes LOCAL_RANK).

    Unlike mmengine's default wrapper, DDP syncs the buffers from the first
    process before each training forward (torch's default): with BatchNorm
    instead of SyncBN, that keeps the processes' running statistics those of
    the first process, whose checkpoints are saved.
    """
    wrapper = cfg.get('model_wrapper_cfg')
    if wrapper is None:
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel',
            find_unused_parameters=cfg.get('find_unused_parameters', False))
        wrapper = cfg.model_wrapper_cfg
    if wrapper.get('type', 'MMDistributedDataParallel') == \
            'MMDistributedDataParallel':
        wrapper.setdefault('device_ids', None)


def init_cpu_process_group(cfg: Config) -> None:
    """Joins the torchrun process group with gloo, as mmengine's
    ``init_dist`` would without its ``torch.cuda.set_device``.

    Raises:
        UserError: for the slurm and mpi launchers, which mmengine starts on
            GPUs only.
    """
    if torch_dist.is_initialized():
        return
    if cfg.launcher != 'pytorch':
        raise UserError(
            f'--launcher {cfg.launcher} needs CUDA; without it, run '
            'distributed with torchrun: tools/dist_train.sh CONFIG '
            'NUM_PROCESSES (--launcher pytorch)')
    kwargs = dict(cfg.env_cfg.dist_cfg)
    kwargs.pop('backend')
    if kwargs.get('timeout') is not None:
        kwargs['timeout'] = datetime.timedelta(seconds=kwargs['timeout'])
    torch_dist.init_process_group(backend='gloo', **kwargs)


#: How often a worker checks that its launcher is alive, and how long it
#: gives itself to stop once it is not, in seconds.
LAUNCHER_POLL_S = 0.5
STOP_GRACE_S = 2.0


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    """Ends the process as ``sys.exit`` does, running ``finally`` blocks
    (a checkpoint write in progress removes its temporary file); the
    system ends it after :data:`STOP_GRACE_S` if that hangs (a process
    group waiting for a peer that is gone)."""
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(math.ceil(STOP_GRACE_S))
    sys.exit(128 + signum)


def _stop_when_orphaned(launcher_pid: int) -> None:
    """Waits until this process's parent is no longer ``launcher_pid``,
    then stops the process: SIGTERM first, the end of the process if that
    has not ended it within :data:`STOP_GRACE_S` (the main thread can be
    blocked in a collective that waits for a worker already gone)."""
    while os.getppid() == launcher_pid:
        time.sleep(LAUNCHER_POLL_S)
    sys.stderr.write(f'error: the launcher of this worker (PID '
                     f'{launcher_pid}) is gone; worker {os.getpid()} stops '
                     '(continue the run with --resume)\n')
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(STOP_GRACE_S)
    os._exit(1)


def exit_with_launcher() -> None:
    """Makes this worker of a distributed launch stop within a few seconds
    of its launcher's death (a watching daemon thread), and SIGTERM end it
    as ``sys.exit`` does; call it from the main thread (once is enough)."""
    if any(thread.name == _stop_when_orphaned.__name__
           for thread in threading.enumerate()):
        return
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    threading.Thread(target=_stop_when_orphaned, args=(os.getppid(),),
                     name=_stop_when_orphaned.__name__, daemon=True).start()


def adapt_to_cpu(cfg: Config) -> List[str]:
    """Makes a distributed launch (``cfg.launcher`` not ``'none'``) work
    without CUDA: the gloo backend, BatchNorm for SyncBN, DDP of CPU
    modules, and the process group joined here instead of by mmengine.

    Returns:
        The lines to log (one per change), none with CUDA or without a
        distributed launcher.
    """
    if cfg.launcher == 'none' or torch.cuda.is_available():
        return []
    notes = _use_gloo(cfg) + _use_bn(cfg)
    _cpu_model_wrapper(cfg)
    init_cpu_process_group(cfg)
    return notes
