"""Toy data written by concurrent or killed runs into the same folder: the
runs take turns (a lock on the parent folder), the later one keeps what the
first wrote, and what a killed run leaves behind is removed by the next."""
import json
import multiprocessing
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import TOOLS, tool_env

from convnext_dense.data.toy import folder, toy_coco

META = 'meta.json'
#: Seconds a test waits for another process before it fails.
PATIENCE = 300


def write_slowly(root: Path, started, release, tag: str) -> None:
    """A toy writer that holds its turn until ``release`` is set."""

    def write(tmp: Path) -> None:
        (tmp / 'data.txt').write_text(tag)
        started.set()
        release.wait(PATIENCE)

    written = folder.write_dataset(root, META, {'v': 1}, write,
                                   lambda r: (r / 'data.txt').is_file())
    sys.exit(0 if written else 3)


@pytest.fixture
def fork():
    context = multiprocessing.get_context('fork')
    yield context
    for process in multiprocessing.active_children():
        process.kill()


def test_concurrent_runs_take_turns(tmp_path, fork):
    root = tmp_path / 'toy'
    started = [fork.Event(), fork.Event()]
    release = fork.Event()
    first = fork.Process(target=write_slowly,
                         args=(root, started[0], release, 'first'))
    first.start()
    assert started[0].wait(PATIENCE)
    second = fork.Process(target=write_slowly,
                          args=(root, started[1], release, 'second'))
    second.start()
    # The second run waits for the first to finish: it writes nothing.
    assert not started[1].wait(1.0)
    assert not root.exists()
    release.set()
    first.join(PATIENCE)
    second.join(PATIENCE)
    assert (first.exitcode, second.exitcode) == (0, 3)  # written, kept
    assert (root / 'data.txt').read_text() == 'first'
    assert json.loads((root / META).read_text()) == {'v': 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ['toy']


def test_a_killed_run_leaves_no_dataset_and_no_lock(tmp_path, fork):
    root = tmp_path / 'toy'
    started, release = fork.Event(), fork.Event()
    killed = fork.Process(target=write_slowly,
                          args=(root, started, release, 'killed'))
    killed.start()
    assert started.wait(PATIENCE)
    os.kill(killed.pid, signal.SIGKILL)
    killed.join(PATIENCE)
    # What SIGKILL leaves: no dataset, its temporary folder.
    assert not root.exists()
    assert [p.name for p in tmp_path.iterdir()] == [
        f'.toy.tmp{killed.pid}']
    toy_coco.generate(root, num_train=2, num_val=1)  # does not wait
    assert toy_coco.is_generated(root, num_train=2, num_val=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['toy']


def test_make_toy_data_waits_for_a_run_writing_the_same_folder(tmp_path):
    root = tmp_path / 'data' / 'toy_coco'
    args = dict(num_train=4, num_val=2)
    with folder.locked(root):  # this process is the run writing the folder
        tool = subprocess.Popen(
            [sys.executable, str(TOOLS / 'make_toy_data.py'), 'coco', '--root',
             str(root), '--num-train', '4', '--num-val', '2'],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=tool_env(), cwd=tmp_path)
        deadline, seen = time.monotonic() + PATIENCE, []
        while not any('waiting for another run' in line for line in seen):
            assert time.monotonic() < deadline and tool.poll() is None, seen
            if select.select([tool.stdout], [], [], 1.0)[0]:
                seen.append(tool.stdout.readline())
        toy_coco.generate(root, **args)
    out = ''.join(seen) + tool.communicate(timeout=PATIENCE)[0]
    assert tool.returncode == 0, out
    assert f'waiting for another run writing into {root.parent}/' in out
    assert f'{root}/ already holds this toy COCO instance segmentation ' \
        f'dataset: kept' in out
    assert toy_coco.is_generated(root, **args)
    assert sorted(p.name for p in root.parent.iterdir()) == ['toy_coco']
