"""``tools/infer.py``: run a trained model on images and write painted PNGs."""
import argparse
import importlib
import os
import os.path as osp
from typing import List, Optional

import cv2

from convnext_dense.checkpoint.files import check_checkpoint_file
from convnext_dense.data.loading import check_image_file
from convnext_dense.errors import InputNotFoundError, UserError
from convnext_dense.patches.checkpoint_fit import exact_fit
from convnext_dense.path_checks import check_input_file, check_output_dir

from .common import load_config, run_cli

#: The module that paints and prints each task's predictions.
TASK_MODULES = {
    'mmdet': 'convnext_dense.inference.detection',
    'mmseg': 'convnext_dense.inference.segmentation',
}
#: The command-line options each task's run_inference takes.
TASK_OPTIONS = {'mmdet': ('score_thr',), 'mmseg': ()}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Predict on images with a ConvNeXt detector or segmentor '
        'and write painted PNGs.')
    parser.add_argument('images', nargs='+', help='image files')
    parser.add_argument('--config', help='config file path')
    parser.add_argument('--checkpoint', help='checkpoint file')
    parser.add_argument(
        '--onnx', help='instead of --config and --checkpoint: a detector '
        'exported by tools/export_onnx.py, run with onnxruntime')
    parser.add_argument('--out-dir', default='work_dirs/infer',
                        help='where the painted PNGs go')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='detection: lowest score drawn and printed')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    if (bool(args.onnx) == bool(args.config and args.checkpoint)
            or (args.onnx and (args.config or args.checkpoint))):
        raise UserError('pass --config and --checkpoint, or --onnx FILE.onnx '
                        '(a detector exported by tools/export_onnx.py)')
    check_output_dir(args.out_dir, '--out-dir')
    cfg = None if args.onnx else load_config(args.config)
    model_file = args.onnx or args.checkpoint
    missing = [p for p in [model_file] + args.images if not osp.exists(p)]
    if missing:
        raise InputNotFoundError(f'{missing[0]} does not exist')
    for image in args.images:
        check_input_file(image, 'image')
    # Only the header is read: the model reads the image itself.
    unreadable = [p for p in args.images if not cv2.haveImageReader(p)]
    if unreadable:
        raise UserError(f'{unreadable[0]} is not an image OpenCV can read: '
                        'pass PNG, JPEG or another image file')
    for image in args.images:
        check_image_file(image)
    if args.onnx:
        os.makedirs(args.out_dir, exist_ok=True)
        from convnext_dense.deploy.painted import run_onnx_inference
        run_onnx_inference(args.onnx, args.images, args.out_dir,
                           args.score_thr)
        return
    check_checkpoint_file(args.checkpoint)
    os.makedirs(args.out_dir, exist_ok=True)
    scope = cfg.default_scope
    options = {name: getattr(args, name) for name in TASK_OPTIONS[scope]}
    task = importlib.import_module(TASK_MODULES[scope])
    with exact_fit():  # weights that start fresh would predict nothing
        task.run_inference(cfg, args.checkpoint, args.images, args.out_dir,
                           device=args.device, **options)


def cli() -> None:
    run_cli(main)
