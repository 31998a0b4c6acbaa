"""``tools/export_onnx.py``: a segmentor, a whole detector, or a detector's
backbone + neck, as ONNX, checked in onnxruntime against PyTorch."""
import argparse
import os
from typing import List, Optional, Tuple

from mmengine.config import Config

from convnext_dense.deploy import (detector_export, onnx_export, runtime,
                                   split_eval)
from convnext_dense.deploy.detector_graph import OUTPUT_NAMES, DetectorGraph
from convnext_dense.errors import InputNotFoundError, UserError
from convnext_dense.path_checks import check_input_file, check_output_file

from .cfg_options import CfgOptionsAction
from .common import load_config, run_cli

DESCRIPTION = """\
Export a ConvNeXt model to ONNX and check the file in onnxruntime against
PyTorch.

Segmentors are exported whole (image batch in; logits or label map out, by
mmseg's whole-image inference): the input is a float32 N x 3 x H x W batch of
BGR 0-255 images, resized and padded by the caller; the mean/std
normalisation is in the graph. The check prints the largest difference.

Mask R-CNN and Cascade Mask R-CNN detectors are exported whole (the default,
--output detections): one resized BGR 0-255 image of any size in (1 x 3 x H x
W); boxes, scores, labels, mask probabilities and the RPN's proposals out,
by the model's own test_cfg, in standard ONNX ops (RoiAlign,
NonMaxSuppression, TopK). convnext_dense/deploy/runtime.py runs the file with
onnxruntime, numpy and OpenCV only (resize, boxes and masks back at the
image's size). The check runs mmdet's inference and the runtime on the same
images and matches their detections. --output features exports a detector's
backbone + neck (the FPN feature maps) instead.
"""


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', required=True, help='the .onnx file to write')
    parser.add_argument(
        '--shape', nargs=2, type=int, metavar=('H', 'W'),
        help='input height and width (default: a segmentor\'s crop size; a '
        'detector\'s test Resize scale padded to the size divisor); a whole '
        'detector is traced at this size and checked on random images of it '
        'and of another size')
    parser.add_argument(
        '--output', choices=('logits', 'labels', 'detections', 'features'),
        help='segmentors: logits (N x C x H x W, default) or labels '
        '(N x H x W); detectors: detections (the whole detector, default) '
        'or features (backbone + neck)')
    parser.add_argument('--dynamic-batch', action='store_true',
                        help='leave the batch size free')
    parser.add_argument('--dynamic-size', action='store_true',
                        help='leave the height and width free')
    parser.add_argument(
        '--opset', type=int, default=onnx_export.DEFAULT_OPSET,
        help=f'ONNX opset, {onnx_export.MIN_OPSET} or later (LayerNorm) '
        f'(default: {onnx_export.DEFAULT_OPSET})')
    parser.add_argument(
        '--image', help='image the check runs on (default: random pixels): '
        'resized to the shape, or for a whole detector, run through the '
        'test pipeline as it is')
    parser.add_argument(
        '--eval', action='store_true',
        help='whole detectors: after the check, run PyTorch and the file '
        'over the config\'s test split and print COCO box and mask AP of '
        'both and the share of detections matched')
    parser.add_argument(
        '--rtol', type=float, default=onnx_export.DEFAULT_RTOL,
        help='largest accepted difference from PyTorch, relative to the '
        f'largest output magnitude (default: {onnx_export.DEFAULT_RTOL:g})')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config entries, e.g. key=value')
    return parser.parse_args(argv)


def export_detector(args: argparse.Namespace, cfg: Config,
                    shape: Tuple[int, int]
                    ) -> List[detector_export.DetectorCheck]:
    """The whole detector exported and checked; returns the checks."""
    if args.dynamic_batch:
        raise UserError('--dynamic-batch: the whole-detector graph takes one '
                        'image (its height and width are always free); '
                        'export --output features for batches')
    if args.image:
        try:
            runtime.read_image(args.image)
        except runtime.DeploymentError as error:
            raise InputNotFoundError(f'--image {error}') if not os.path.isfile(
                args.image) else UserError(f'--image {error}') from None
    onnx_export.import_onnx_packages()
    model = onnx_export.load_model(cfg, args.checkpoint)
    graph = DetectorGraph(model, onnx_export.Preprocess(
        model.data_preprocessor), onnx_export.size_divisor(cfg)).eval()
    metadata = detector_export.runtime_metadata(cfg, model)
    detector_export.export_detector(graph, onnx_export.example_image(shape),
                                    args.out, metadata, args.opset)
    opset, _ = onnx_export.graph_facts(args.out)
    with detector_export.temporary_folder() as folder:
        checks = detector_export.verify_detector(
            args.out, model, detector_export.check_images(
                shape, folder, args.image))
    size_mb = os.path.getsize(args.out) / 2**20
    print(f'{args.out}: opset {opset}, {size_mb:.1f} MB; input '
          f'{onnx_export.INPUT_NAME} [1, 3, height, width] (BGR 0-255, '
          f'resized, not padded); outputs {", ".join(OUTPUT_NAMES)}')
    for check in checks:
        print(f'onnxruntime check, {detector_export.describe_check(check)}')
    if args.eval:
        evaluate_split(cfg, model, args.out)
    return checks


def evaluate_split(cfg: Config, model, out: str) -> None:
    """``--eval``: mmdet and the file over the config's test split.

    Raises:
        UserError: when the file's AP differs by more than
            :data:`split_eval.MAX_AP_DIFF` or it matches fewer than
            :data:`detector_export.MIN_MATCHED` of mmdet's detections.
    """
    comparison = split_eval.compare_on_split(cfg, model,
                                             runtime.Detector(out))
    print('\n'.join(split_eval.describe(comparison)))
    worst = max(abs(comparison.onnx[k] - comparison.pytorch[k])
                for k in split_eval.AP_KEYS)
    matched = comparison.detections.matched_share
    if (worst > split_eval.MAX_AP_DIFF
            or matched < detector_export.MIN_MATCHED):
        raise UserError(
            f'{out} differs from PyTorch over the test split (AP by up to '
            f'{worst:.4f}, {matched:.2%} of the detections matched): do not '
            f'deploy it')


def main(argv: Optional[List[str]] = None) -> list:
    """Exports and checks; returns the comparisons (or, for a whole
    detector, the checks) with PyTorch."""
    args = parse_args(argv)
    if args.opset < onnx_export.MIN_OPSET:
        raise UserError(f'--opset {args.opset}: ConvNeXt\'s LayerNorm needs '
                        f'ONNX LayerNormalization, opset '
                        f'{onnx_export.MIN_OPSET} or later')
    check_output_file(args.out, '--out')
    cfg = load_config(args.config, args.cfg_options)
    check_input_file(args.checkpoint, 'checkpoint')
    shape = onnx_export.check_shape(
        cfg, args.shape or onnx_export.default_shape(cfg))
    output = onnx_export.choose_output(cfg, args.output)
    if output == 'detections':
        return export_detector(args, cfg, shape)
    image = onnx_export.example_image(shape, args.image)
    onnx_export.import_onnx_packages()
    graph = onnx_export.build_graph(
        cfg, onnx_export.load_model(cfg, args.checkpoint), output)
    dynamic_axes = ([0] if args.dynamic_batch else []) + (
        [2, 3] if args.dynamic_size else [])
    inputs = onnx_export.check_inputs(image, dynamic_axes,
                                      onnx_export.size_divisor(cfg))
    # PyTorch's outputs come from the model as loaded, before the swap.
    expected = [onnx_export.run_pytorch(graph, x) for x in inputs]
    names = onnx_export.output_names(output, image, expected[0])
    onnx_export.swap_adaptive_pools(graph)
    onnx_export.export(graph, image, args.out, names, args.opset,
                       dynamic_axes)
    opset, dims = onnx_export.graph_facts(args.out)
    onnx_export.check_dynamic_axes(dims, dynamic_axes, args.out)
    comparisons = onnx_export.verify(args.out, inputs, expected, output,
                                     args.rtol)
    size_mb = os.path.getsize(args.out) / 2**20
    print(f'{args.out}: opset {opset}, {size_mb:.1f} MB; input '
          f'{onnx_export.INPUT_NAME} {dims} (BGR 0-255); outputs '
          f'{", ".join(names)}')
    if opset != args.opset:
        print(f'note: the exporter wrote opset {opset}, not {args.opset}')
    for comparison in comparisons:
        print(f'onnxruntime check, {onnx_export.describe(comparison)}')
    return comparisons


def cli() -> None:
    run_cli(main)
