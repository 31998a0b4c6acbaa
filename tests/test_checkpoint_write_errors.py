"""A checkpoint that cannot be written (a full disk, a path through a file) is
one error naming the path and the OS error, and the checkpoints saved before
stay as they were. The tests run as root, for whom every folder is writable,
so the failures are injected: ENOSPC raised inside the write, and a work dir
whose parent is a file."""
import errno
import os
import subprocess
import sys

import pytest
import torch
from mmengine.fileio.backends.local_backend import LocalBackend
from mmengine.runner.checkpoint import save_checkpoint

from convnext_dense.errors import CheckpointWriteError, ConvNeXtDenseError
from convnext_dense.patches import atomic_save
from convnext_dense.patches.weights_only_load import safe_torch_load
from helpers import error_messages
from micro_training import (checkpoints, last_checkpoint, make_data, run,
                            sha256)


def disk_full(fd):
    raise OSError(errno.ENOSPC, 'No space left on device')


def test_full_disk_is_one_error_and_keeps_the_previous_file(
        tmp_path, monkeypatch):
    path = tmp_path / 'iter_4.pth'
    save_checkpoint({'state_dict': {'w': torch.ones(3)}}, str(path))
    before = sha256(path)
    monkeypatch.setattr('os.fsync', disk_full)
    with pytest.raises(CheckpointWriteError) as caught:
        save_checkpoint({'state_dict': {'w': torch.zeros(3)}}, str(path))
    assert str(caught.value) == (
        f'could not write checkpoint {path}: No space left on device '
        '(ENOSPC); nothing was written there, and the checkpoints saved '
        'before are intact: free disk space, then continue with --resume')
    assert isinstance(caught.value, (ConvNeXtDenseError, OSError))
    assert sha256(path) == before
    assert torch.equal(safe_torch_load(path)['state_dict']['w'], torch.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ['iter_4.pth']


@pytest.mark.parametrize('parts, error', [
    (('work', 'iter_4.pth'), r'File exists \(EEXIST, {work}\)'),
    (('work', 'sub', 'iter_4.pth'),
     r'Not a directory \(ENOTDIR, {work}/sub\)'),
])
def test_a_path_through_a_file_is_named(tmp_path, parts, error):
    work = tmp_path / 'work'
    work.write_text('a file, not a folder')
    path = tmp_path.joinpath(*parts)
    with pytest.raises(CheckpointWriteError,
                       match=rf'^could not write checkpoint {path}: '
                       + error.format(work=work) + r'; .*a part of that path '
                       r'is a file: move it or pick another --work-dir'):
        LocalBackend().put(b'weights', path)
    assert work.read_text() == 'a file, not a folder'


def test_other_files_are_not_called_checkpoints(tmp_path, monkeypatch):
    monkeypatch.setattr('os.fsync', disk_full)
    with pytest.raises(CheckpointWriteError,
                       match=r'^could not write file .*results\.json: '):
        LocalBackend().put(b'{}', tmp_path / 'results.json')


def test_stale_temporaries_are_those_of_dead_writers(tmp_path):
    dead = subprocess.run(
        [sys.executable, '-c', 'import os; print(os.getpid())'],
        capture_output=True, text=True).stdout.strip()
    (tmp_path / f'.iter_8.pth.{dead}.tmp').write_bytes(b'half')
    (tmp_path / f'.iter_8.pth.{os.getpid()}.tmp').write_bytes(b'in progress')
    (tmp_path / 'iter_4.pth').write_bytes(b'')
    assert [p.name for p in atomic_save.stale_temporaries(tmp_path)] == [
        f'.iter_8.pth.{dead}.tmp']


@pytest.mark.slow
def test_train_py_reports_a_full_disk_in_one_line(tmp_path):
    """tools/train.py: the write of iter_8.pth fails halfway with ENOSPC."""
    root = make_data(tmp_path)
    work = tmp_path / 'work'
    done = run(root, work, fault='enospc@iter_8.pth')
    assert done.returncode == 2, done.stderr[-3000:]
    assert error_messages(done) == [
        f'error: could not write checkpoint {work / "iter_8.pth"}: No space '
        'left on device (ENOSPC); nothing was written there, and the '
        'checkpoints saved before are intact: free disk space, then continue '
        'with --resume']
    assert 'Traceback' not in done.stderr
    assert {name: ckpt['meta']['iter']
            for name, ckpt in checkpoints(work).items()} == {'iter_4.pth': 4}
    assert last_checkpoint(work) == 'iter_4.pth'
    assert not list(work.glob('.*.tmp'))
