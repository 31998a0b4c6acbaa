#!/usr/bin/env python
"""Whole detectors on the CPU: onnxruntime against PyTorch eager, in one run.

For each full-size detector config (default: Mask R-CNN and Cascade Mask
R-CNN with ConvNeXt-T), with random weights (``init_weights``, no download):

1. exports it with ``tools/export_onnx.py`` (traced at --shape) and lets the
   tool check the file against mmdet on random images of that shape and of
   another size (its output is printed as it comes);
2. times, on one random image of --shape, in this process and with the same
   threads, alternating the two, mmdet's inference (test pipeline,
   ``predict`` with ``rescale=True``: masks pasted at the image's size) and
   the runtime's (``convnext_dense/deploy/runtime.py``: resize, onnxruntime,
   boxes and masks back at the image's size), and prints the medians and
   their ratio.

Random weights give a few detections above the configs' score threshold
(0.05); ``--score-thr`` sets another ``test_cfg.rcnn.score_thr`` for the
export and both timings.

    OMP_NUM_THREADS=1 python benchmarks/detector_onnx.py [--shape 800 1216] [--repeat 3] [--threads 1]
"""
import argparse
import copy
import tempfile
from pathlib import Path
from typing import List, Optional, Sequence

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import MODELS, init_default_scope

from convnext_dense.cli import export_onnx as export_cli
from convnext_dense.deploy import runtime
from convnext_dense.deploy.detector_export import mmdet_predict
from convnext_dense.deploy.onnx_export import load_model
from roi_align_cpu import interleaved_medians

CONFIGS = Path(__file__).resolve().parents[1] / 'configs'
DEFAULT_CONFIGS = ('mask_rcnn_convnext_t_3x_coco.py',
                   'cascade_mask_rcnn_convnext_t_3x_coco.py')


def random_checkpoint(cfg: Config, path: Path) -> None:
    """Writes the config's model with random weights as a checkpoint."""
    cfg = copy.deepcopy(cfg)
    cfg.model.backbone.init_cfg = None
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    model.init_weights()
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)


def cfg_options(score_thr: Optional[float]) -> List[str]:
    """The export's ``--cfg-options`` for ``--score-thr``."""
    if score_thr is None:
        return []
    return ['--cfg-options', f'model.test_cfg.rcnn.score_thr={score_thr}']


def run_config(name: str, args: argparse.Namespace, folder: Path) -> str:
    """Exports, checks and times one config; returns its table row."""
    config = CONFIGS / name
    cfg = Config.fromfile(str(config))
    checkpoint, out = folder / 'random.pth', folder / 'detector.onnx'
    random_checkpoint(cfg, checkpoint)
    if args.score_thr is not None:
        cfg.model.test_cfg.rcnn.score_thr = args.score_thr
    print(f'== {name}, random weights, score_thr '
          f'{cfg.model.test_cfg.rcnn.score_thr:g}')
    export_cli.main([str(config), str(checkpoint), '--out', str(out),
                     '--shape', *map(str, args.shape)]
                    + cfg_options(args.score_thr))
    model = load_model(cfg, str(checkpoint))
    detector = runtime.Detector(out, threads=args.threads)
    image = folder / 'image.png'
    cv2.imwrite(str(image), np.random.default_rng(0).integers(
        0, 256, (*args.shape, 3), dtype=np.uint8))
    detections = len(detector.predict(image).scores)

    def pytorch():
        with torch.no_grad():
            return mmdet_predict(model, str(image))

    t_torch, t_onnx = interleaved_medians(
        [pytorch, lambda: detector.predict(image)], args.repeat)
    return (f'| {name[:-3]} | {args.shape[0]}x{args.shape[1]} | '
            f'{detections} | {t_torch:.2f} s | {t_onnx:.2f} s | '
            f'{t_torch / t_onnx:.2f}x |')


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--configs', nargs='+', default=DEFAULT_CONFIGS,
                        help='config files under configs/')
    parser.add_argument('--shape', nargs=2, type=int, default=(800, 1216),
                        metavar=('H', 'W'))
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--score-thr', type=float)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.configs:
        with tempfile.TemporaryDirectory() as folder:
            rows.append(run_config(name, args, Path(folder)))
    print(f'\nCPU, {args.threads} thread(s) for PyTorch and onnxruntime, '
          f'float32, median of {args.repeat}, image to detections (pre- and '
          f'post-processing included)')
    print('| config | image | detections | PyTorch eager | onnxruntime '
          '| speed-up |')
    print('|---|---|---|---|---|---|')
    print('\n'.join(rows))


if __name__ == '__main__':
    main()
