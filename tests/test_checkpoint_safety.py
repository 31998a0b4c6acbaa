"""Weights-only loading on every checkpoint path: mmengine's own checkpoints
load and resume; a checkpoint that would run code is refused on all paths."""
import copy

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.runner.checkpoint import CheckpointLoader

from convnext_dense.checkpoint import UnsafeCheckpointError, safe_torch_load
from convnext_dense.checkpoint.safe_load import allowed_global_names
from convnext_dense.models import ConvNeXt


class CodeRunningPayload:
    """Unpickling this writes a file: what a malicious checkpoint would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f'open({self.marker!r}, "w").write("ran")', )


@pytest.fixture
def malicious(tmp_path):
    marker = tmp_path / 'code_ran'
    path = tmp_path / 'malicious.pth'
    torch.save({'state_dict': {'w': torch.zeros(1)},
                'meta': CodeRunningPayload(marker)}, path)
    yield path
    assert not marker.exists(), 'unpickling ran code from the checkpoint'


class TinyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, targets=None, mode='tensor'):
        out = self.linear(inputs)
        if mode == 'loss':
            return dict(loss=((out - targets) ** 2).mean())
        return out


class ToyData(torch.utils.data.Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, index):
        return dict(inputs=torch.full((2, ), float(index)),
                    targets=torch.tensor([float(index)]))


def runner(work_dir, max_epochs, **kwargs) -> Runner:
    return Runner(
        model=TinyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=ToyData(), batch_size=4,
            sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        randomness=dict(seed=0),
        experiment_name=f'exp_{work_dir.name}_{max_epochs}',
        **kwargs)


@pytest.fixture(scope='module')
def mmengine_checkpoint(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('trained')
    runner(work_dir, max_epochs=1).train()
    return work_dir / 'epoch_1.pth'


def test_mmengine_checkpoint_needs_exactly_the_allowed_globals(
        mmengine_checkpoint):
    needed = set(torch.serialization.get_unsafe_globals_in_checkpoint(
        str(mmengine_checkpoint)))
    # numpy's DType classes are built, not named by a GLOBAL opcode.
    named = {n for n in allowed_global_names()
             if not n.startswith('numpy.dtypes.')}
    assert needed == named
    with pytest.raises(Exception):
        torch.load(mmengine_checkpoint, weights_only=True)
    assert safe_torch_load(mmengine_checkpoint)['meta']['epoch'] == 1


def test_mmengine_checkpoint_loads_with_load_from(mmengine_checkpoint,
                                                  tmp_path):
    trained = safe_torch_load(mmengine_checkpoint)['state_dict']
    fresh = runner(tmp_path, max_epochs=1, load_from=str(mmengine_checkpoint))
    fresh.load_or_resume()
    torch.testing.assert_close(fresh.model.state_dict(), trained)


def test_mmengine_checkpoint_resumes(mmengine_checkpoint, tmp_path):
    resumed = runner(tmp_path, max_epochs=2,
                     load_from=str(mmengine_checkpoint), resume=True)
    resumed.train()
    assert resumed.epoch == 2 and resumed.iter == 4
    assert (tmp_path / 'epoch_2.pth').is_file()


def test_refused_by_safe_torch_load(malicious):
    with pytest.raises(UnsafeCheckpointError,
                       match=r'refused to load checkpoint .*malicious\.pth.*'
                       r'builtins\.exec'):
        safe_torch_load(malicious)


def test_refused_by_mmengine_loader(malicious):
    # The path of load_from, --resume and tools/test.py --checkpoint.
    with pytest.raises(UnsafeCheckpointError, match='malicious.pth'):
        CheckpointLoader.load_checkpoint(str(malicious))


def test_refused_by_runner_load_from_and_resume(malicious, tmp_path):
    for resume in (False, True):
        bad = runner(tmp_path / str(resume), max_epochs=1,
                     load_from=str(malicious), resume=resume)
        with pytest.raises(UnsafeCheckpointError, match='malicious.pth'):
            bad.load_or_resume()


def test_refused_by_backbone_pretrained_init(malicious):
    model = ConvNeXt(init_cfg=dict(type='Pretrained', checkpoint=str(malicious)))
    with pytest.raises(UnsafeCheckpointError, match='malicious.pth'):
        model.init_weights()


def test_error_message_is_one_line(malicious):
    with pytest.raises(UnsafeCheckpointError) as error:
        safe_torch_load(malicious)
    assert '\n' not in str(error.value)


def test_refusal_survives_force_no_weights_only_env(malicious, monkeypatch):
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    with pytest.raises(UnsafeCheckpointError):
        CheckpointLoader.load_checkpoint(str(malicious))


def test_loaded_checkpoint_is_not_mutated_by_conversion(timm_reference):
    from convnext_dense.checkpoint import convert_to_dense_backbone
    original = copy.deepcopy(timm_reference['timm_state_dict'])
    convert_to_dense_backbone(timm_reference['timm_state_dict'])
    assert timm_reference['timm_state_dict'].keys() == original.keys()


def test_interrupted_checkpoint_write_keeps_the_previous_file(
        tmp_path, monkeypatch):
    from mmengine.fileio.backends.local_backend import LocalBackend
    from mmengine.runner.checkpoint import save_checkpoint
    path = tmp_path / 'epoch_1.pth'
    save_checkpoint({'state_dict': {'w': torch.ones(3)}}, str(path))

    def killed(fd):
        raise KeyboardInterrupt('killed mid-write')

    monkeypatch.setattr('os.fsync', killed)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({'state_dict': {'w': torch.zeros(3)}}, str(path))
    assert torch.equal(safe_torch_load(path)['state_dict']['w'], torch.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ['epoch_1.pth']
    assert getattr(LocalBackend.put, '__convnext_dense_atomic__', False)


def test_getattr_is_allowed_only_for_history_buffer_methods():
    from mmengine.logging import HistoryBuffer

    from convnext_dense.checkpoint.safe_load import history_buffer_method
    assert history_buffer_method(HistoryBuffer, 'mean') is HistoryBuffer.mean
    for owner, name in ((HistoryBuffer, '__init__'), (torch, 'load'),
                        (HistoryBuffer, 'update')):
        with pytest.raises(Exception, match='not allowed'):
            history_buffer_method(owner, name)


def test_getattr_gadget_in_a_checkpoint_is_refused(tmp_path):
    from mmengine.logging import HistoryBuffer

    class Gadget:
        def __reduce__(self):
            return getattr, (HistoryBuffer, '__init__')

    path = tmp_path / 'gadget.pth'
    torch.save({'meta': Gadget()}, path)
    with pytest.raises(UnsafeCheckpointError, match='gadget.pth'):
        safe_torch_load(path)
