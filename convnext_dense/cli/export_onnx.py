"""``tools/export_onnx.py``: a segmentor, or a detector's backbone + neck, as
ONNX, checked in onnxruntime against PyTorch."""
import argparse
import os
from typing import List, Optional

from convnext_dense.deploy import onnx_export
from convnext_dense.errors import UserError
from convnext_dense.path_checks import check_input_file, check_output_file

from .common import load_config, run_cli

DESCRIPTION = """\
Export a ConvNeXt segmentor whole (image in; logits or label map out, by
mmseg's whole-image inference) or a detector's backbone + neck (image in; the
FPN feature maps out) to ONNX, then run the file in onnxruntime on the same
input and print the largest difference from PyTorch. The input is a float32
N x 3 x H x W batch of BGR 0-255 images, resized and padded by the caller; the
mean/std normalisation is in the graph. A whole two-stage detector (RPN,
RoIAlign, NMS, RoI heads: custom ops and TensorRT plugins) is mmdeploy's job.
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
        'detector\'s test Resize scale padded to the size divisor)')
    parser.add_argument(
        '--output', choices=('logits', 'labels', 'features'),
        help='segmentors: logits (N x C x H x W, default) or labels '
        '(N x H x W); detectors: features')
    parser.add_argument('--dynamic-batch', action='store_true',
                        help='leave the batch size free')
    parser.add_argument('--dynamic-size', action='store_true',
                        help='leave the height and width free')
    parser.add_argument(
        '--opset', type=int, default=onnx_export.DEFAULT_OPSET,
        help=f'ONNX opset, {onnx_export.MIN_OPSET} or later (LayerNorm) '
        f'(default: {onnx_export.DEFAULT_OPSET})')
    parser.add_argument('--image', help='image the check runs on, resized to '
                        'the shape (default: random pixels)')
    parser.add_argument(
        '--rtol', type=float, default=onnx_export.DEFAULT_RTOL,
        help='largest accepted difference from PyTorch, relative to the '
        f'largest output magnitude (default: {onnx_export.DEFAULT_RTOL:g})')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> List[onnx_export.Comparison]:
    """Exports and checks; returns the comparisons with PyTorch."""
    args = parse_args(argv)
    if args.opset < onnx_export.MIN_OPSET:
        raise UserError(f'--opset {args.opset}: ConvNeXt\'s LayerNorm needs '
                        f'ONNX LayerNormalization, opset '
                        f'{onnx_export.MIN_OPSET} or later')
    check_output_file(args.out, '--out')
    cfg = load_config(args.config)
    check_input_file(args.checkpoint, 'checkpoint')
    shape = onnx_export.check_shape(
        cfg, args.shape or onnx_export.default_shape(cfg))
    output = onnx_export.choose_output(cfg, args.output)
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
