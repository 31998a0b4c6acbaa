"""``tools/benchmark.py``: inference images/s and peak memory of a config.

One image at a time, as ``tools/infer.py`` predicts: the config's test
pipeline (read, resize, pad), the model and its post-processing (NMS and
mask pasting, or the sliding window of a segmentor). The image is a
synthetic one of exactly the test pipeline's ``Resize`` scale (1333x800 for
COCO, 2048x512 for ADE20K), the largest input the pipeline produces; the
figures are the median over ``--images`` runs after ``--warmup`` runs.

Without ``--checkpoint`` the weights are random; a detector then gets
``score_thr=0`` in its RoI head test config, so that it keeps
``max_per_img`` detections per image (100 for COCO) and its mask head and
mask pasting do the work a trained model's would.

Peak memory: on the CPU, the process's peak resident set size during the
timed runs (weights, activations, everything); on CUDA, the peak memory
allocated by torch on the device.
"""
import argparse
import copy
import os.path as osp
import statistics
import tempfile
import time
from typing import Callable, Dict, List, Optional, Sequence

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger

from convnext_dense.analysis.profiling import (
    fp16_autocast, inference_input_hw, peak_resident_mib, reset_peak_resident,
    synchronize)
from convnext_dense.path_checks import check_input_file

from .cfg_options import CfgOptionsAction
from .common import UserError, load_config, run_cli


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Inference speed (images/s) and peak memory of a '
        'detection or segmentation config at its test resolution.')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--checkpoint', help='trained weights (default: '
                        'random weights, see the module docs)')
    parser.add_argument('--device', default='cpu',
                        help='cpu, cuda or cuda:N (default: cpu)')
    parser.add_argument('--amp', action='store_true',
                        help='fp16 autocast (CUDA only)')
    parser.add_argument('--images', type=int, default=10,
                        help='timed images (default: 10)')
    parser.add_argument('--warmup', type=int, default=2,
                        help='untimed images first (default: 2)')
    parser.add_argument('--model-only', action='store_true',
                        help="time only the model's test_step on an image "
                        'the test pipeline prepared once (default: the '
                        'whole inference call, reading and resizing '
                        'included)')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help="the synthetic image's height and width "
                        '(default: the test Resize scale)')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config entries, e.g. key=value')
    return parser.parse_args(argv)


def check_device(device: str, amp: bool) -> None:
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise UserError(f'--device {device}: CUDA is not available here; '
                        'use --device cpu')
    if not device.startswith(('cpu', 'cuda')):
        raise UserError(f'--device {device}: use cpu, cuda or cuda:N')
    if amp and not device.startswith('cuda'):
        raise UserError('--amp needs --device cuda: fp16 autocast is a CUDA '
                        'feature (the CPU runs fp32)')


def keep_every_detection(cfg: Config) -> None:
    """``score_thr=0`` in the RoI head test config of a detector."""
    rcnn = cfg.model.get('test_cfg', {}).get('rcnn')
    if rcnn is not None and 'score_thr' in rcnn:
        rcnn.score_thr = 0.0


def build_model(cfg: Config, checkpoint: Optional[str],
                device: str) -> torch.nn.Module:
    if cfg.default_scope == 'mmdet':
        from mmdet.apis import init_detector
        return init_detector(copy.deepcopy(cfg), checkpoint, device=device)
    from convnext_dense.inference.segmentation import load_segmentor
    return load_segmentor(cfg, checkpoint, device=device)


def predictor(model: torch.nn.Module, path: str,
              model_only: bool) -> Callable[[], object]:
    """A function that predicts on the image file, as tools/infer.py does.

    With ``model_only`` the test pipeline runs once, here, and the function
    runs the model's ``test_step`` on its output.
    """
    from convnext_dense.inference.detection import inference_pipeline
    if model_only:
        prepared = inference_pipeline(model.cfg)(dict(img_path=path, img_id=0))
        batch = dict(inputs=[prepared['inputs']],
                     data_samples=[prepared['data_samples']])

        def test_step() -> object:
            with torch.no_grad():
                return model.test_step(batch)
        return test_step
    if model.cfg.default_scope == 'mmdet':
        from mmdet.apis import inference_detector
        pipeline = inference_pipeline(model.cfg)
        return lambda: inference_detector(model, path, pipeline)
    from mmseg.apis import inference_model
    return lambda: inference_model(model, path)


def synthetic_image(path: str, height: int, width: int) -> None:
    """A smooth colour gradient with noise (compresses like a photo)."""
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:height, 0:width]
    image = np.stack([xs * 255 / width, ys * 255 / height,
                      (xs + ys) * 127 / (width + height)], axis=-1)
    image += rng.normal(0, 12, image.shape)
    cv2.imwrite(path, np.clip(image, 0, 255).astype(np.uint8))


def time_images(predict: Callable[[], object], images: int, warmup: int,
                device: str) -> List[float]:
    """Seconds of each timed prediction, after the warm-up ones."""
    for _ in range(warmup):
        predict()
    synchronize(device)
    if device.startswith('cuda'):
        torch.cuda.reset_peak_memory_stats(device)
    reset_peak_resident()
    seconds = []
    for _ in range(images):
        start = time.perf_counter()
        predict()
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    return seconds


def peak_memory_mib(device: str) -> Optional[float]:
    if device.startswith('cuda'):
        return torch.cuda.max_memory_allocated(device) / 2**20
    return peak_resident_mib()


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, float]:
    args = parse_args(argv)
    if args.images < 1 or args.warmup < 0:
        raise UserError('--images must be >= 1 and --warmup >= 0')
    check_device(args.device, args.amp)
    cfg = load_config(args.config, args.cfg_options)
    if args.checkpoint is not None:
        check_input_file(args.checkpoint, 'checkpoint')
    height, width = args.shape or inference_input_hw(cfg)
    if args.checkpoint is None and cfg.default_scope == 'mmdet':
        keep_every_detection(cfg)
    # Building a model logs a line per module at INFO: keep the output short.
    MMLogger.get_instance('mmengine', log_level='WARNING')
    model = build_model(cfg, args.checkpoint, args.device)
    with tempfile.TemporaryDirectory() as tmp, fp16_autocast(args.amp):
        path = osp.join(tmp, 'image.png')
        synthetic_image(path, height, width)
        predict = predictor(model, path, args.model_only)
        seconds = time_images(predict, args.images, args.warmup,
                              args.device)
    median = statistics.median(seconds)
    peak = peak_memory_mib(args.device)
    result = dict(images_per_s=1 / median, median_s=median,
                  peak_memory_mib=peak if peak is not None else float('nan'))
    weights = args.checkpoint or 'random weights'
    print(f'{osp.basename(args.config)}: {width}x{height} image, {weights}, '
          f'{args.device}{" amp" if args.amp else ""}, '
          f'{"model only" if args.model_only else "whole inference call"}, '
          f'{torch.get_num_threads()} threads')
    print(f'  {result["images_per_s"]:.3f} images/s (median {median:.3f} s '
          f'over {args.images} images after {args.warmup} warm-up; min '
          f'{min(seconds):.3f} s, max {max(seconds):.3f} s)')
    memory = 'peak memory allocated' if args.device.startswith('cuda') \
        else 'peak resident set'
    print(f'  {memory}: {result["peak_memory_mib"]:.0f} MiB')
    return result


def cli() -> None:
    run_cli(main)
