"""tools/demo.py: the steps each demo runs, their commands, the summary and
the one-line error of a failed step. The tools are faked here; the toy
trainings they wrap are tested end to end elsewhere, and the demos themselves
run in make demo / make demo-seg."""
import dataclasses
import importlib.util
import json
import os
import subprocess
import types
from pathlib import Path

import pytest

from conftest import TOOLS
from convnext_dense.errors import UserError


def _load_demo_tool() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location('demo_tool',
                                                  TOOLS / 'demo.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


demo = _load_demo_tool()


def test_final_checkpoint_follows_the_pointer(tmp_path):
    (tmp_path / 'last_checkpoint').write_text(f'{tmp_path}/epoch_3.pth\n')
    assert demo.final_checkpoint(str(tmp_path)) == f'{tmp_path}/epoch_3.pth'


def test_final_checkpoint_without_a_pointer_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match='holds no last_checkpoint'):
        demo.final_checkpoint(str(tmp_path))


def tool_args(step) -> list:
    """A step's command after the interpreter."""
    return step.command[1:]


@pytest.mark.parametrize('task, tests', [
    ('detection', ['test']), ('segmentation', ['test', 'test_tta'])])
def test_evaluation_steps(task, tests):
    config = demo.DEMOS[task].config
    images = ['a.png', 'b.png', 'c.png']
    steps = demo.evaluation_steps(demo.DEMOS[task], '/w', '/w/it.pth', images)
    assert [s.name for s in steps] == tests + ['infer']
    assert tool_args(steps[0]) == [
        'tools/test.py', config, '/w/it.pth', '--work-dir', '/w/test']
    assert steps[0].metrics_dir == '/w/test'
    if task == 'segmentation':
        assert tool_args(steps[1]) == [
            'tools/test.py', config, '/w/it.pth', '--work-dir',
            '/w/test_tta', '--tta']
    assert tool_args(steps[-1]) == [
        'tools/infer.py', *images, '--config', config, '--checkpoint',
        '/w/it.pth', '--out-dir', '/w/painted']


def test_train_step_passes_the_overrides():
    step = demo.train_step(demo.DEMOS['segmentation'], '/w',
                           ['train_cfg.max_iters=20'])
    assert tool_args(step) == [
        'tools/train.py', 'configs/toy/upernet_convnext_toy_ade.py',
        '--work-dir', '/w', '--cfg-options', 'train_cfg.max_iters=20']
    assert '--cfg-options' not in demo.train_step(
        demo.DEMOS['detection'], '/w').command


@pytest.mark.parametrize('present', [True, False])
def test_data_is_generated_only_when_absent(present, monkeypatch):
    seg = demo.DEMOS['segmentation']
    monkeypatch.setattr(seg.generator, 'is_generated', lambda root: present)
    steps = demo.data_steps(seg)
    assert [tool_args(s) for s in steps] == (
        [] if present else [['tools/make_toy_data.py', 'ade']])


class FakeTools:
    """Stands in for subprocess.run: records each command and writes what
    the tool would (last_checkpoint, metrics JSON, val images)."""

    def __init__(self, data_root: Path, failing: str = '') -> None:
        self.data_root = data_root
        self.failing = failing
        self.commands = []

    def __call__(self, command, cwd, env):
        self.commands.append(command[1:])
        self.env = env
        tool = Path(command[1]).name
        args = command[2:]
        if tool == 'make_toy_data.py':
            images = self.data_root / 'images' / 'validation'
            images.mkdir(parents=True)
            for i in range(5):
                (images / f'toy_{i:05d}.jpg').write_bytes(b'')
        elif tool == 'train.py':
            work_dir = Path(args[args.index('--work-dir') + 1])
            work_dir.mkdir(parents=True)
            (work_dir / 'last_checkpoint').write_text(
                str(work_dir / 'iter_20.pth'))
        elif tool == 'test.py':
            work_dir = Path(args[args.index('--work-dir') + 1])
            work_dir.mkdir(parents=True)
            miou = 81.0 if '--tta' in args else 73.25
            (work_dir / 'metrics_1.json').write_text(json.dumps(
                dict(mIoU=miou, mAcc=80.0, aAcc=90.0, per_class={})))
        return subprocess.CompletedProcess(
            command, 1 if tool == self.failing else 0)


@pytest.fixture
def toy_demo(tmp_path, monkeypatch):
    """The segmentation demo on an absent data root under tmp_path."""
    root = tmp_path / 'data' / 'toy_ade'
    generator = types.SimpleNamespace(DEFAULT_ROOT=str(root),
                                      is_generated=lambda path: False)
    monkeypatch.delenv('OMP_NUM_THREADS', raising=False)
    return dataclasses.replace(demo.DEMOS['segmentation'],
                               generator=generator)


def test_run_prints_each_command_then_the_summary(toy_demo, tmp_path,
                                                  monkeypatch, capsys):
    fake = FakeTools(tmp_path / 'data' / 'toy_ade')
    monkeypatch.setattr(demo.subprocess, 'run', fake)
    work_dir = tmp_path / 'work'
    metrics = demo.run(toy_demo, str(work_dir), ['train_cfg.max_iters=20'])

    assert [c[0] for c in fake.commands] == [
        'tools/make_toy_data.py', 'tools/train.py', 'tools/test.py',
        'tools/test.py', 'tools/infer.py', 'tools/analysis/plot_curves.py']
    painted = fake.commands[-2][1:fake.commands[-2].index('--config')]
    assert [Path(p).name for p in painted] == [
        'toy_00000.jpg', 'toy_00001.jpg', 'toy_00002.jpg']
    assert fake.commands[2][2] == str(work_dir / 'iter_20.pth')
    assert fake.env['OMP_NUM_THREADS'] == '1'
    assert metrics['test_tta']['mIoU'] == 81.0
    curves = str(work_dir / demo.CURVES)
    assert fake.commands[-1][1:] == [str(work_dir), '--out', curves]

    out = capsys.readouterr().out
    printed = [line[2:].split()[1] for line in out.splitlines()
               if line.startswith('$ ')]
    assert printed == [c[0] for c in fake.commands]
    summary = out[out.index(toy_demo.title):]
    assert 'mIoU (sliding window)      73.25' in summary
    assert 'mIoU (multi-scale + flip)  81' in summary
    assert 'wall time: data ' in summary and ', infer ' in summary
    assert f'  curves: {os.path.relpath(curves, demo.REPO)}' in summary


def test_a_failed_step_is_one_user_error(toy_demo, tmp_path, monkeypatch):
    fake = FakeTools(tmp_path / 'data' / 'toy_ade', failing='test.py')
    monkeypatch.setattr(demo.subprocess, 'run', fake)
    with pytest.raises(UserError,
                       match=r"^demo step 'test' failed with exit code 1: "
                       r'\S+ tools/test\.py ') as error:
        demo.run(toy_demo, str(tmp_path / 'work'))
    assert '\n' not in str(error.value)
    assert fake.commands[-1][0] == 'tools/test.py'
