"""A training killed (SIGKILL) at several points and finished with
``--resume`` (no path) leaves no broken checkpoint and ends as if never
interrupted: the same iteration count, weights and metrics.

One micro run is killed three times in a row, each time resumed: while
``iter_8.pth`` is being written, right after ``iter_8.pth`` is in place but
before ``last_checkpoint`` names it, and mid-iteration (after the backward
pass of iteration 10, before the optimizer step). The toy UperNet trains
without dropout here, and on one CPU thread it is deterministic, so the
resumed run's final weights equal an uninterrupted run's bit for bit.
"""
import zipfile

import pytest
import torch

from convnext_dense.cli.resume import latest_checkpoint
from helpers import check
from micro_training import (MAX_ITERS, checkpoints, last_checkpoint,
                            make_data, run, run_until_paused, same_weights,
                            val_metrics)

METRICS = ('aAcc', 'mIoU', 'mAcc')


@pytest.fixture(scope='module')
def micro(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp('crash_resume'))


def steps(work_dir) -> dict:
    """Each checkpoint's iteration, every ``.pth`` loaded weights-only."""
    return {name: ckpt['meta']['iter']
            for name, ckpt in checkpoints(work_dir).items()}


def save(path, step: int) -> None:
    torch.save({'meta': {'iter': step}}, path)


@pytest.mark.parametrize('files, pointer, expected, note', [
    # last_checkpoint is right.
    (dict(iter_4=4, iter_8=8), 'iter_8.pth', 'iter_8.pth', None),
    # killed between iter_8.pth and last_checkpoint
    (dict(iter_4=4, iter_8=8), 'iter_4.pth', 'iter_8.pth',
     'iter_8.pth is newer than iter_4.pth, which last_checkpoint names'),
    # killed while last_checkpoint was written
    (dict(iter_4=4, iter_8=8), '', 'iter_8.pth', None),
    # last_checkpoint names a deleted file
    (dict(iter_8=8), 'iter_4.pth', 'iter_8.pth', 'which is gone'),
    # a truncated file (mmengine without the atomic write) is skipped
    (dict(iter_4=4, iter_8='truncated'), 'iter_8.pth', 'iter_4.pth',
     'which is incomplete'),
    # a checkpoint of another name (filename_tmpl) is found by its pointer
    (dict(ckpt_8=8), 'ckpt_8.pth', 'ckpt_8.pth', None),
    (dict(), None, None, None),
])
def test_resume_takes_the_latest_complete_checkpoint(
        tmp_path, files, pointer, expected, note):
    for name, step in files.items():
        path = tmp_path / f'{name}.pth'
        save(path, 0 if step == 'truncated' else step)
        if step == 'truncated':
            path.write_bytes(path.read_bytes()[:-100])
            assert not zipfile.is_zipfile(path)
    if pointer is not None:
        (tmp_path / 'last_checkpoint').write_text(
            str(tmp_path / pointer) if pointer else '')
    path, notes = latest_checkpoint(str(tmp_path))
    assert path == (str(tmp_path / expected) if expected else None)
    assert any(note in line for line in notes) if note else not notes


@pytest.mark.slow
def test_killed_training_resumes_to_the_uninterrupted_result(micro):
    reference = micro / 'uninterrupted'
    check(run(micro, reference))
    work = micro / 'killed'

    # 1. Killed while iter_8.pth is being written: iter_4.pth is untouched,
    #    the partial write is a temporary file, not iter_8.pth.
    run_until_paused(micro, work, 'write@iter_8.pth')
    assert steps(work) == {'iter_4.pth': 4}
    assert last_checkpoint(work) == 'iter_4.pth'
    partial = [path.name for path in work.glob('.iter_8.pth.*.tmp')]
    assert len(partial) == 1

    # 2. --resume takes iter_4.pth and clears the partial file; killed right
    #    after iter_8.pth is in place, before last_checkpoint names it.
    out = run_until_paused(micro, work, 'saved@iter_8.pth', '--resume')
    assert f'--resume: resuming from {work / "iter_4.pth"}' in out
    assert f'--resume: removed {work / partial[0]}' in out
    assert ('took over the lock of a training run that ended without '
            'releasing it (PID ') in out  # the killed run's
    assert not list(work.glob('.*.tmp'))
    assert steps(work) == {'iter_4.pth': 4, 'iter_8.pth': 8}
    assert last_checkpoint(work) == 'iter_4.pth'

    # 3. --resume takes iter_8.pth, the latest complete checkpoint, though
    #    last_checkpoint is behind; killed mid-iteration 10.
    out = run_until_paused(micro, work, 'step@10', '--resume')
    assert ('--resume: iter_8.pth is newer than iter_4.pth, which '
            'last_checkpoint names') in out
    assert f'--resume: resuming from {work / "iter_8.pth"}' in out
    assert steps(work) == {'iter_4.pth': 4, 'iter_8.pth': 8}

    # 4. --resume finishes the run.
    out = check(run(micro, work, '--resume')).stdout
    assert f'--resume: resuming from {work / "iter_8.pth"}' in out
    assert steps(work) == {'iter_4.pth': 4, 'iter_8.pth': 8,
                           'iter_12.pth': MAX_ITERS}
    assert last_checkpoint(work) == 'iter_12.pth'
    resumed = checkpoints(work)['iter_12.pth']
    expected = checkpoints(reference)['iter_12.pth']
    assert resumed['meta']['iter'] == expected['meta']['iter'] == MAX_ITERS
    assert same_weights(resumed['state_dict'], expected['state_dict'])
    assert {key: val_metrics(work)[key] for key in METRICS} == \
        {key: val_metrics(reference)[key] for key in METRICS}
