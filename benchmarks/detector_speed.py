#!/usr/bin/env python
"""Whole detectors: the toolkit's against the stock OpenMMLab formulation.

For Mask R-CNN ConvNeXt-T and Cascade Mask R-CNN ConvNeXt-T at 800x1216,
times one image through ``model.test_step`` (pre-processing on the tensor,
backbone, FPN, RPN, RoI heads, NMS, mask pasting) in two formulations with
the same random weights, in one process, alternating them (after one warm-up run each):

* toolkit: this repository's config (``convnext_dense.ConvNeXt``) with the
  toolkit's kernels (:mod:`convnext_dense.ops`: NMS and RoIAlign, what
  ``mmcv._ext`` is under mmcv-lite);
* stock: mmdet 3.3's own ConvNeXt config (``configs/convnext``, mmpretrain's
  ``ConvNeXt``) with mmcv's compiled kernels and none of the toolkit's
  patches to them.

Both with ``score_thr=0``, so that 100 detections reach the mask head. The
detections are compared first (labels, boxes, scores, masks), then both are
timed (median of ``--repeat``), then NMS alone: the toolkit's kernel and
mmcv's on the boxes this image's RPN and RoI head passed to NMS.

``--toy-train`` times instead a training step of the toy Mask R-CNN
(``configs/toy/mask_rcnn_convnext_toy_coco.py``, 4 toy images of 128x128)
with the toolkit's kernels and with mmcv's (NMS in the RPN, RoIAlign of the
mask targets; the RoI extractors take the toolkit's CPU RoIAlign in both, as
before mmcv-lite), the same model and batch, alternating.

Needs mmcv's full build for the stock side and mmpretrain:

    make install MMCV=full
    .venv/bin/pip install 'convnext-dense[benchmark]'  # mmpretrain
    .venv/bin/python benchmarks/detector_speed.py [--models mask_rcnn cascade] [--repeat 5]
    .venv/bin/python benchmarks/detector_speed.py --toy-train [--repeat 20]
"""
import argparse
import contextlib
import importlib
import importlib.util
import sys
import types
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Tuple

import torch
from mmdet.utils import register_all_modules
from mmengine.config import Config
from mmengine.registry import MODELS

import _convnext_dense_mmcv_ext
import convnext_dense  # noqa: F401  (the toolkit's patches and registry)
from convnext_dense.analysis.profiling import interleaved_medians
from convnext_dense.ops.nms import nms as toolkit_nms
from convnext_dense.patches import fast_roi_align_cpu
from convnext_dense.patches.mmcv_ops import using_toolkit_kernels

REPO = Path(__file__).resolve().parents[1]
MMDET_CONFIGS = Path(importlib.util.find_spec('mmdet').origin).parent / \
    '.mim' / 'configs' / 'convnext'
#: name: (toolkit config, mmdet's config).
MODEL_PAIRS = {
    'mask_rcnn': ('mask_rcnn_convnext_t_3x_coco.py',
                  'mask-rcnn_convnext-t-p4-w7_fpn_amp-ms-crop-3x_coco.py'),
    'cascade': ('cascade_mask_rcnn_convnext_t_3x_coco.py',
                'cascade-mask-rcnn_convnext-t-p4-w7_fpn_4conv1fc-giou_'
                'amp-ms-crop-3x_coco.py'),
}
HEIGHT, WIDTH = 800, 1216
NMS_MODULE = importlib.import_module('mmcv.ops.nms')
ROI_ALIGN_MODULE = importlib.import_module('mmcv.ops.roi_align')


def load_mmpretrain_convnext() -> None:
    """Registers mmpretrain's ConvNeXt as ``mmpretrain.ConvNeXt``.

    ``import mmpretrain.models`` (what mmdet's config asks for) also imports
    mmpretrain's evaluation and box utilities, which need torchvision; where
    torchvision cannot be imported, the few modules ConvNeXt needs are loaded
    without their packages' ``__init__``.
    """
    try:
        importlib.import_module('mmpretrain.models')
        return
    except ImportError:
        pass
    spec = importlib.util.find_spec('mmpretrain')
    if spec is None:
        sys.exit("error: the stock side needs mmpretrain: pip install "
                 "'convnext-dense[benchmark]'")
    root = Path(spec.submodule_search_locations[0])
    for name in ('mmpretrain', 'mmpretrain.models',
                 'mmpretrain.models.backbones', 'mmpretrain.models.utils'):
        package = types.ModuleType(name)
        package.__path__ = [str(root.joinpath(*name.split('.')[1:]))]
        sys.modules[name] = package
    norm = importlib.import_module('mmpretrain.models.utils.norm')
    utils = sys.modules['mmpretrain.models.utils']
    utils.GRN, utils.build_norm_layer = norm.GRN, norm.build_norm_layer
    importlib.import_module('mmpretrain.models.backbones.convnext')


@contextlib.contextmanager
def stock_kernels() -> Iterator[None]:
    """mmcv's compiled NMS and RoIAlign, without the toolkit's CPU patch."""
    roi_layer = importlib.import_module('mmcv.ops').RoIAlign
    patched = roi_layer.forward
    roi_layer.forward = fast_roi_align_cpu.ORIGINAL_FORWARD
    try:
        yield
    finally:
        roi_layer.forward = patched


@contextlib.contextmanager
def toolkit_kernels(ext: types.ModuleType) -> Iterator[None]:
    """The toolkit's NMS and RoIAlign kernels, as under mmcv-lite."""
    saved = NMS_MODULE.ext_module, ROI_ALIGN_MODULE.ext_module
    NMS_MODULE.ext_module = ROI_ALIGN_MODULE.ext_module = ext
    try:
        yield
    finally:
        NMS_MODULE.ext_module, ROI_ALIGN_MODULE.ext_module = saved


def toolkit_ext() -> types.ModuleType:
    """``convnext_dense/ops/mmcv_ext.py``, loaded as under mmcv-lite."""
    spec = _convnext_dense_mmcv_ext.MmcvExtFinder.find_spec('mmcv._ext')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(config: Path) -> torch.nn.Module:
    cfg = Config.fromfile(str(config))
    cfg.model.backbone.init_cfg = None
    cfg.model.test_cfg.rcnn.score_thr = 0.
    return MODELS.build(cfg.model).eval()


def mmpretrain_state_dict(toolkit: torch.nn.Module) -> Dict[str, torch.Tensor]:
    """The toolkit model's weights under mmpretrain's backbone names."""
    renames = (('.dwconv.', '.depthwise_conv.'),
               ('.pwconv1.', '.pointwise_conv1.'),
               ('.pwconv2.', '.pointwise_conv2.'))
    state = {}
    for key, value in toolkit.state_dict().items():
        if key.startswith('backbone.'):
            for old, new in renames:
                key = key.replace(old, new)
        state[key] = value
    return state


def one_image(model: torch.nn.Module) -> dict:
    from mmdet.structures import DetDataSample
    image = torch.rand(3, HEIGHT, WIDTH,
                       generator=torch.Generator().manual_seed(0)) * 255
    sample = DetDataSample(metainfo=dict(img_shape=(HEIGHT, WIDTH),
                                         ori_shape=(HEIGHT, WIDTH),
                                         scale_factor=(1., 1.)))
    return dict(inputs=[image], data_samples=[sample])


def compare(toolkit: dict, stock: dict) -> str:
    """How far apart the two formulations' detections are."""
    a, b = toolkit.pred_instances, stock.pred_instances
    if len(a) != len(b):
        return f'detections differ in number: {len(a)} vs {len(b)}'
    same_labels = (a.labels == b.labels).float().mean().item()
    box_diff = (a.bboxes - b.bboxes).abs().max().item() if len(a) else 0.
    score_diff = (a.scores - b.scores).abs().max().item() if len(a) else 0.
    inter = (a.masks & b.masks).flatten(1).sum(1).float()
    union = (a.masks | b.masks).flatten(1).sum(1).float()
    # Two empty masks agree.
    mask_iou = torch.where(union > 0, inter / union.clamp_min(1), 1.)
    mask_iou = mask_iou.min().item() if len(a) else 1.
    return (f'{len(a)} detections, labels equal {same_labels:.1%}, largest '
            f'box difference {box_diff:.2g} px, score difference '
            f'{score_diff:.2g}, lowest mask IoU {mask_iou:.4f}')


def record_nms_inputs(ext: types.ModuleType,
                      run: Callable[[types.ModuleType], object]
                      ) -> List[Tuple[torch.Tensor, torch.Tensor, float]]:
    """The (boxes, scores, threshold) of every NMS call of ``run(kernels)``
    given ``ext``'s kernels."""
    calls = []

    class Recorder(types.ModuleType):
        """``ext``, recording what NMS is given."""

        def __getattr__(self, name):
            return getattr(ext, name)

        @staticmethod
        def nms(boxes, scores, iou_threshold, offset):
            calls.append((boxes.clone(), scores.clone(), iou_threshold))
            return ext.nms(boxes, scores, iou_threshold, offset)

    run(Recorder('recorder'))
    return calls


def nms_alone(calls, mmcv_ext, repeat: int) -> None:
    """Times the toolkit's NMS kernel and mmcv's on the recorded calls."""
    groups = {
        f'RPN ({len(calls[0][0])} boxes, IoU {calls[0][2]})': calls[:1],
        f'RoI head ({len(calls) - 1} calls, '
        f'{max(len(c[0]) for c in calls[1:])} boxes max)': calls[1:],
    }
    for name, group in groups.items():
        for boxes, scores, threshold in group:
            expected = mmcv_ext.nms(boxes, scores, iou_threshold=threshold,
                                    offset=0)
            if not torch.equal(toolkit_nms(boxes, scores, threshold),
                               expected):
                sys.exit(f'error: NMS kept other boxes than mmcv on {name}')
        medians = interleaved_medians(
            {
                'mmcv': lambda: [
                    mmcv_ext.nms(b, s, iou_threshold=t, offset=0)
                    for b, s, t in group
                ],
                'toolkit': lambda: [toolkit_nms(b, s, t) for b, s, t in group],
            }, repeat)
        print(f'  NMS alone, {name}: mmcv {medians["mmcv"] * 1e3:.1f} ms, '
              f'toolkit {medians["toolkit"] * 1e3:.1f} ms, speed-up '
              f'{medians["mmcv"] / medians["toolkit"]:.2f}x (same kept boxes)')


def toy_train_step(ext: types.ModuleType, repeat: int) -> None:
    """A toy Mask R-CNN training step with the toolkit's and mmcv's kernels."""
    import tempfile

    from mmengine.optim import OptimWrapper
    from mmengine.runner import Runner

    from convnext_dense.data.toy import toy_coco
    cfg = Config.fromfile(
        str(REPO / 'configs' / 'toy' / 'mask_rcnn_convnext_toy_coco.py'))
    with tempfile.TemporaryDirectory() as root:
        data_root = Path(root) / 'toy_coco'
        toy_coco.generate(data_root, num_train=4, num_val=1)
        cfg.train_dataloader.dataset.data_root = str(data_root) + '/'
        cfg.train_dataloader.update(batch_size=4, num_workers=0,
                                    persistent_workers=False)
        batch = next(iter(Runner.build_dataloader(cfg.train_dataloader)))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).train()
    wrapper = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-4))
    state = {k: v.clone() for k, v in model.state_dict().items()}

    def step(kernels: Callable[[], contextlib.AbstractContextManager]
             ) -> Callable[[], None]:
        def run():
            model.load_state_dict(state)  # every step from the same weights
            with kernels():
                model.train_step(batch, wrapper)
        return run

    medians = interleaved_medians(
        {'mmcv': step(contextlib.nullcontext),
         'toolkit': step(lambda: toolkit_kernels(ext))}, repeat)
    print(f'toy Mask R-CNN training step (4 images 128x128): mmcv kernels '
          f'{medians["mmcv"] * 1e3:.0f} ms, toolkit kernels '
          f'{medians["toolkit"] * 1e3:.0f} ms, speed-up '
          f'{medians["mmcv"] / medians["toolkit"]:.2f}x')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--models', nargs='+', choices=list(MODEL_PAIRS),
                        default=list(MODEL_PAIRS))
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--toy-train', action='store_true',
                        help='time a toy Mask R-CNN training step instead')
    args = parser.parse_args()
    if using_toolkit_kernels():
        sys.exit('error: the stock side needs mmcv\'s compiled kernels: '
                 'make install MMCV=full')
    torch.set_num_threads(args.threads)
    register_all_modules()
    ext = toolkit_ext()
    if args.toy_train:
        toy_train_step(ext, args.repeat)
        return
    load_mmpretrain_convnext()
    mmcv_ext = NMS_MODULE.ext_module
    print(f'{HEIGHT}x{WIDTH}, one image, score_thr 0, {args.threads} '
          f'threads, median of {args.repeat}, alternating')
    for name in args.models:
        ours, theirs = MODEL_PAIRS[name]
        torch.manual_seed(0)
        toolkit = build(REPO / 'configs' / ours)
        stock = build(MMDET_CONFIGS / theirs)
        stock.load_state_dict(mmpretrain_state_dict(toolkit), strict=True)
        data = one_image(toolkit)

        def run_toolkit(kernels: types.ModuleType = ext):
            with torch.no_grad(), toolkit_kernels(kernels):
                return toolkit.test_step(data)[0]

        def run_stock():
            with torch.no_grad(), stock_kernels():
                return stock.test_step(data)[0]

        print(f'{name}: {compare(run_toolkit(), run_stock())}')
        medians = interleaved_medians(
            {'stock': run_stock, 'toolkit': run_toolkit}, args.repeat)
        print(f'  whole model: stock {medians["stock"]:.2f} s, toolkit '
              f'{medians["toolkit"]:.2f} s, speed-up '
              f'{medians["stock"] / medians["toolkit"]:.2f}x')
        nms_alone(record_nms_inputs(ext, run_toolkit), mmcv_ext, args.repeat)


if __name__ == '__main__':
    main()
