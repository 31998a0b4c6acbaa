"""Patch rotate_after_save: with max_keep_ckpts, mmengine deletes the oldest
checkpoint before writing the new one; now it is deleted after, so a failed
(or killed) write keeps the previous checkpoint."""
import errno

import pytest
from mmengine.hooks import CheckpointHook

from convnext_dense.errors import CheckpointWriteError
from convnext_dense.patches import rotate_after_save
from micro_training import checkpoints, last_checkpoint
from tiny_runner import runner


def keep_one(work_dir, max_epochs):
    built = runner(work_dir, max_epochs)
    hook = next(h for h in built.hooks if isinstance(h, CheckpointHook))
    hook.max_keep_ckpts = 1
    return built


def test_a_failed_write_keeps_the_only_checkpoint(tmp_path, monkeypatch):
    real_open = open

    def full_at_epoch_2(path, *args, **kwargs):
        if '.epoch_2.pth.' in str(path):
            raise OSError(errno.ENOSPC, 'No space left on device')
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr('convnext_dense.patches.atomic_save.open',
                        full_at_epoch_2, raising=False)
    with pytest.raises(CheckpointWriteError, match='epoch_2.pth'):
        keep_one(tmp_path, 2).train()
    assert list(checkpoints(tmp_path)) == ['epoch_1.pth']
    assert last_checkpoint(tmp_path) == 'epoch_1.pth'


def test_outdated_checkpoints_are_still_removed(tmp_path):
    keep_one(tmp_path, 3).train()
    saved = checkpoints(tmp_path)
    assert list(saved) == ['epoch_3.pth']
    assert saved['epoch_3.pth']['message_hub']['runtime_info'][
        'keep_ckpt_ids'] == [3]
    assert last_checkpoint(tmp_path) == 'epoch_3.pth'


def test_resumed_run_rotates_the_same_files(tmp_path):
    keep_one(tmp_path, 2).train()
    resumed = runner(tmp_path, 4, resume=True)
    hook = next(h for h in resumed.hooks if isinstance(h, CheckpointHook))
    hook.max_keep_ckpts = 1
    resumed.train()
    assert list(checkpoints(tmp_path)) == ['epoch_4.pth']


def test_patch_is_installed():
    assert CheckpointHook._save_checkpoint_with_step is \
        rotate_after_save.save_then_rotate
