"""One live training run per work dir: a second run into a held work dir
stops at once naming the holder; a lock its dead holder left is taken over
with a warning; a clean end leaves nothing to take over."""
import json
import os
import socket
import subprocess

import pytest
from mmengine.logging import MMLogger

from convnext_dense.engine import work_dir_lock
from convnext_dense.engine.work_dir_lock import LOCK_NAME, hold_work_dir
from convnext_dense.errors import UserError, WorkDirBusyError
from helpers import CONFIGS, error_lines, run_tool_in_process

def holder_of(work) -> dict:
    return json.loads((work / LOCK_NAME).read_text())


@pytest.fixture
def held(tmp_path):
    """A held work dir; yields (path, the holder's PID). flock locks belong
    to open files, so this process's own second attempt is refused as
    another process's would be."""
    work = tmp_path / 'work'
    with hold_work_dir(str(work)):
        yield work, os.getpid()


def test_a_held_work_dir_is_refused_naming_its_holder(held):
    work, pid = held
    with pytest.raises(WorkDirBusyError, match=(
            rf'^--work-dir {work} is in use by another training run \(PID '
            rf'{pid} on \S+, started \d{{4}}-.*\): wait for it to end or '
            r'stop it, or pass another --work-dir$')):
        with hold_work_dir(str(work)):
            pass


@pytest.mark.parametrize('extra', [[], ['--resume']])
def test_train_into_a_held_work_dir_is_one_line(held, extra, tmp_path):
    from convnext_dense.data.toy import toy_ade
    work, pid = held
    toy_ade.generate(tmp_path / toy_ade.DEFAULT_ROOT, num_train=2, num_val=1)
    done = run_tool_in_process(
        'train.py', CONFIGS / 'toy/upernet_convnext_toy_ade.py',
        '--work-dir', work, *extra, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert error_lines(done) == [
        f'error: --work-dir {work} is in use by another training run '
        f'(PID {pid} on {socket.gethostname()}, started '
        f'{holder_of(work)["started"]}): wait for it to end or stop it, or '
        'pass another --work-dir']


def test_a_dead_holders_lock_is_taken_over_with_a_warning(tmp_path, capsys):
    # The current logger, printing into this test's capture.
    MMLogger.get_instance(f'lock_takeover_{os.getpid()}_{tmp_path.name}')
    work = tmp_path / 'work'
    work.mkdir()
    gone = subprocess.Popen(['true'])
    gone.wait()
    (work / LOCK_NAME).write_text(json.dumps(
        dict(pid=gone.pid, host='node7', started='2026-01-02T03:04:05')))
    with hold_work_dir(str(work)):
        assert holder_of(work)['pid'] == os.getpid()
    assert (f'WARNING - {work / LOCK_NAME}: took over the lock of a training '
            f'run that ended without releasing it (PID {gone.pid} on node7, '
            'started 2026-01-02T03:04:05)') in capsys.readouterr().out
    # Released cleanly: the next run takes it without a warning.
    with hold_work_dir(str(work)):
        pass
    assert 'took over' not in capsys.readouterr().out


def test_only_the_first_process_holds_it(tmp_path, monkeypatch, held):
    work, _ = held
    monkeypatch.setenv('RANK', '1')
    with hold_work_dir(str(work)):
        pass


def test_a_work_dir_that_is_a_file_is_one_error(tmp_path):
    path = tmp_path / 'work'
    path.write_text('')
    with pytest.raises(UserError, match=rf'^--work-dir {path} is a file, not '
                       r'a folder: pass a folder \(made if absent\)$'):
        with hold_work_dir(str(path)):
            pass


def test_no_lock_where_flock_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(work_dir_lock, 'fcntl', None)
    with hold_work_dir(str(tmp_path / 'work')):
        assert not (tmp_path / 'work').exists()



def test_a_forked_child_does_not_keep_the_lock(tmp_path):
    """A data loader worker forked by the holder outlives a killed holder
    for seconds; the lock must end with the holder all the same."""
    work = tmp_path / 'work'
    started_read, started_write = os.pipe()
    stop_read, stop_write = os.pipe()
    with hold_work_dir(str(work)):
        child = os.fork()
        if child == 0:  # tells it runs, then waits until the pipe closes
            os.close(stop_write)
            os.write(started_write, b'1')
            os.read(stop_read, 1)
            os._exit(0)
        os.close(stop_read)
        os.read(started_read, 1)
    try:
        with hold_work_dir(str(work)):  # the child is alive
            assert holder_of(work)['pid'] == os.getpid()
    finally:
        os.close(stop_write)
        os.waitpid(child, 0)
        os.close(started_read)
        os.close(started_write)
