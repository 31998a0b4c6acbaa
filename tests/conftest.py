"""Shared test fixtures: the reference material in ../shared beside the checkout."""
import json
import logging
from pathlib import Path

import pytest
import torch
from mmengine.logging import MMLogger

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / 'shared'
FIXTURES = SHARED / 'fixtures'


def _fixture_path(name: str) -> Path:
    path = FIXTURES / name
    if not path.is_file():
        pytest.fail(f'{path} is missing: the shared/ folder must sit beside '
                    f'the checkout')
    return path


@pytest.fixture(scope='session')
def official_keys() -> dict:
    """Keys, shapes and parameter counts of the official dense backbones."""
    return json.loads(
        _fixture_path('convnext_official_backbone_keys.json').read_text())


@pytest.fixture(scope='session')
def timm_reference() -> dict:
    """A small random ConvNeXt from timm: weights in 3 formats, input, outputs."""
    return torch.load(
        _fixture_path('convnext_timm_reference.pt'), weights_only=True)


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
