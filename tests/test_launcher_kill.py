"""Workers do not outlive their launcher: the 2-process micro run, its
torchrun killed (SIGKILL) while rank 0 writes a checkpoint. Every worker
stops within seconds, the checkpoint being written leaves nothing behind,
a second run into the work dir is refused while the workers live, and
``--resume`` afterwards finishes the run."""
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import pytest

from helpers import (TOOLS, check, error_lines, free_port, running,
                     run_tool_in_process, tool_env)
from micro_training import (MAX_ITERS, TIMEOUT_S, checkpoints, fault_env,
                            make_data, run)

#: Longest the workers may outlive their launcher, in seconds.
WORKERS_GONE_S = 10


def children(pid: int) -> List[int]:
    """The PIDs of ``pid``'s child processes."""
    found = []
    for entry in Path('/proc').iterdir():
        try:
            stat = (entry / 'stat').read_text()
        except (OSError, ValueError):
            continue
        # "PID (NAME) STATE PPID ...": NAME may hold spaces.
        if int(stat.rpartition(')')[2].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, what
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.long
def test_workers_stop_when_the_launcher_is_killed(tmp_path):
    root = make_data(tmp_path)
    work = tmp_path / 'work'
    ready = root / 'fault_ready'
    launcher = subprocess.Popen(
        ['bash', str(TOOLS / 'dist_train.sh'), 'micro.py', '2', '--work-dir',
         str(work)], cwd=root, stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / 'launcher.log', 'w'), start_new_session=True,
        env=tool_env(PYTHON=sys.executable, PORT=str(free_port()),
                     **fault_env('write@iter_8.pth', ready)))
    try:
        wait_for(lambda: ready.exists() or launcher.poll() is not None,
                 TIMEOUT_S, 'the fault was not reached in time')
        assert ready.exists(), (tmp_path / 'launcher.log').read_text()[-3000:]
        workers = children(launcher.pid)
        assert len(workers) == 2
        busy = run_tool_in_process('train.py', 'micro.py', '--work-dir', work,
                                   '--resume', cwd=root)
        assert busy.returncode == 2
        assert [line.split(' (PID ')[0] for line in error_lines(busy)] == [
            f'error: --work-dir {work} is in use by another training run']
        holder = int(error_lines(busy)[0].split(' (PID ')[1].split()[0])
        assert holder in workers

        os.kill(launcher.pid, signal.SIGKILL)
        launcher.wait()
        killed_at = time.time()
        wait_for(lambda: not any(map(running, workers)), WORKERS_GONE_S,
                 f'workers {workers} outlived their launcher')
        print(f'workers gone {time.time() - killed_at:.1f} s after the '
              'launcher was killed')
    finally:
        with contextlib.suppress(ProcessLookupError):  # all gone: passed
            os.killpg(launcher.pid, signal.SIGKILL)
    log = (tmp_path / 'launcher.log').read_text()
    assert 'error: the launcher of this worker' in log
    # The interrupted write removed its temporary file; iter_4.pth is whole.
    assert sorted(path.name for path in work.iterdir()
                  if path.is_file()) == ['.train.lock', 'iter_4.pth',
                                         'last_checkpoint', 'micro.py']
    assert checkpoints(work)['iter_4.pth']['meta']['iter'] == 4

    resumed = check(run(root, work, '--resume'))
    out = resumed.stdout + resumed.stderr
    # The stopped worker released its lock: nothing to take over.
    assert 'took over the lock' not in out
    assert f'--resume: resuming from {work / "iter_4.pth"}' in out
    assert checkpoints(work)[f'iter_{MAX_ITERS}.pth']['meta']['iter'] == \
        MAX_ITERS
