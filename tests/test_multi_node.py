"""The multi-node commands of docs/training-at-scale.md, as two nodes on this
machine: two launchers of tools/dist_train.sh (NNODES=2, NODE_RANK 0 and 1,
one process each, the same MASTER_ADDR and PORT) train as the 2-process run
does, and tools/dist_test.sh on two nodes gives the 1-process metrics; a
node that never joins ends the other within the rendezvous timeout in one
line."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import pytest

from helpers import (TOOLS, check, error_lines, free_port, only_metrics_json,
                     tool_env)
from micro_training import TIMEOUT_S, checkpoints, fault_env, make_data
from micro_training import same_weights
from test_distributed import dist_script

SHORT_RUN = ['--cfg-options', 'train_cfg.max_iters=4',
             'default_hooks.checkpoint.interval=2', 'val_cfg=None',
             'val_dataloader=None', 'val_evaluator=None']


def start_node(script: str, args: List, cwd: Path, port: int, node_rank: int,
               **env: str) -> subprocess.Popen:
    """One node's launcher of ``tools/<script>`` (one process, NNODES=2)."""
    return subprocess.Popen(
        ['bash', str(TOOLS / script), *map(str, args)], cwd=cwd,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
        env=tool_env(PYTHON=sys.executable, NNODES='2',
                     NODE_RANK=str(node_rank), MASTER_ADDR='127.0.0.1',
                     PORT=str(port), **fault_env(), **env))


def finish(nodes: List[subprocess.Popen]) -> List[subprocess.CompletedProcess]:
    """Waits for every node's launcher; kills them all on a timeout."""
    done = []
    try:
        for node in nodes:
            stdout, stderr = node.communicate(timeout=TIMEOUT_S)
            done.append(subprocess.CompletedProcess(node.args, node.returncode,
                                                    stdout, stderr))
    finally:
        for node in nodes:
            if node.poll() is None:
                os.killpg(node.pid, signal.SIGKILL)
    return done


def two_nodes(script: str, args: List, cwd: Path) -> None:
    port = free_port()
    for node in finish([start_node(script, args, cwd, port, rank)
                        for rank in (0, 1)]):
        check(node)


@pytest.mark.slow
@pytest.mark.long
def test_two_nodes_train_and_test_like_two_processes(tmp_path):
    root = make_data(tmp_path)
    work = tmp_path / 'work'
    two_nodes('dist_train.sh', ['micro.py', 1, '--work-dir', work,
                                *SHORT_RUN], root)
    log = [path.read_text() for path in work.glob('*/*.log')]
    assert len(log) == 1
    assert 'Distributed training: True' in log[0] and 'GPU number: 2' in log[0]
    nodes = checkpoints(work)
    assert {name: ckpt['meta']['iter'] for name, ckpt in nodes.items()} == {
        'iter_2.pth': 2, 'iter_4.pth': 4}

    processes = tmp_path / 'processes'
    check(dist_script('dist_train.sh', 'micro.py', 2, '--work-dir', processes,
                      *SHORT_RUN, cwd=root))
    assert same_weights(nodes['iter_4.pth']['state_dict'],
                        checkpoints(processes)['iter_4.pth']['state_dict'])

    two_nodes('dist_test.sh', ['micro.py', work / 'iter_4.pth', 1,
                               '--work-dir', tmp_path / 'test_nodes'], root)
    check(dist_script('dist_test.sh', 'micro.py', work / 'iter_4.pth', 2,
                      '--work-dir', tmp_path / 'test_processes', cwd=root))
    metrics = only_metrics_json(tmp_path / 'test_nodes')
    assert {'aAcc', 'mIoU', 'mAcc'} <= set(metrics)
    assert metrics == only_metrics_json(tmp_path / 'test_processes')


@pytest.mark.slow
@pytest.mark.long
def test_a_node_that_never_joins_is_one_line(tmp_path):
    root = make_data(tmp_path)
    port, timeout_s = free_port(), 5
    began = time.time()
    [alone] = finish([start_node('dist_train.sh', ['micro.py', 1], root, port,
                                 0, RDZV_TIMEOUT=str(timeout_s))])
    assert time.time() - began < timeout_s + 60  # start-up on busy cores
    assert alone.returncode == 2
    assert 'Traceback' not in alone.stderr
    assert error_lines(alone) == [
        f'error: node NODE_RANK=1 is missing: it did not join the rendezvous '
        f'at 127.0.0.1:{port} within {timeout_s} s (NNODES=2): start '
        'tools/dist_train.sh on each node with its NODE_RANK and the same '
        'MASTER_ADDR and PORT, or allow more time with RDZV_TIMEOUT=SECONDS']
