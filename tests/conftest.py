"""Shared test fixtures and helpers.

Reference data lives in ``tests/data/`` (see its README); nothing here reads
outside the repository.
"""
import json
import logging
from typing import Callable

import pytest
import torch
from mmengine.logging import MMLogger

from helpers import (CONFIGS, DATA, REPO, TOOLS, check, data_path,
                     error_lines, run_tool, tool_env)
from toy_runs import AfterTraining, ToyRun, ToyTrainer, toy_runs_to_start

__all__ = ['CONFIGS', 'DATA', 'REPO', 'TOOLS', 'check', 'data_path',
           'error_lines', 'run_tool', 'tool_env', 'AfterTraining', 'ToyRun']

_TRAINER = pytest.StashKey[ToyTrainer]()


def _trainer(config: pytest.Config) -> ToyTrainer:
    """The session's toy trainer, made (with its toy data) on first use."""
    if _TRAINER not in config.stash:
        from convnext_dense.data.toy import toy_ade, toy_coco
        cwd = config._tmp_path_factory.mktemp('toy_runs')
        toy_coco.generate(cwd / toy_coco.DEFAULT_ROOT)
        toy_ade.generate(cwd / toy_ade.DEFAULT_ROOT)
        config.stash[_TRAINER] = ToyTrainer(cwd)
    return config.stash[_TRAINER]


#: The fixtures that give a test a trained toy model.
TOY_FIXTURES = {'toy_run', 'toy_after'}


def needs_training(item: pytest.Item) -> bool:
    return bool(TOY_FIXTURES & set(getattr(item, 'fixturenames', ())))


@pytest.hookimpl(tryfirst=True)
def pytest_itemcollected(item: pytest.Item) -> None:
    """A test that needs a trained toy model is slow, marked or not."""
    if needs_training(item):
        item.add_marker(pytest.mark.slow)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config,
                                  items: list) -> None:
    """Starts the toy trainings in the background as soon as the selected
    tests (after -m/-k deselection) are known to need them, and runs the
    tests that need them last."""
    if config.option.collectonly:
        return
    later = [item for item in items if needs_training(item)]
    if later:
        long = [bool(item.get_closest_marker('long')) for item in later]
        _trainer(config).start(toy_runs_to_start(short=not all(long),
                                                 long=any(long)))
        # The other tests first: they run while the models train.
        first = [item for item in items if not needs_training(item)]
        items[:] = first + later


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    """What each toy model reached, for the record (one thread per run)."""
    trainer = config.stash.get(_TRAINER, None)
    runs = trainer.finished() if trainer is not None else []
    if runs:
        terminalreporter.section('toy models trained in this session')
        for run in runs:
            terminalreporter.write_line(run.summary())


def pytest_sessionfinish(session: pytest.Session) -> None:
    trainer = session.config.stash.get(_TRAINER, None)
    if trainer is not None:
        trainer.close()


@pytest.fixture(scope='session')
def toy_run(pytestconfig) -> Callable[[str], ToyRun]:
    """``toy_run(name)``: the toy model ``name`` (a key of
    ``toy_runs.TOY_SPECS``) trained by tools/train.py, once per session."""
    return _trainer(pytestconfig).get


@pytest.fixture(scope='session')
def toy_after(pytestconfig) -> Callable[[str, str], AfterTraining]:
    """``toy_after(name, job)``: what the job registered with
    ``toy_runs.after_training`` left after training the toy model ``name``."""
    return _trainer(pytestconfig).after


@pytest.fixture(scope='session')
def official_keys() -> dict:
    """Keys, shapes and parameter counts of the official dense backbones."""
    return json.loads(
        data_path('convnext_official_backbone_keys.json').read_text())


@pytest.fixture(scope='session')
def timm_reference() -> dict:
    """A small random ConvNeXt from timm: weights in 3 formats, input, outputs."""
    return torch.load(data_path('convnext_timm_reference.pt'),
                      weights_only=True)


@pytest.fixture
def log_lines():
    """Messages logged through mmengine's current logger during the test."""
    lines = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)
