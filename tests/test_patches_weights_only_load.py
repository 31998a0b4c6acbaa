"""Patch weights_only_load: weights-only loading on every checkpoint path.
mmengine's own checkpoints load and resume; a checkpoint that would run code
is refused on all paths."""
import pytest
import torch
from mmengine.runner.checkpoint import CheckpointLoader

from convnext_dense.errors import InputNotFoundError, UnsafeCheckpointError
from convnext_dense.models import ConvNeXt
from convnext_dense.patches.weights_only_load import (allowed_global_names,
                                                      history_buffer_method,
                                                      safe_torch_load)
from tiny_runner import runner


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


def test_missing_local_checkpoint_is_a_toolkit_error(tmp_path):
    with pytest.raises(InputNotFoundError,
                       match=r'checkpoint .*gone\.pth does not exist'):
        CheckpointLoader.load_checkpoint(str(tmp_path / 'gone.pth'))


def test_getattr_is_allowed_only_for_history_buffer_methods():
    from mmengine.logging import HistoryBuffer
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
