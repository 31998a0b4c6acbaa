#!/usr/bin/env python
"""Cost of the backbone's LayerNorm2d (F.layer_norm + contiguous copy).

Times a ConvNeXt forward pass with the toolkit's LayerNorm2d against the same
network with the official channels-first LayerNorm (explicit mean/variance,
which returns contiguous NCHW without a copy), in one run, and prints the
ratio. Both produce the same outputs, which the script checks first.

    python benchmarks/layernorm2d.py [--arch tiny] [--size 512] [--repeat 5]
"""
import argparse
import time
from typing import Callable

import torch
import torch.nn as nn
from mmengine.logging import MMLogger

from convnext_dense.models import ConvNeXt, LayerNorm2d


class ChannelsFirstLayerNorm(nn.Module):
    """The official code's reference formulation, for comparison only."""

    def __init__(self, norm: LayerNorm2d) -> None:
        super().__init__()
        self.weight, self.bias, self.eps = norm.weight, norm.bias, norm.eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


def with_reference_norms(model: nn.Module) -> nn.Module:
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, LayerNorm2d):
                setattr(module, child_name, ChannelsFirstLayerNorm(child))
    return model


def best_time(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--arch', default='tiny')
    parser.add_argument('--size', type=int, default=512)
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--repeat', type=int, default=5)
    args = parser.parse_args()
    # init_weights logs a line per parameter at INFO: keep the output short.
    MMLogger.get_instance('mmengine', log_level='WARNING')
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    torch.manual_seed(0)
    ours = ConvNeXt(arch=args.arch).eval().to(device)
    ours.init_weights()
    reference = with_reference_norms(
        ConvNeXt(arch=args.arch).eval().to(device))
    reference.load_state_dict(ours.state_dict())
    x = torch.randn(args.batch, 3, args.size, args.size, device=device)
    with torch.no_grad():
        for a, b in zip(ours(x), reference(x)):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
        t_ours = best_time(lambda: ours(x), args.repeat)
        t_ref = best_time(lambda: reference(x), args.repeat)
    print(f'device {device}, ConvNeXt-{args.arch}, input {args.batch}x3x'
          f'{args.size}x{args.size}, best of {args.repeat}')
    print(f'  LayerNorm2d (F.layer_norm + contiguous): {t_ours * 1e3:8.1f} ms')
    print(f'  official channels-first mean/var:        {t_ref * 1e3:8.1f} ms')
    print(f'  ratio ours / official: {t_ours / t_ref:.3f}')


if __name__ == '__main__':
    main()
