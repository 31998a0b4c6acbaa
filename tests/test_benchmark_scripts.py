"""benchmarks/backbone_speed.py: a smoke run at a tiny size and its helpers
(the figures themselves are the script's to measure, not the suite's)."""
import argparse
import importlib.util

import pytest
import torch
import torch.nn as nn

from convnext_dense.patches.mmcv_ops import using_toolkit_kernels
from helpers import REPO, check, run_tool_in_process

SCRIPT = REPO / 'benchmarks' / 'backbone_speed.py'
_spec = importlib.util.spec_from_file_location('backbone_speed', SCRIPT)
backbone_speed = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(backbone_speed)


def test_backbone_speed_prints_ratios_and_the_matrix_product_bound():
    """In this process; the script runs the case in a child, as always."""
    out = check(run_tool_in_process(
        SCRIPT, '--inputs', '1x3x64x96', '--repeat', '1', '--sgemm-size',
        '64', '--skip-train')).stdout
    assert 'ConvNeXt-tiny, fp32, cpu,' in out
    assert '1x3x64x96 inference reference' in out
    assert 'speed-up' in out and '% of SGEMM 64' in out
    assert 'its matrix products alone' in out
    assert 'with every other operation free, at most' in out


def test_backbone_speed_refuses_amp_on_the_cpu():
    with pytest.raises(SystemExit, match='--amp needs --device cuda'):
        backbone_speed.main(['--amp'])


def test_matrix_products_replays_linear_layers_only():
    x = torch.randn(256, 64)
    linear, conv = nn.Linear(64, 256), nn.Conv2d(64, 64, 3, padding=1)
    with torch.no_grad():
        replay = backbone_speed.matrix_products(lambda: (linear(x), linear(x)))
        with torch.profiler.profile() as profile:
            replay()
        calls = {e.key: e.count for e in profile.key_averages()}
        assert calls.get('aten::addmm') == 2
        replay = backbone_speed.matrix_products(
            lambda: conv(x.view(1, 64, 16, 16)))
        with torch.profiler.profile() as profile:
            replay()
        assert 'aten::addmm' not in {e.key for e in profile.key_averages()}


@pytest.mark.parametrize('text', ['1x3x64', '1x1x64x64', 'axbxcxd'])
def test_parse_shape_rejects_bad_inputs(text):
    with pytest.raises(argparse.ArgumentTypeError, match='Nx3xHxW'):
        backbone_speed.parse_shape(text)


DETECTOR_SPEED = REPO / 'benchmarks' / 'detector_speed.py'


@pytest.mark.skipif(not using_toolkit_kernels(),
                    reason="the full build runs the whole benchmark")
def test_detector_speed_needs_the_full_build_in_one_line():
    """Its stock side needs mmcv's compiled kernels: under mmcv-lite it says
    so in one line instead of comparing the toolkit's kernels with
    themselves."""
    done = run_tool_in_process(DETECTOR_SPEED, '--repeat', '1')
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: the stock side needs mmcv's compiled kernels: "
        'make install MMCV=full']
