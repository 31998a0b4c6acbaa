#!/usr/bin/env python
"""CPU RoIAlign: mmcv's kernel against the toolkit's separable one, in one run.

Times mmcv 2.1.0's ``roi_align`` ('avg', its own CPU kernel) and
:func:`convnext_dense.ops.roi_align.roi_align_separable` on the
same inputs, in the same process and with the same threads, alternating the
two, and prints the median of each, their ratio, and the largest difference
of the outputs and of the input gradients (a random upstream gradient):

(a) toy Mask R-CNN box RoIs: features 4x64x32x32 (stride 4 of 128x128
    images), 256 RoIs of 8-120 px, output 7x7;
(b) toy mask RoIs: the same map, 100 RoIs, output 14x14;
(c) COCO size: features 2x256x200x304 (stride 4 of 800x1216 images), 512
    RoIs of 8-112 px (those FPN puts on the stride-4 level), output 7x7.

All with spatial_scale 1/4, sampling_ratio 0 (adaptive), aligned=True.

    OMP_NUM_THREADS=1 python benchmarks/roi_align_cpu.py [--repeat 7] [--threads 1]

mmcv's side needs its compiled kernels (``make install MMCV=full``).
"""
import argparse
import statistics
import sys
import time
from typing import Callable, List, Tuple

import torch

from convnext_dense.ops.roi_align import roi_align_separable
from convnext_dense.patches.fast_roi_align_cpu import ORIGINAL_ROI_ALIGN
from convnext_dense.patches.mmcv_ops import using_toolkit_kernels

#: name, feature shape, RoIs, image (h, w), RoI side range (px), output.
CASES = (
    ('(a) toy box head', (4, 64, 32, 32), 256, (128, 128), (8, 120), 7),
    ('(b) toy mask head', (4, 64, 32, 32), 100, (128, 128), (8, 120), 14),
    ('(c) COCO size', (2, 256, 200, 304), 512, (800, 1216), (8, 112), 7),
)
SCALE, SAMPLING_RATIO, ALIGNED = 0.25, 0, True


def random_rois(images: int, count: int, image_hw: Tuple[int, int],
                sides: Tuple[float, float],
                generator: torch.Generator) -> torch.Tensor:
    """(count, 5) boxes of random sides and centres, clipped to the image."""
    h, w = image_hw
    wh = torch.empty(count, 2).uniform_(*sides, generator=generator)
    centre = torch.rand(count, 2, generator=generator) * torch.tensor([w, h])
    lo = (centre - wh / 2).clamp_min(0).minimum(torch.tensor([w, h]))
    hi = (centre + wh / 2).clamp_min(0).minimum(torch.tensor([w, h]))
    index = torch.randint(0, images, (count, 1), generator=generator)
    return torch.cat([index.float(), lo, hi], 1)


def interleaved_medians(fns: List[Callable[[], object]],
                        repeat: int) -> List[float]:
    """Median seconds of each function, run in turn ``repeat`` times."""
    for fn in fns:  # warm-up
        fn()
    times: List[List[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, bucket in zip(fns, times):
            start = time.perf_counter()
            fn()
            bucket.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeat', type=int, default=7)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    if using_toolkit_kernels():
        sys.exit("error: mmcv's side needs its compiled kernels: "
                 'make install MMCV=full')
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(args.seed)
    print(f'CPU, {torch.get_num_threads()} thread(s), float32, '
          f'median of {args.repeat}; spatial_scale {SCALE}, sampling_ratio '
          f'{SAMPLING_RATIO}, aligned={ALIGNED}')
    for name, shape, count, image_hw, sides, out in CASES:
        features = torch.randn(shape, generator=generator)
        rois = random_rois(shape[0], count, image_hw, sides, generator)

        def run(fn: Callable, backward: bool) -> Callable[[], object]:

            def step():
                x = features.detach().requires_grad_(backward)
                y = fn(x)
                if backward:
                    y.backward(upstream)
                return y, x.grad

            return step

        def mmcv(x):
            return ORIGINAL_ROI_ALIGN(x, rois, out, SCALE, SAMPLING_RATIO,
                                      'avg', ALIGNED)

        def ours(x):
            return roi_align_separable(x, rois, out, SCALE, SAMPLING_RATIO,
                                       ALIGNED)

        upstream = torch.randn(count, shape[1], out, out, generator=generator)
        (ref, ref_grad), (new, new_grad) = run(mmcv, True)(), run(ours, True)()
        print(f'{name}: features {"x".join(map(str, shape))}, {count} RoIs, '
              f'output {out}x{out}')
        print(f'  max |difference|: output {(new - ref).abs().max():.2e} '
              f'(of max {ref.abs().max():.2f}), input gradient '
              f'{(new_grad - ref_grad).abs().max():.2e} '
              f'(of max {ref_grad.abs().max():.2f})')
        for label, backward in (('forward', False), ('forward+backward',
                                                     True)):
            t_mmcv, t_ours = interleaved_medians(
                [run(mmcv, backward), run(ours, backward)], args.repeat)
            print(f'  {label:17s} mmcv {t_mmcv * 1e3:8.1f} ms   separable '
                  f'{t_ours * 1e3:8.1f} ms   speed-up {t_mmcv / t_ours:5.2f}x')


if __name__ == '__main__':
    main()
