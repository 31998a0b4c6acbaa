"""The suite's toy-run scheduler with a stand-in for tools/train.py: every
toy model trained once, the jobs registered with ``after_training`` run once
after it, on the cores, and no more than ``CORES`` at a time."""
import threading
import time
from pathlib import Path

import pytest

import toy_runs
from toy_runs import AfterTraining, ToyRun, ToyTrainer


@pytest.fixture
def stand_in(monkeypatch, tmp_path):
    """Training takes 50 ms and records who ran when; no jobs registered."""
    busy, most, lock = [0], [0], threading.Lock()
    trained = []

    def hold(seconds: float) -> None:
        with lock:
            busy[0] += 1
            most[0] = max(most[0], busy[0])
        time.sleep(seconds)
        with lock:
            busy[0] -= 1

    def train(name: str, cwd: Path) -> ToyRun:
        hold(0.05)
        trained.append(name)
        return ToyRun(name=name, config=toy_runs.TOY_SPECS[name].config,
                      cwd=cwd, work_dir=cwd, checkpoint=cwd / 'x.pth',
                      log='', seconds=0.05)

    monkeypatch.setattr(toy_runs, 'train', train)
    monkeypatch.setattr(toy_runs, '_AFTER', {})
    # close() stops the live trainings: not the session's real ones.
    monkeypatch.setattr(toy_runs, '_LIVE', set())
    trainer = ToyTrainer(tmp_path)
    yield trainer, trained, hold, most
    trainer.close()


def test_jobs_run_once_after_their_training(stand_in):
    trainer, trained, hold, most = stand_in
    calls = []

    @toy_runs.after_training('mask_rcnn', 'upernet')
    def evaluate(run: ToyRun, folder: Path) -> str:
        assert run.name in trained and folder.is_dir()
        assert not list(folder.iterdir())
        hold(0.05)
        calls.append(run.name)
        return f'{run.name} evaluated'

    trainer.start(['mask_rcnn', 'upernet', 'cascade'])
    after = trainer.after('upernet', 'evaluate')
    assert isinstance(after, AfterTraining)
    assert after.value == 'upernet evaluated' and after.run.name == 'upernet'
    assert trainer.after('mask_rcnn', 'evaluate').value == (
        'mask_rcnn evaluated')
    assert trainer.after('upernet', 'evaluate') is after  # not run again
    assert sorted(calls) == ['mask_rcnn', 'upernet']
    assert trainer.get('cascade').name == 'cascade'
    assert sorted(trained) == ['cascade', 'mask_rcnn', 'upernet']
    assert most[0] <= toy_runs.CORES


def test_an_unregistered_job_is_named(stand_in):
    trainer = stand_in[0]
    with pytest.raises(KeyError, match="no job 'nothing' registered"):
        trainer.after('upernet', 'nothing')
    with pytest.raises(KeyError, match="unknown toy model 'resnet'"):
        toy_runs.after_training('resnet')(lambda run, folder: None)


def test_a_failing_job_fails_the_test_that_asks(stand_in):
    trainer = stand_in[0]

    @toy_runs.after_training('upernet')
    def broken(run: ToyRun, folder: Path) -> None:
        raise AssertionError('tools/test.py failed')

    with pytest.raises(AssertionError, match='tools/test.py failed'):
        trainer.after('upernet', 'broken')


def test_a_session_trains_the_runs_its_tests_need():
    short = toy_runs.toy_runs_to_start(short=True, long=False)
    long = toy_runs.toy_runs_to_start(short=False, long=True)
    assert short == ['cascade', 'upernet', 'mask_rcnn']
    assert long == ['mask_rcnn_iso', 'upernet_iso', 'mask_rcnn_convmixer',
                    'upernet_convmixer', 'mask_rcnn_v2', 'upernet_v2']
    assert toy_runs.toy_runs_to_start(short=True, long=True) == list(
        toy_runs.TOY_SPECS)
