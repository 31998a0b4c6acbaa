"""tools/analysis/get_flops.py and tools/benchmark.py: smoke runs on the toy
configs (no timing assertions), the paper's counting convention, bad input."""
import copy
import re
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config

from conftest import CONFIGS, check, run_tool
from convnext_dense.analysis.profiling import (fp16_autocast,
                                                inference_input_hw,
                                                synchronize)
from convnext_dense.cli import benchmark, get_flops
from convnext_dense.cli.common import UserError

TOY = CONFIGS / 'toy'
TOY_MASK_RCNN = TOY / 'mask_rcnn_convnext_toy_coco.py'
TOY_CASCADE = TOY / 'cascade_mask_rcnn_convnext_toy_coco.py'
TOY_UPERNET = TOY / 'upernet_convnext_toy_ade.py'


def rois_seen(config, input_hw=(64, 64)):
    """The number of RoIs each box and mask head gets in the FLOPs count."""
    cfg = Config.fromfile(str(config))
    model = get_flops.build_model(cfg)
    seen = []

    def record(name):
        return lambda module, args, output: seen.append(
            (name, args[0].shape[0]))

    for kind in ('bbox_head', 'mask_head'):
        heads = getattr(model.roi_head, kind)
        for head in heads if isinstance(heads, nn.ModuleList) else [heads]:
            head.register_forward_hook(record(kind))
    get_flops.count(cfg, input_hw, model=model)
    return seen


def test_rois_counted_as_in_the_paper():
    """1000 proposals for the box heads, the first 100 for the mask heads."""
    assert rois_seen(TOY_MASK_RCNN) == [('bbox_head', 1000),
                                        ('mask_head', 100)]
    # Each cascade stage's box head and mask head.
    assert sorted(rois_seen(TOY_CASCADE)) == sorted(
        [('bbox_head', 1000)] * 3 + [('mask_head', 100)] * 3)


def test_count_matches_parameters_and_modules():
    cfg = Config.fromfile(str(TOY_UPERNET))
    model = get_flops.build_model(cfg)
    result = get_flops.count(cfg, (64, 128), model=model)
    assert result.params == sum(p.numel() for p in model.parameters())
    assert result.input_hw == (64, 128)
    assert set(result.by_module) == {'backbone', 'decode_head'}
    assert result.flops == sum(result.by_module.values())


def test_paper_inputs():
    full = Config.fromfile(str(CONFIGS / 'upernet_convnext_b_160k_ade20k_640_in22k.py'))
    assert get_flops.paper_input(
        full, 'upernet_convnext_b_160k_ade20k_640_in22k') == (640, 2560)
    toy = Config.fromfile(str(TOY_UPERNET))
    assert get_flops.paper_input(toy, 'toy') == inference_input_hw(toy)
    assert inference_input_hw(Config.fromfile(str(TOY_MASK_RCNN))) == (128, 128)


def test_get_flops_one_config():
    """Also the check that the real tool runs end to end (a subprocess)."""
    done = check(run_tool('analysis/get_flops.py', TOY_MASK_RCNN, '--shape',
                          '64', '96'))
    assert re.search(r'mask_rcnn_convnext_toy_coco: input 96x64, params '
                     r'[\d.]+ M, FLOPs [\d.]+ G', done.stdout)
    for module in ('backbone', 'neck', 'rpn_head', 'roi_head'):
        assert re.search(rf'^  {module} +[\d.]+ G$', done.stdout, re.M)


def test_get_flops_all_prints_one_table(monkeypatch, capsys):
    counted = []

    def fake_count(cfg, input_hw=None, model=None):
        counted.append((Path(cfg.filename).name, input_hw))
        return get_flops.Complexity(1e6, 2e9, input_hw, {}, {})

    monkeypatch.setattr(get_flops, 'count', fake_count)
    get_flops.main(['--all', str(TOY), '--shape', '64', '64'])
    configs = sorted(p.name for p in TOY.glob('*.py'))
    assert counted == [(name, [64, 64]) for name in configs]
    rows = [line for line in capsys.readouterr().out.splitlines()
            if line.startswith('| `')]
    assert [row.split('`')[1] + '.py' for row in rows] == configs


def test_get_flops_table_compares_with_the_paper():
    name = 'mask_rcnn_convnext_t_3x_coco'
    result = get_flops.Complexity(params=49_440_000, flops=270_000_000_000,
                                  input_hw=(800, 1280), by_module={},
                                  uncounted_ops={})
    row = get_flops.table({name: result})[-1]
    assert row == (f'| `{name}` | 1280x800 | 49.4 | 48 | +3.0% | 270 | 262 '
                   '| +3.1% |')


def test_get_flops_notes_flag_differences_over_5_percent():
    paper = get_flops.paper_figures('mask_rcnn_convnext_t_3x_coco')
    close = get_flops.Complexity(paper.params_m * 1e6, paper.gflops * 1.04e9,
                                 paper.input_hw, {}, {})
    assert get_flops.table_notes({'mask_rcnn_convnext_t_3x_coco': close})[
        -1] == '- Every config with paper figures is within 4.0% of them.'
    far = close._replace(flops=paper.gflops * 1.06e9)
    assert 'Over 5% from the paper: mask_rcnn_convnext_t_3x_coco' in \
        get_flops.table_notes({'mask_rcnn_convnext_t_3x_coco': far})[-1]


@pytest.mark.parametrize('args, error, message', [
    ([], SystemExit, None),
    ([str(TOY_MASK_RCNN), '--all'], SystemExit, None),
    (['--all', 'no_such_folder'], UserError,
     '--all no_such_folder: no such folder'),
])
def test_get_flops_bad_input(args, error, message):
    with pytest.raises(error) as raised:
        get_flops.main(args)
    if message:
        assert message in str(raised.value)
    else:
        assert raised.value.code == 2


def test_benchmark_runs_on_a_toy_detector():
    """Also the check that the real tool runs end to end (a subprocess)."""
    done = check(run_tool('benchmark.py', TOY_MASK_RCNN, '--images', '2',
                          '--warmup', '1'))
    assert (f'{TOY_MASK_RCNN.name}: 128x128 image, random weights, cpu, '
            'whole inference call' in done.stdout)
    assert re.search(r'[\d.]+ images/s \(median [\d.]+ s over 2 images',
                     done.stdout)
    assert re.search(r'peak resident set: \d+ MiB', done.stdout)


@pytest.mark.parametrize('mode, flags', [('whole inference call', []),
                                         ('model only', ['--model-only'])])
def test_benchmark_runs_on_a_toy_segmentor(capsys, mode, flags):
    result = benchmark.main([str(TOY_UPERNET), '--images', '2', '--warmup',
                             '0', '--shape', '96', '160', *flags])
    assert (f'{TOY_UPERNET.name}: 160x96 image, random weights, cpu, {mode}'
            in capsys.readouterr().out)
    assert result['images_per_s'] == pytest.approx(1 / result['median_s'])
    assert result['peak_memory_mib'] > 0


@pytest.mark.parametrize('args, message', [
    (['--amp'], '--amp needs --device cuda'),
    (['--device', 'tpu'], '--device tpu: use cpu, cuda or cuda:N'),
    (['--images', '0'], '--images must be >= 1'),
    (['--checkpoint', 'missing.pth'], 'checkpoint missing.pth does not exist'),
])
def test_benchmark_bad_input(args, message):
    with pytest.raises(UserError, match=re.escape(message)):
        benchmark.main([str(TOY_MASK_RCNN), *args])


def test_keep_every_detection_only_touches_the_rcnn_score_thr():
    cfg = Config.fromfile(str(TOY_CASCADE))
    before = copy.deepcopy(cfg.model.test_cfg)
    benchmark.keep_every_detection(cfg)
    assert cfg.model.test_cfg.rcnn.score_thr == 0
    before.rcnn.score_thr = 0
    assert cfg.model.test_cfg == before


def test_fp16_autocast_is_cuda_fp16_or_nothing():
    on = fp16_autocast(True)
    assert isinstance(on, torch.autocast)
    assert (on.device, on.fast_dtype) == ('cuda', torch.float16)
    with fp16_autocast(False):
        assert not torch.is_autocast_enabled('cuda')
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.float32


def test_synchronize_on_the_cpu_is_a_no_op():
    assert synchronize('cpu') is None
