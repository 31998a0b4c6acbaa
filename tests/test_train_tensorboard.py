"""tools/train.py --tensorboard: mmengine's TensorBoard backend beside the
local one, and one line saying how to install the package when it is
missing."""
import sys
from pathlib import Path

import pytest
from mmengine.config import Config

from conftest import CONFIGS, check, error_lines, run_tool
from helpers import run_tool_in_process
from convnext_dense.cli.tensorboard import BACKEND, enable_tensorboard
from convnext_dense.data.toy import toy_ade
from convnext_dense.errors import UserError

SEG_CONFIG = CONFIGS / 'toy/upernet_convnext_toy_ade.py'
MISSING = ("error: --tensorboard needs the tensorboard package: pip install "
           "'convnext-dense[tensorboard]'")


def test_adds_the_backend_once_beside_the_local_one():
    cfg = Config.fromfile(str(SEG_CONFIG))
    enable_tensorboard(cfg)
    enable_tensorboard(cfg)
    assert [b['type'] for b in cfg.visualizer.vis_backends] == [
        'LocalVisBackend', BACKEND
    ]


def test_missing_package_is_one_line(monkeypatch, tmp_path):
    # An import of a None entry in sys.modules raises ImportError.
    monkeypatch.setitem(sys.modules, 'tensorboard', None)
    with pytest.raises(UserError) as raised:
        enable_tensorboard(Config.fromfile(str(SEG_CONFIG)))
    assert f'error: {raised.value}' == MISSING
    # The same through the tool (in this process, where the import still
    # fails), before any training starts.
    done = run_tool_in_process('train.py', SEG_CONFIG, '--work-dir',
                               tmp_path / 'work', '--tensorboard',
                               cwd=tmp_path)
    assert done.returncode == 2
    assert error_lines(done)[-1:] == [MISSING]
    assert not (tmp_path / 'work').exists()


def test_training_writes_tensorboard_events(tmp_path):
    """Also the check that the real tools/train.py runs end to end (a
    subprocess) in the tests that train nothing."""
    event_accumulator = pytest.importorskip(
        'tensorboard.backend.event_processing.event_accumulator')
    toy_ade.generate(tmp_path / toy_ade.DEFAULT_ROOT, num_train=8, num_val=2)
    work_dir = tmp_path / 'work'
    # Two iterations logged one by one, no validation.
    check(run_tool(
        'train.py', SEG_CONFIG, '--work-dir', work_dir, '--tensorboard',
        '--cfg-options', 'train_cfg.max_iters=2', 'default_hooks.logger.'
        'interval=1', 'val_cfg=None', 'val_dataloader=None',
        'val_evaluator=None', cwd=tmp_path, OMP_NUM_THREADS='1'))
    (events, ) = work_dir.glob('*/vis_data/events.out.tfevents.*')
    assert (events.parent / 'scalars.json').is_file()
    accumulator = event_accumulator.EventAccumulator(str(events))
    accumulator.Reload()
    losses = accumulator.Scalars('loss')
    assert [event.step for event in losses] == [1, 2]
    assert Path(events).stat().st_size > 0
