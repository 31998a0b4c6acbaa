"""Patch: with ``max_keep_ckpts``, delete the oldest checkpoint only once the
new one is saved.

What is wrong: mmengine 0.10.7's ``CheckpointHook`` deletes the outdated
checkpoint *before* it writes the new one. With ``max_keep_ckpts=1``, a kill
or a full disk during that write leaves no checkpoint at all, and
``last_checkpoint`` names a deleted file.

The fix: :func:`install` wraps ``CheckpointHook._save_checkpoint_with_step``
so that the new checkpoint (and ``last_checkpoint``) is written first and the
outdated one removed after. The ids recorded in the checkpoint's message hub
(``keep_ckpt_ids``) are those after the removal, as in mmengine, so a resumed
run rotates the same files.
"""
from collections import deque

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook

_original = CheckpointHook._save_checkpoint_with_step


def _remove(hook: CheckpointHook, step: int) -> None:
    """Deletes the checkpoint of ``step`` (a file, or a DeepSpeed folder)."""
    if not is_main_process():
        return
    path = hook.file_backend.join_path(hook.out_dir,
                                       hook.filename_tmpl.format(step))
    if hook.file_backend.isfile(path):
        hook.file_backend.remove(path)
    elif hook.file_backend.isdir(path):
        hook.file_backend.rmtree(path)


def save_then_rotate(self: CheckpointHook, runner, step: int, meta) -> None:
    """``_save_checkpoint_with_step`` that deletes the outdated checkpoint
    after the new one is written, not before."""
    keep = self.max_keep_ckpts
    if keep <= 0 or (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
        _original(self, runner, step, meta)
        return
    kept = list(self.keep_ckpt_ids) + [step]
    outdated, kept = kept[:-keep], kept[-keep:]
    runner.message_hub.update_info('keep_ckpt_ids', kept)
    self.max_keep_ckpts = -1  # mmengine's own rotation off for this save
    try:
        _original(self, runner, step, meta)
    finally:
        self.max_keep_ckpts = keep
    self.keep_ckpt_ids = deque(kept, keep)
    for old in outdated:
        _remove(self, old)


def install() -> None:
    """Makes ``CheckpointHook`` rotate after saving."""
    CheckpointHook._save_checkpoint_with_step = save_then_rotate
