#!/usr/bin/env python
"""Speed of the ConvNeXt backbone against the official formulation, in one run.

The reference is the official dense backbone's code, written here: the stem,
downsampling and output norms are channels-first LayerNorms (explicit mean and
variance over dim 1), and each block permutes to channels-last around its
LayerNorm and MLP, multiplies by ``gamma`` and permutes back. It gets the
toolkit backbone's weights, and the script first checks that both give the
same outputs. Then, in one process per input and mode (so that no case
inherits another's heap) with the same threads, it times both interleaved
(reference and toolkit alternate, median of ``--repeat``): inference
(``torch.no_grad``, eval mode) and one training step (forward and backward of
a random projection of the outputs, train mode).
With the inference runs it interleaves a large SGEMM, the machine's practical
ceiling under the same conditions, and reports the backbone's achieved
GFLOP/s (its conv and linear multiply-adds, counted by mmengine, times 2 over
its time) as a fraction of the SGEMM's; on the CPU also a replay of the
toolkit's matrix products alone (the shapes its run profiled, on random
data, interleaved with the rest): the reference's time over that is the most
any formulation with the same products could gain.

``--memory`` adds the peak training memory with and without ``with_cp``
(activation checkpointing), each measured in a fresh process as the growth of
its peak resident set (on CUDA: of the memory torch allocated) during its
first training step, with the time of the second.

``--device cuda`` runs both models, the SGEMM and the memory cases on the GPU
(``--amp``: under fp16 autocast; the SGEMM stays fp32, TF32 off, so its rate
is only the ceiling of fp32 runs).

    python benchmarks/backbone_speed.py [--arch tiny] [--repeat 5] \
        [--inputs 1x3x800x1216 8x3x224x224] [--memory] [--device cuda [--amp]]
"""
import argparse
import json
import os
import subprocess
import sys
import time
from typing import Callable, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn.bricks import DropPath
from mmengine.analysis import FlopAnalyzer
from mmengine.logging import MMLogger

from convnext_dense.analysis.profiling import (
    fp16_autocast, interleaved_medians, peak_resident_mib, reset_peak_resident,
    resident_mib, synchronize)
from convnext_dense.models import ConvNeXt
from convnext_dense.models.layers import LAYER_NORM_EPS

Shape = Tuple[int, int, int, int]


class ChannelsFirstLayerNorm(nn.Module):
    """The official code's LayerNorm for ``(N, C, H, W)`` tensors."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + LAYER_NORM_EPS)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class OfficialBlock(nn.Module):
    """The official block: permutes around its LayerNorm and MLP."""

    def __init__(self, dim: int, drop_path_rate: float) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.ones(dim))
        self.drop_path = (
            DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.dwconv(x).permute(0, 2, 3, 1)
        x = self.pwconv2(self.act(self.pwconv1(self.norm(x))))
        x = (self.gamma * x).permute(0, 3, 1, 2)
        return shortcut + self.drop_path(x)


class OfficialConvNeXt(nn.Module):
    """The official dense backbone's forward, with the toolkit's key names."""

    def __init__(self, backbone: ConvNeXt, drop_path_rate: float) -> None:
        super().__init__()
        dims, depths = backbone.dims, backbone.depths
        self.out_indices = backbone.out_indices
        self.downsample_layers = nn.ModuleList([
            nn.Sequential(nn.Conv2d(3, dims[0], kernel_size=4, stride=4),
                          ChannelsFirstLayerNorm(dims[0]))
        ] + [
            nn.Sequential(ChannelsFirstLayerNorm(dims[i - 1]),
                          nn.Conv2d(dims[i - 1], dims[i], 2, stride=2))
            for i in range(1, len(dims))
        ])
        rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        self.stages = nn.ModuleList(
            nn.Sequential(*[
                OfficialBlock(dims[i], rates[sum(depths[:i]) + j])
                for j in range(depth)
            ]) for i, depth in enumerate(depths))
        for i in self.out_indices:
            self.add_module(f'norm{i}', ChannelsFirstLayerNorm(dims[i]))
        self.load_state_dict(backbone.state_dict())

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        outputs = []
        for i, (downsample, stage) in enumerate(
                zip(self.downsample_layers, self.stages)):
            x = stage(downsample(x))
            if i in self.out_indices:
                outputs.append(getattr(self, f'norm{i}')(x))
        return tuple(outputs)


def parse_shape(text: str) -> Shape:
    parts = text.lower().split('x')
    if len(parts) != 4 or not all(part.isdigit() for part in parts) \
            or int(parts[1]) != 3:
        raise argparse.ArgumentTypeError(
            f'{text!r}: give an input as Nx3xHxW, e.g. 1x3x800x1216')
    return tuple(int(part) for part in parts)


def build_backbone(arch: str, drop_path_rate: float,
                   with_cp: bool = False) -> ConvNeXt:
    torch.manual_seed(0)
    backbone = ConvNeXt(arch=arch, drop_path_rate=drop_path_rate,
                        layer_scale_init_value=1.0, with_cp=with_cp)
    backbone.init_weights()
    # Layer scales of a trained model are not all equal.
    for name, param in backbone.named_parameters():
        if name.endswith('gamma'):
            param.data.uniform_(0.1, 1.0)
    return backbone


def check_same_outputs(ours: nn.Module, reference: nn.Module) -> None:
    x = torch.randn(2, 3, 96, 160)
    ours.eval(), reference.eval()
    with torch.no_grad():
        for a, b in zip(ours(x), reference(x)):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def inference(model: nn.Module, x: torch.Tensor,
              args: argparse.Namespace) -> Callable[[], object]:
    def run():
        with torch.no_grad(), fp16_autocast(args.amp):
            return model(x)

    return run


def training_step(model: nn.Module, x: torch.Tensor,
                  args: argparse.Namespace) -> Callable[[], None]:
    with torch.no_grad():
        projections = [torch.randn_like(o) for o in model.eval()(x)]

    def run():
        model.train()
        for param in model.parameters():
            param.grad = None
        with fp16_autocast(args.amp):
            outputs = model(x)
            loss = sum((o.float() * p).sum()
                       for o, p in zip(outputs, projections))
        loss.backward()

    return run


def sgemm(size: int, device: str) -> Callable[[], torch.Tensor]:
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    return lambda: a @ b


def conv_linear_macs(model: nn.Module, x: torch.Tensor) -> Tuple[int, int]:
    """Multiply-adds of the convolutions and linear layers, and of the
    linear layers alone (mmengine's count)."""
    analyzer = FlopAnalyzer(model.eval(), (x, ))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    by_operator = analyzer.by_operator()
    linear = sum(by_operator.get(op, 0) for op in ('linear', 'addmm', 'matmul'))
    return by_operator.get('conv', 0) + linear, linear


def matrix_products(run: Callable[[], object]) -> Callable[[], None]:
    """A run of just the matrix products (the MLPs' ``addmm``) that ``run``
    computes: the same shapes, as often, on random data."""
    with torch.profiler.profile(
            activities=[torch.profiler.ProfilerActivity.CPU],
            record_shapes=True) as profile:
        run()
    products = []
    for event in profile.key_averages(group_by_input_shape=True):
        if event.key == 'aten::addmm':
            bias, (rows, inner), (_, cols) = event.input_shapes[:3]
            # nn.Linear multiplies by its (out, in) weight transposed.
            operands = (torch.randn(bias), torch.randn(rows, inner),
                        torch.randn(cols, inner).t(), torch.empty(rows, cols))
            products.append((operands, event.count))

    def replay():
        for (bias, left, right, out), count in products:
            for _ in range(count):
                torch.addmm(bias, left, right, out=out)

    return replay


def child(args: argparse.Namespace, *extra: str) -> dict:
    """Runs this script with ``extra`` arguments in a fresh process; its JSON."""
    done = subprocess.run(
        [sys.executable, __file__, '--arch', args.arch, '--repeat',
         str(args.repeat), '--drop-path-rate', str(args.drop_path_rate),
         '--sgemm-size', str(args.sgemm_size), '--device', args.device,
         *(['--amp'] if args.amp else []), *extra],
        capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f'{" ".join(extra)} failed:\n{done.stderr[-3000:]}')
    return json.loads(done.stdout.strip().splitlines()[-1])


def speed_case(args: argparse.Namespace) -> None:
    """One input and mode, both models interleaved; prints JSON medians."""
    shape, case = args.case
    ours = build_backbone(args.arch, args.drop_path_rate)
    reference = OfficialConvNeXt(ours, args.drop_path_rate)
    check_same_outputs(ours, reference)
    x = torch.randn(*parse_shape(shape))
    result = {}
    if case == 'inference':
        macs, linear_macs = conv_linear_macs(reference, x)
        result['gflop'] = 2 * macs / 1e9
        result['gemm_gflop'] = 2 * linear_macs / 1e9
    ours, reference = ours.to(args.device), reference.to(args.device)
    x = x.to(args.device)
    make_run = inference if case == 'inference' else training_step
    runs = dict(reference=make_run(reference, x, args),
                ours=make_run(ours, x, args))
    if case == 'inference':
        runs['sgemm'] = sgemm(args.sgemm_size, args.device)
        if args.device == 'cpu':
            runs['gemm'] = matrix_products(runs['ours'])
    result.update(interleaved_medians(runs, args.repeat, args.device))
    print(json.dumps(result))


def speed(args: argparse.Namespace) -> None:
    precision = 'fp16 autocast' if args.amp else 'fp32'
    where = (torch.cuda.get_device_name(args.device) if args.device != 'cpu'
             else f'cpu, {torch.get_num_threads()} threads')
    print(f'ConvNeXt-{args.arch}, {precision}, {where}, '
          f'median of {args.repeat} interleaved runs, each input and mode in '
          f'a fresh process; load average before: {os.getloadavg()[0]:.2f}')
    cases = ['inference'] + ([] if args.skip_train else ['training'])
    for shape in args.inputs:
        shape = 'x'.join(map(str, shape))
        for case in cases:
            result = child(args, '--case', shape, case)
            line = (f'  {shape:>13} {case:<9} reference '
                    f'{result["reference"] * 1e3:8.1f} ms   toolkit '
                    f'{result["ours"] * 1e3:8.1f} ms   speed-up '
                    f'{result["reference"] / result["ours"]:.2f}x')
            if case == 'inference':
                gflops = result['gflop'] / result['ours']
                ceiling = 2 * args.sgemm_size**3 / 1e9 / result['sgemm']
                line += (f'   {gflops:.1f} GFLOP/s = {gflops / ceiling:.0%} '
                         f'of SGEMM {args.sgemm_size} ({ceiling:.1f})')
            if 'gemm' in result:
                rate = result['gemm_gflop'] / result['gemm']
                line += (f'\n  {"":>13} {"":<9} its matrix products alone '
                         f'{result["gemm"] * 1e3:8.1f} ms ({rate:.1f} GFLOP/s '
                         f'= {rate / ceiling:.0%} of SGEMM): with every other '
                         'operation free, at most '
                         f'{result["reference"] / result["gemm"]:.2f}x')
            print(line, flush=True)
    print(f'  load average after: {os.getloadavg()[0]:.2f}')


def peak_memory_case(args: argparse.Namespace) -> None:
    """One training step in this fresh process; prints JSON with its cost."""
    backbone = build_backbone(args.arch, args.drop_path_rate,
                              with_cp=args.memory_case == 'with_cp')
    backbone = backbone.to(args.device)
    x = torch.randn(*args.memory_input, device=args.device)
    step = training_step(backbone, x, args)
    synchronize(args.device)
    if args.device.startswith('cuda'):
        before = torch.cuda.memory_allocated(args.device) / 2**20
        torch.cuda.reset_peak_memory_stats(args.device)
        step()
        peak_growth = (torch.cuda.max_memory_allocated(args.device) / 2**20
                       - before)
    else:
        # The first step's peak: freed memory stays resident for the next.
        before = resident_mib()
        reset_peak_resident()
        step()
        peak_growth = peak_resident_mib() - before
    synchronize(args.device)
    start = time.perf_counter()
    step()
    synchronize(args.device)
    print(json.dumps(dict(peak_growth_mib=peak_growth,
                          seconds=time.perf_counter() - start)))


def memory(args: argparse.Namespace) -> None:
    shape = 'x'.join(map(str, args.memory_input))
    print(f'with_cp, training step at {shape} (each in a fresh process: the '
          'peak resident set of the first step over the one before it, the '
          'time of the second):')
    results = {}
    for mode in ('plain', 'with_cp'):
        results[mode] = child(args, '--memory-case', mode, '--memory-input',
                              shape)
        print(f'  {mode:<8} peak memory growth '
              f'{results[mode]["peak_growth_mib"]:8.0f} MiB   step '
              f'{results[mode]["seconds"]:6.2f} s', flush=True)
    plain, cp = results['plain'], results['with_cp']
    print(f'  with_cp saves {1 - cp["peak_growth_mib"] / plain["peak_growth_mib"]:.0%} '
          f'of the peak growth for {cp["seconds"] / plain["seconds"] - 1:+.0%} '
          'step time')


def parse_args(argv: Sequence[str] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--arch', default='tiny')
    parser.add_argument('--inputs', nargs='+', type=parse_shape,
                        default=[(1, 3, 800, 1216), (8, 3, 224, 224)],
                        help='NxCxHxW inputs')
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--drop-path-rate', type=float, default=0.4,
                        help='stochastic depth while training (the paper '
                        'trains ConvNeXt-T detectors with 0.4)')
    parser.add_argument('--skip-train', action='store_true',
                        help='time inference only')
    parser.add_argument('--sgemm-size', type=int, default=4096)
    parser.add_argument('--memory', action='store_true',
                        help='also measure the peak training memory with '
                        'and without with_cp')
    parser.add_argument('--memory-input', type=parse_shape,
                        default=(2, 3, 800, 1216))
    parser.add_argument('--device', default='cpu', help='cpu or cuda[:N]')
    parser.add_argument('--amp', action='store_true',
                        help='fp16 autocast (with --device cuda)')
    parser.add_argument('--memory-case', choices=['plain', 'with_cp'],
                        help=argparse.SUPPRESS)
    parser.add_argument('--case', nargs=2, metavar=('INPUT', 'MODE'),
                        help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] = None) -> None:
    args = parse_args(argv)
    if args.amp and not args.device.startswith('cuda'):
        raise SystemExit('--amp needs --device cuda')
    # init_weights logs a line per parameter at INFO: keep the output short.
    MMLogger.get_instance('mmengine', log_level='WARNING')
    if args.memory_case:
        peak_memory_case(args)
        return
    if args.case:
        speed_case(args)
        return
    speed(args)
    if args.memory:
        memory(args)


if __name__ == '__main__':
    main()
