"""benchmarks/backbone_speed.py: a smoke run at a tiny size and its helpers
(the figures themselves are the script's to measure, not the suite's)."""
import argparse
import importlib.util
import subprocess
import sys

import pytest
import torch
import torch.nn as nn

from helpers import REPO, tool_env

SCRIPT = REPO / 'benchmarks' / 'backbone_speed.py'
_spec = importlib.util.spec_from_file_location('backbone_speed', SCRIPT)
backbone_speed = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(backbone_speed)


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=REPO,
                          env=tool_env(), capture_output=True, text=True,
                          timeout=300)


def test_backbone_speed_prints_ratios_and_the_matrix_product_bound():
    done = run_script('--inputs', '1x3x64x96', '--repeat', '1',
                      '--sgemm-size', '64', '--skip-train')
    assert done.returncode == 0, done.stderr[-2000:]
    assert 'ConvNeXt-tiny, fp32, cpu,' in done.stdout
    assert '1x3x64x96 inference reference' in done.stdout
    assert 'speed-up' in done.stdout and '% of SGEMM 64' in done.stdout
    assert 'its matrix products alone' in done.stdout
    assert 'with every other operation free, at most' in done.stdout


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
