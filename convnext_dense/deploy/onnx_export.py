"""ONNX export of segmentors (whole) and detector backbones + necks, checked
in onnxruntime.

What the file computes:

- a segmentor (mmseg's ``EncoderDecoder``, e.g. UperNet): mmseg's whole-image
  inference (``encode_decode``: backbone, neck, decode head, bilinear resize
  to the input size), giving ``logits`` (N x C x H x W) or the ``labels`` map
  (N x H x W, their argmax). A config's sliding-window test mode is not in
  the graph: the file segments the whole input at once;
- a detector's backbone + neck (``extract_feat``, ``--output features``),
  giving the feature map of each level, ``feat_s4`` ... ``feat_s64`` by
  stride. The whole detector (the default) is
  :mod:`convnext_dense.deploy.detector_export`'s.

The input ``image`` is a float32 N x 3 x H x W batch as the data pipeline
loads images (BGR, 0-255), already resized and padded; the data
preprocessor's channel flip and mean/std normalisation are in the graph.

The export uses torch's dynamo exporter (it needs onnxscript), opset 18 by
default: ConvNeXt's LayerNorm becomes ONNX ``LayerNormalization``, which needs
opset 17 or later. The exporter traces ``nn.AdaptiveAvgPool2d`` (UperNet's
pyramid pooling) into gathers fixed to the example's batch and size, which
fail or go wrong on other inputs; the graph computes it instead as two
matrix products (:class:`MatmulAdaptiveAvgPool2d`), valid for any input.

The file is then run in onnxruntime on the example input, and with dynamic
axes on a second batch size and image size as well, and compared with the
outputs of the PyTorch model as loaded (before that swap).
"""
import copy
import importlib
import math
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config

from convnext_dense.data.wrappers import leaf_datasets
from convnext_dense.errors import UserError
from convnext_dense.path_checks import check_input_file

#: How to get the optional packages the export needs.
INSTALL_HINT = "pip install 'convnext-dense[onnx]'"
#: The exporter needs onnx and onnxscript; the check needs onnxruntime.
REQUIRED_PACKAGES = ('onnx', 'onnxscript', 'onnxruntime')
#: Opset written by default, and the lowest one ConvNeXt's LayerNorm allows.
DEFAULT_OPSET = 18
MIN_OPSET = 17
#: Name of the graph's input.
INPUT_NAME = 'image'
#: What each task's graph can output; the first is the default.
OUTPUTS: Dict[str, Tuple[str, ...]] = {
    'mmseg': ('logits', 'labels'),
    'mmdet': ('detections', 'features'),
}
#: Shape used when a config names none (H, W).
FALLBACK_SHAPE = (512, 512)
#: Weights beyond this go to FILE.data: protobuf holds 2 GiB at most.
EXTERNAL_DATA_BYTES = int(1.8 * 2**30)
#: Least share of identical labels accepted from a ``labels`` graph.
MIN_LABEL_AGREEMENT = 0.999
#: Default bound of the largest difference, relative to the largest output
#: magnitude (at least 1).
DEFAULT_RTOL = 1e-4


def import_onnx_packages() -> Dict[str, ModuleType]:
    """The packages the export needs, or a UserError saying how to get them."""
    modules, missing = {}, []
    for name in REQUIRED_PACKAGES:
        try:
            modules[name] = importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise UserError(f'ONNX export needs {", ".join(missing)}: '
                        f'{INSTALL_HINT}')
    return modules


class Preprocess(nn.Module):
    """What the data preprocessor does to each image: BGR to RGB (when
    configured) and ``(x - mean) / std``."""

    def __init__(self, preprocessor: nn.Module) -> None:
        super().__init__()
        # mmengine's ImgDataPreprocessor (mmdet) and mmseg's name it apart.
        self.to_rgb = bool(
            getattr(preprocessor, '_channel_conversion', False)
            or getattr(preprocessor, 'channel_conversion', False))
        normalize = getattr(preprocessor, '_enable_normalize', False)
        mean = preprocessor.mean if normalize else torch.zeros(3)
        std = preprocessor.std if normalize else torch.ones(3)
        self.register_buffer('mean', mean.detach().float().view(1, -1, 1, 1))
        self.register_buffer('std', std.detach().float().view(1, -1, 1, 1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if self.to_rgb:
            image = image[:, [2, 1, 0]]
        return (image - self.mean) / self.std


class SegmentorGraph(nn.Module):
    """Image batch to logits or label map: mmseg's whole-image inference.

    Args:
        segmentor: An mmseg segmentor with ``encode_decode``.
        output: ``'logits'`` (N x C x H x W) or ``'labels'`` (N x H x W).
    """

    def __init__(self, segmentor: nn.Module, output: str = 'logits') -> None:
        super().__init__()
        self.preprocess = Preprocess(segmentor.data_preprocessor)
        self.segmentor = segmentor
        self.output = output

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        inputs = self.preprocess(image)
        logits = self.segmentor.encode_decode(
            inputs, [dict(img_shape=inputs.shape[2:])])
        if self.output == 'logits':
            return logits
        if logits.shape[1] == 1:  # binary heads threshold a sigmoid
            threshold = self.segmentor.decode_head.threshold
            return (logits.sigmoid() > threshold).squeeze(1).long()
        return logits.argmax(dim=1)


class BackboneNeckGraph(nn.Module):
    """Image batch to a detector's feature maps: its ``extract_feat``."""

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.preprocess = Preprocess(detector.data_preprocessor)
        self.detector = detector

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        return tuple(self.detector.extract_feat(self.preprocess(image)))


def _pool_matrix(bins: int, length, like: torch.Tensor) -> torch.Tensor:
    """``(bins, length)`` averaging matrix of adaptive pooling along one axis:
    bin ``i`` averages ``[floor(i * length / bins), ceil((i + 1) * length /
    bins))``, as torch's ``adaptive_avg_pool2d`` does."""
    index = torch.arange(bins, device=like.device)
    start = torch.div(index * length, bins, rounding_mode='floor')
    end = torch.div((index + 1) * length + bins - 1, bins,
                    rounding_mode='floor')
    position = torch.arange(length, device=like.device)
    inside = ((position[None, :] >= start[:, None])
              & (position[None, :] < end[:, None]))
    return inside.to(like.dtype) / (end - start)[:, None].to(like.dtype)


class MatmulAdaptiveAvgPool2d(nn.Module):
    """``nn.AdaptiveAvgPool2d`` as ``rows @ x @ cols.T``, exportable for any
    batch and input size.

    Args:
        output_size: ``s`` or ``(s_h, s_w)``; ``None`` keeps that axis.
    """

    def __init__(self, output_size) -> None:
        super().__init__()
        self.output_size = (tuple(output_size) if isinstance(
            output_size, (tuple, list)) else (output_size, output_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        bins_h = self.output_size[0] or height
        bins_w = self.output_size[1] or width
        rows = _pool_matrix(bins_h, height, x)
        cols = _pool_matrix(bins_w, width, x)
        return rows @ x @ cols.transpose(0, 1)


def swap_adaptive_pools(module: nn.Module) -> int:
    """Replaces each ``nn.AdaptiveAvgPool2d`` in ``module`` (in place) by a
    :class:`MatmulAdaptiveAvgPool2d`; returns how many."""
    swapped = 0
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.AdaptiveAvgPool2d):
                setattr(parent, name,
                        MatmulAdaptiveAvgPool2d(child.output_size))
                swapped += 1
    return swapped


def load_model(cfg: Config, checkpoint: str) -> nn.Module:
    """The config's model in eval mode on the CPU, with ``checkpoint``'s
    weights (weights-only loading), SyncBN turned into BN."""
    if cfg.default_scope == 'mmseg':
        from convnext_dense.inference.segmentation import load_segmentor
        return load_segmentor(cfg, checkpoint)
    from mmdet.apis import init_detector
    return init_detector(copy.deepcopy(cfg), checkpoint, device='cpu')


def choose_output(cfg: Config, output: Optional[str] = None) -> str:
    """``output`` checked against the config's task, or the task's default.

    Raises:
        UserError: when the task's graph cannot give ``output``.
    """
    choices = OUTPUTS[cfg.default_scope]
    if output is None:
        return choices[0]
    if output not in choices:
        task = 'segmentor' if cfg.default_scope == 'mmseg' else 'detector'
        raise UserError(f'--output {output}: the graph of a {task} outputs '
                        f'{" or ".join(choices)}')
    return output


def build_graph(cfg: Config, model: nn.Module, output: str) -> nn.Module:
    """The module to export for the config's task, in eval mode.

    Args:
        cfg: The model's config.
        model: The segmentor or detector.
        output: What the graph gives (:func:`choose_output`).
    """
    if cfg.default_scope == 'mmseg':
        return SegmentorGraph(model, output).eval()
    return BackboneNeckGraph(model).eval()


def size_divisor(cfg: Config) -> int:
    """What the data preprocessor pads images to a multiple of (1: none)."""
    preprocessor = cfg.model.get('data_preprocessor') or {}
    return int(preprocessor.get('pad_size_divisor')
               or preprocessor.get('size_divisor') or 1)


def _test_resize_scale(cfg: Config) -> Optional[Tuple[int, int]]:
    """The (w, h) ``scale`` of the test pipeline's first Resize, if any."""
    dataset, _ = next(leaf_datasets(cfg.test_dataloader.dataset))
    for step in dataset.get('pipeline', []):
        if step.get('type', '').split('.')[-1] == 'Resize' and step.get(
                'scale'):
            return tuple(step['scale'])
    return None


def default_shape(cfg: Config) -> Tuple[int, int]:
    """(H, W): a segmentor's crop size (``data_preprocessor.size``); else the
    test pipeline's Resize scale padded to the size divisor; else 512 x 512."""
    size = (cfg.model.get('data_preprocessor') or {}).get('size')
    if cfg.default_scope == 'mmseg' and size:
        return int(size[0]), int(size[1])
    scale = _test_resize_scale(cfg) if cfg.get('test_dataloader') else None
    if not scale:
        return FALLBACK_SHAPE
    divisor = size_divisor(cfg)
    width, height = scale
    return (math.ceil(height / divisor) * divisor,
            math.ceil(width / divisor) * divisor)


def check_shape(cfg: Config, shape: Sequence[int]) -> Tuple[int, int]:
    """``--shape H W`` checked against the size divisor.

    Raises:
        UserError: for a size that is not positive or not a multiple of the
            data preprocessor's size divisor.
    """
    height, width = shape
    divisor = size_divisor(cfg)
    if height < 1 or width < 1 or height % divisor or width % divisor:
        raise UserError(
            f'--shape {height} {width}: the model sees images padded to '
            f'multiples of {divisor} (data_preprocessor); use sizes such as '
            f'{math.ceil(max(height, 1) / divisor) * divisor} '
            f'{math.ceil(max(width, 1) / divisor) * divisor}')
    return height, width


def example_image(shape: Tuple[int, int], path: Optional[str] = None,
                  batch: int = 1, seed: int = 0) -> torch.Tensor:
    """A float32 batch of BGR 0-255 images of ``shape`` (H, W).

    Args:
        shape: Height and width.
        path: An image file, resized to ``shape``; every image of the batch
            is a copy. Defaults to random pixels.
        batch: Images in the batch. Defaults to 1.
        seed: Seed of the random pixels. Defaults to 0.

    Raises:
        InputNotFoundError: when ``path`` does not exist.
        UnreadableFileError: when it is a folder or cannot be read.
        UserError: when OpenCV cannot read it.
    """
    height, width = shape
    if path is None:
        generator = torch.Generator().manual_seed(seed)
        return torch.rand(batch, 3, height, width, generator=generator) * 255
    check_input_file(path, '--image')
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise UserError(f'--image {path} is not an image OpenCV can read')
    image = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    tensor = torch.from_numpy(image).permute(2, 0, 1).float()
    return tensor.unsqueeze(0).repeat(batch, 1, 1, 1)


def output_names(output: str, image: torch.Tensor,
                 outputs: Sequence[np.ndarray]) -> List[str]:
    """``logits``/``labels``, or ``feat_s<stride>`` for each feature map of
    ``outputs`` (PyTorch's outputs on ``image``)."""
    if output != 'features':
        return [output]
    return [f'feat_s{2 ** round(math.log2(image.shape[-1] / f.shape[-1]))}'
            for f in outputs]


def export(graph: nn.Module, image: torch.Tensor, out: str, names: List[str],
           opset: int = DEFAULT_OPSET,
           dynamic_axes: Sequence[int] = ()) -> None:
    """Writes ``graph`` traced on ``image`` to ``out`` with torch's exporter.

    Args:
        graph: A :class:`SegmentorGraph` or :class:`BackboneNeckGraph`.
        image: Example input.
        out: The ``.onnx`` file; weights of more than
            :data:`EXTERNAL_DATA_BYTES` go beside it to ``<out>.data``.
        names: Output names.
        opset: ONNX opset. Defaults to :data:`DEFAULT_OPSET`.
        dynamic_axes: Input axes left free (0 batch, 2 height, 3 width).
    """
    weight_bytes = sum(t.numel() * t.element_size()
                       for t in graph.state_dict().values())
    dynamic_shapes = ({INPUT_NAME: {axis: torch.export.Dim.AUTO
                                    for axis in dynamic_axes}}
                      if dynamic_axes else None)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            graph, (image, ), out, dynamo=True, opset_version=opset,
            input_names=[INPUT_NAME], output_names=names,
            dynamic_shapes=dynamic_shapes,
            external_data=weight_bytes > EXTERNAL_DATA_BYTES)


def graph_facts(out: str) -> Tuple[int, List[object]]:
    """The opset of a written file and its input's dims (an int, or the
    name of a free dim)."""
    import onnx
    model = onnx.load(out, load_external_data=False)
    opset = next(o.version for o in model.opset_import
                 if o.domain in ('', 'ai.onnx'))
    dims = [d.dim_value if d.HasField('dim_value') else d.dim_param
            for d in model.graph.input[0].type.tensor_type.shape.dim]
    return opset, dims


def check_dynamic_axes(dims: List[object], dynamic_axes: Sequence[int],
                       out: str) -> None:
    """Raises a UserError when the exporter fixed an axis asked to be free."""
    axis_names = {0: 'batch size', 2: 'height', 3: 'width'}
    fixed = [axis_names[a] for a in dynamic_axes if isinstance(dims[a], int)]
    if fixed:
        raise UserError(f'{out}: the exporter fixed the {" and ".join(fixed)} '
                        f'of this model (input dims {dims}); export without '
                        f'that dynamic axis')


@dataclass
class Comparison:
    """onnxruntime against PyTorch on one input.

    Attributes:
        shape: The input's shape.
        max_abs_diff: Largest absolute difference over every output element;
            ``None`` for a label map.
        max_abs_value: Largest magnitude of the PyTorch outputs.
        label_agreement: Share of pixels whose label (argmax of the logits,
            or the label map) is the same; ``None`` for feature maps.
    """
    shape: Tuple[int, ...]
    max_abs_diff: Optional[float]
    max_abs_value: float
    label_agreement: Optional[float]

    @property
    def relative_diff(self) -> Optional[float]:
        """``max_abs_diff`` over ``max(1, max_abs_value)``."""
        if self.max_abs_diff is None:
            return None
        return self.max_abs_diff / max(1.0, self.max_abs_value)


def check_inputs(image: torch.Tensor, dynamic_axes: Sequence[int],
                 divisor: int) -> List[torch.Tensor]:
    """The example input and, with free axes, a second one: batch 2 for a
    free batch, a larger height and width (by one and two size divisors, at
    least 32 pixels) for a free size."""
    if not dynamic_axes:
        return [image]
    _, _, height, width = image.shape
    step = max(divisor, 32)
    size = ((height + step, width + 2 * step)
            if {2, 3} & set(dynamic_axes) else (height, width))
    batch = 2 if 0 in dynamic_axes else 1
    return [image, example_image(size, batch=batch, seed=1)]


def run_pytorch(graph: nn.Module, image: torch.Tensor) -> List[np.ndarray]:
    """The outputs of ``graph`` on ``image``, as arrays."""
    with torch.no_grad():
        outputs = graph(image)
    return [t.numpy() for t in (
        outputs if isinstance(outputs, tuple) else (outputs, ))]


def compare(got: Sequence[np.ndarray], expected: Sequence[np.ndarray],
            shape: Tuple[int, ...], output: str) -> Comparison:
    """Compares onnxruntime's outputs with PyTorch's on one input.

    Args:
        got: onnxruntime's outputs.
        expected: PyTorch's, in the same order.
        shape: The input's shape.
        output: ``'logits'``, ``'labels'`` or ``'features'``.
    """
    scale = float(max(np.abs(e).max() for e in expected))
    if output == 'labels':
        return Comparison(shape, None, scale,
                          float((got[0] == expected[0]).mean()))
    diff = float(max(np.abs(g - e).max() for g, e in zip(got, expected)))
    agreement = (float((got[0].argmax(1) == expected[0].argmax(1)).mean())
                 if output == 'logits' else None)
    return Comparison(shape, diff, scale, agreement)


def _check_comparison(c: Comparison, out: str, rtol: float) -> None:
    if c.relative_diff is not None and c.relative_diff > rtol:
        raise UserError(
            f'{out} differs from PyTorch by up to {c.max_abs_diff:.3g} on an '
            f'input of shape {list(c.shape)} (outputs up to '
            f'{c.max_abs_value:.3g}), more than --rtol {rtol:g}: do not '
            f'deploy it')
    if c.max_abs_diff is None and c.label_agreement < MIN_LABEL_AGREEMENT:
        raise UserError(
            f'{out} gives other labels than PyTorch on '
            f'{1 - c.label_agreement:.2%} of the pixels of an input of shape '
            f'{list(c.shape)}: do not deploy it')


def verify(out: str, inputs: Sequence[torch.Tensor],
           expected: Sequence[Sequence[np.ndarray]], output: str,
           rtol: float = DEFAULT_RTOL) -> List[Comparison]:
    """Runs the file in onnxruntime on each input and compares its outputs
    with PyTorch's.

    Args:
        out: The ``.onnx`` file.
        inputs: Input batches.
        expected: PyTorch's outputs on each input (:func:`run_pytorch`).
        output: ``'logits'``, ``'labels'`` or ``'features'``.
        rtol: Largest accepted difference, relative to the largest output
            magnitude (at least 1). Defaults to :data:`DEFAULT_RTOL`.

    Raises:
        UserError: when onnxruntime cannot run the file on an input, gives
            outputs of other shapes, differs by more than ``rtol``, or (a
            label map) agrees on fewer than :data:`MIN_LABEL_AGREEMENT` of
            the pixels.
    """
    import onnxruntime
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4  # failures are reported below, once
    session = onnxruntime.InferenceSession(
        out, options, providers=['CPUExecutionProvider'])
    comparisons = []
    for image, reference in zip(inputs, expected):
        shape = tuple(image.shape)
        try:
            got = session.run(None, {INPUT_NAME: image.numpy()})
        except Exception as error:  # onnxruntime's own exception types
            raise UserError(
                f'{out} does not run in onnxruntime on an input of shape '
                f'{list(shape)}: {str(error).splitlines()[0]}') from None
        shapes = [list(g.shape) for g in got], [list(e.shape)
                                                for e in reference]
        if shapes[0] != shapes[1]:
            raise UserError(f'{out} gives outputs of shapes {shapes[0]} on '
                            f'an input of shape {list(shape)}, PyTorch '
                            f'{shapes[1]}')
        comparisons.append(compare(got, reference, shape, output))
        _check_comparison(comparisons[-1], out, rtol)
    return comparisons


def describe(c: Comparison) -> str:
    """One line about a comparison, for the user."""
    parts = []
    if c.max_abs_diff is not None:
        parts.append(f'largest difference from PyTorch {c.max_abs_diff:.2e} '
                     f'(outputs up to {c.max_abs_value:.3g})')
    if c.label_agreement is not None:
        parts.append(f'labels identical on {c.label_agreement:.2%} of pixels')
    return f'input {list(c.shape)}: ' + '; '.join(parts)
