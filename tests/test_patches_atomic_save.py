"""Patch atomic_save: a checkpoint write killed midway leaves the previous file
intact and no temporary file behind."""
import pytest
import torch
from mmengine.fileio.backends.local_backend import LocalBackend
from mmengine.runner.checkpoint import save_checkpoint

from convnext_dense import patches
from convnext_dense.patches.atomic_save import atomic_put
from convnext_dense.patches.weights_only_load import safe_torch_load


def test_interrupted_checkpoint_write_keeps_the_previous_file(
        tmp_path, monkeypatch):
    path = tmp_path / 'epoch_1.pth'
    save_checkpoint({'state_dict': {'w': torch.ones(3)}}, str(path))

    def killed(fd):
        raise KeyboardInterrupt('killed mid-write')

    monkeypatch.setattr('os.fsync', killed)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({'state_dict': {'w': torch.zeros(3)}}, str(path))
    assert torch.equal(safe_torch_load(path)['state_dict']['w'], torch.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ['epoch_1.pth']


def test_completed_write_replaces_the_file(tmp_path):
    path = tmp_path / 'sub' / 'last_checkpoint'
    LocalBackend().put(b'first', path)
    LocalBackend().put(b'second', path)
    assert path.read_bytes() == b'second'
    assert sorted(p.name for p in path.parent.iterdir()) == ['last_checkpoint']


def test_patch_is_installed_once():
    patches.install()
    assert LocalBackend.put is atomic_put
