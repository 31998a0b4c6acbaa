"""Records mmcv's compiled NMS and RoIAlign on the cases the op tests use.

The toolkit's kernels (``convnext_dense.ops``) replace mmcv's compiled ones
under mmcv-lite, so the tests compare them with what mmcv's own kernels
computed, recorded once by this script into ``mmcv_op_references.pt``
beside it. It needs mmcv's full build (``make install MMCV=full``) and calls
``mmcv._ext`` directly:

    python tests/data/make_mmcv_op_references.py

Each case holds its inputs (seeded, so a rerun gives the same file) and
mmcv's results: RoIAlign output and input gradient for a given upstream
gradient, NMS kept indices, soft-NMS boxes, scores and indices. The NMS
cases include the boxes mmdet's RPN and
RoI head pass to NMS in a Mask R-CNN ConvNeXt-T forward at 800x1216 (random
weights, ``score_thr=0``).
"""
import argparse
import importlib
import importlib.util
from pathlib import Path
from typing import Dict, List, Tuple

import torch
from torch.nn.modules.utils import _pair

OUT = Path(__file__).with_name('mmcv_op_references.pt')
REPO = Path(__file__).resolve().parents[2]


def compiled_ext():
    """mmcv's compiled extension; refuses to record from anything else."""
    spec = importlib.util.find_spec('mmcv._ext')
    if spec is None or not str(spec.origin).endswith('.so'):
        raise SystemExit('error: this needs mmcv\'s full build (compiled '
                         'mmcv._ext); install it with make install MMCV=full')
    return importlib.import_module('mmcv._ext')


# ---------------------------------------------------------------- RoIAlign


def random_rois(shape, scale: float, aligned: bool,
                generator: torch.Generator) -> torch.Tensor:
    """RoIs of every kind, in image coordinates, on images 0 and 2 of 3.

    Ordinary boxes, boxes partly and wholly outside the image, boxes under a
    pixel, and degenerate ones (zero width or height; with
    ``aligned=False``, also x2 < x1, which mmcv accepts there).
    """
    _, _, h, w = shape
    img_h, img_w = h / scale, w / scale
    size = torch.tensor([img_w, img_h])

    def boxes(count, lo, hi, spread=1.0):
        wh = torch.empty(count, 2).uniform_(lo, hi, generator=generator)
        centre = (torch.rand(count, 2, generator=generator) * spread -
                  (spread - 1) / 2) * size
        return torch.cat([centre - wh * size / 2, centre + wh * size / 2], 1)

    parts = [
        boxes(12, 0.05, 0.9),  # inside, mostly
        boxes(8, 0.2, 1.5, spread=1.6),  # partly outside
        boxes(4, 0.1, 0.3) + torch.tensor([1.3, 1.3, 1.3, 1.3]) *
        torch.cat([size, size]),  # wholly outside, past the far corner
        boxes(3, 0.1, 0.3) - 2.2 * torch.cat([size, size]),  # before it
        boxes(6, 0.1 / img_w, 0.9 / img_w),  # under a pixel
    ]
    degenerate = boxes(4, 0.05, 0.3)
    degenerate[:2, 2] = degenerate[:2, 0]  # zero width
    degenerate[2:, 3] = degenerate[2:, 1]  # zero height
    parts.append(degenerate)
    if not aligned:
        flipped = boxes(3, 0.05, 0.3)
        parts.append(flipped[:, [2, 3, 0, 1]])  # x2 < x1, y2 < y1
    xyxy = torch.cat(parts)
    image = torch.randint(0, 2, (len(xyxy), ), generator=generator) * 2
    return torch.cat([image[:, None].float(), xyxy], 1)


def record_roi_align(ext, name: str, x: torch.Tensor, rois: torch.Tensor,
                     output_size, scale: float, sampling_ratio: int,
                     aligned: bool) -> dict:
    """mmcv's forward and backward on contiguous inputs."""
    out_h, out_w = _pair(output_size)
    x, rois = x.contiguous(), rois.to(x.dtype).contiguous()
    upstream = torch.randn(len(rois),
                           x.size(1),
                           out_h,
                           out_w,
                           generator=torch.Generator().manual_seed(1),
                           dtype=x.dtype)
    output = x.new_zeros(len(rois), x.size(1), out_h, out_w)
    unused = x.new_zeros(0)
    common = dict(aligned_height=out_h,
                  aligned_width=out_w,
                  spatial_scale=scale,
                  sampling_ratio=sampling_ratio,
                  pool_mode=1,
                  aligned=aligned)
    ext.roi_align_forward(x, rois, output, unused, unused, **common)
    grad = torch.zeros_like(x)
    ext.roi_align_backward(upstream, rois, unused, unused, grad, **common)
    return dict(name=name, input=x, rois=rois, output_size=(out_h, out_w),
                spatial_scale=scale, sampling_ratio=sampling_ratio,
                aligned=aligned, upstream=upstream, output=output, grad=grad)


def roi_align_cases(ext) -> List[dict]:
    cases = []
    for aligned in (True, False):
        for sampling_ratio in (0, 2):
            for output_size in (7, 14):
                for scale in (1 / 4, 1 / 32):
                    generator = torch.Generator().manual_seed(
                        len(cases) + 100)
                    x = torch.randn(3, 6, 13, 17, generator=generator)
                    rois = random_rois(x.shape, scale, aligned, generator)
                    cases.append(
                        record_roi_align(
                            ext, f'grid-{aligned}-{sampling_ratio}-'
                            f'{output_size}-{scale}', x, rois, output_size,
                            scale, sampling_ratio, aligned))
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(3, 8, 20, 24, generator=generator)
    cases.append(
        record_roi_align(ext, 'map-for-channels-last', x,
                         random_rois(x.shape, 1 / 4, True, generator), 7,
                         1 / 4, 0, True))
    for shape in ((2, 3, 1, 9), (2, 3, 7, 1), (2, 3, 1, 1)):
        generator = torch.Generator().manual_seed(6)
        x = torch.randn(shape, generator=generator)
        rois = random_rois(x.shape, 1 / 8, True, generator)
        rois[:, 0] = rois[:, 0].clamp_max(1)
        cases.append(
            record_roi_align(ext, f'thin-{shape}-aligned', x, rois, (5, 3),
                             1 / 8, 0, True))
        cases.append(
            record_roi_align(ext, f'thin-{shape}-legacy', x, rois, (2, 4),
                             1 / 8, 3, False))
    generator = torch.Generator().manual_seed(4)
    large = torch.randn(2, 4, 12, 12, generator=generator)
    rois = torch.tensor([[0, 0, 0, 44, 40], [1, 4, 2, 48, 48],
                         [0, 8, 8, 40, 36]]).float()
    cases.append(
        record_roi_align(ext, 'large-rois', large, rois, 7, 1 / 4, 0, True))
    small = torch.randn(1, 8, 80, 120, generator=generator)
    corner = torch.rand(40, 2, generator=generator) * 400
    rois = torch.cat([torch.zeros(40, 1), corner, corner + 24], 1)
    cases.append(
        record_roi_align(ext, 'small-rois', small, rois, 7, 1 / 4, 0, True))
    generator = torch.Generator().manual_seed(5)
    x = torch.randn(2, 2, 5, 6, generator=generator, dtype=torch.float64)
    rois = torch.tensor([[0, 1.0, 2.0, 9.0, 7.5], [1, -3.0, 4.0, 8.0, 30.0],
                         [1, 2.2, 2.3, 2.6, 2.4]],
                        dtype=torch.float64)
    cases.append(
        record_roi_align(ext, 'float64-legacy', x, rois, 3, 0.5, 0, False))
    cases.append(
        record_roi_align(ext, 'float64-aligned', x, rois, 3, 0.5, 0, True))
    return cases


# --------------------------------------------------------------------- NMS


def boxes_from(centre: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    return torch.cat([centre - size / 2, centre + size / 2], 1)


def synthetic_nms_inputs() -> List[Tuple[str, torch.Tensor, torch.Tensor]]:
    """Random, clustered, tied and degenerate box sets."""
    g = torch.Generator().manual_seed(7)
    sets = []
    for n in (1, 2, 17, 150, 600):
        centre = torch.rand(n, 2, generator=g) * 300
        size = torch.rand(n, 2, generator=g) * 80 + 2
        sets.append((f'random-{n}', boxes_from(centre, size),
                     torch.rand(n, generator=g)))
    # Tied scores (few distinct values) and duplicate boxes.
    centre = torch.rand(200, 2, generator=g) * 200
    size = torch.rand(200, 2, generator=g) * 60 + 4
    tied = boxes_from(centre, size)
    tied[100:150] = tied[:50]
    sets.append(('ties', tied,
                 torch.randint(0, 6, (200, ), generator=g).float()))
    # Objects with many boxes around each, as a detector's output.
    objects = torch.rand(25, 4, generator=g) * torch.tensor([900, 700, 250,
                                                             250]) + 20
    which = torch.randint(0, 25, (1500, ), generator=g)
    jitter = torch.randn(1500, 4, generator=g) * 0.08
    centre = objects[which, :2] + jitter[:, :2] * objects[which, 2:]
    size = objects[which, 2:] * (1 + jitter[:, 2:])
    sets.append(('clusters', boxes_from(centre, size),
                 torch.rand(1500, generator=g)))
    # IoU exactly at common thresholds: [0, 0, 10, 10] vs [0, 0, 10, 20]
    # is 0.5; vs [0, 0, 10, 10 / 0.7] about 0.7; integer grids.
    grid = torch.arange(0, 40, 4.).repeat_interleave(2)
    exact = torch.stack([grid * 0, grid * 0, grid * 0 + 10, grid + 10], 1)
    exact = torch.cat([exact, torch.tensor([[0, 0, 10, 20.],
                                            [0, 0, 10, 10 / 0.7],
                                            [0, 0, 10, 10.]])])
    sets.append(('at-threshold', exact,
                 torch.linspace(1, 0, len(exact))))
    # Zero-area, inverted and non-finite boxes.
    odd = boxes_from(torch.rand(40, 2, generator=g) * 50,
                     torch.rand(40, 2, generator=g) * 20 + 1)
    odd[:5, 2] = odd[:5, 0]  # zero width
    odd[5:10] = odd[5:10][:, [2, 3, 0, 1]]  # inverted
    sets.append(('degenerate', odd, torch.rand(40, generator=g)))
    chain = torch.stack([torch.arange(300.) * 2,
                         torch.zeros(300),
                         torch.arange(300.) * 2 + 20,
                         torch.full((300, ), 20.)], 1)
    sets.append(('long-chain', chain, torch.linspace(1, 0, 300)))
    return sets


def detector_nms_inputs() -> List[Tuple[str, torch.Tensor, torch.Tensor]]:
    """The boxes mmdet passes to NMS in Mask R-CNN ConvNeXt-T (random
    weights, 800x1216, score_thr 0), as mmdet's batched_nms passes them."""
    from mmdet.structures import DetDataSample
    from mmdet.utils import register_all_modules
    from mmengine.config import Config
    from mmengine.registry import MODELS

    # mmcv.ops.nms is also the name of a function in mmcv.ops.
    mmcv_nms = importlib.import_module('mmcv.ops.nms')
    register_all_modules()
    cfg = Config.fromfile(str(REPO / 'configs' / 'mask_rcnn_convnext_t_3x_coco.py'))
    cfg.model.backbone.init_cfg = None
    cfg.model.test_cfg.rcnn.score_thr = 0.
    calls: List[Tuple[torch.Tensor, torch.Tensor, float]] = []
    real = mmcv_nms.ext_module

    class Recorder:
        """mmcv's extension, recording what NMS is given."""

        def __getattr__(self, name):
            return getattr(real, name)

        @staticmethod
        def nms(boxes, scores, iou_threshold, offset):
            calls.append((boxes.clone(), scores.clone(), iou_threshold))
            return real.nms(boxes, scores, iou_threshold=iou_threshold,
                            offset=offset)

    mmcv_nms.ext_module = Recorder()
    try:
        torch.manual_seed(0)
        model = MODELS.build(cfg.model).eval()
        image = torch.rand(3, 800, 1216) * 255
        sample = DetDataSample(metainfo=dict(img_shape=(800, 1216),
                                             ori_shape=(800, 1216),
                                             scale_factor=(1., 1.)))
        with torch.no_grad():
            data = model.data_preprocessor(
                dict(inputs=[image], data_samples=[sample]), False)
            model.predict(data['inputs'], data['data_samples'])
    finally:
        mmcv_nms.ext_module = real
    rpn = calls[0]
    per_class = sorted(calls[1:], key=lambda call: -len(call[0]))
    return [('mask-rcnn-t-rpn', rpn[0], rpn[1], rpn[2])] + [
        (f'mask-rcnn-t-class-{i}', *call) for i, call in
        enumerate(per_class[:3])
    ]


def nms_cases(ext) -> List[dict]:
    cases = []
    for name, boxes, scores in synthetic_nms_inputs():
        for threshold in (0., 0.3, 0.5, 0.7, 1.0):
            for offset in (0, 1):
                cases.append(record_nms(ext, f'{name}-{threshold}-{offset}',
                                        boxes, scores, threshold, offset))
    for name, boxes, scores, threshold in detector_nms_inputs():
        cases.append(record_nms(ext, name, boxes, scores, threshold, 0))
    return cases


def record_nms(ext, name: str, boxes: torch.Tensor, scores: torch.Tensor,
               threshold: float, offset: int) -> Dict:
    boxes, scores = boxes.float().contiguous(), scores.float().contiguous()
    keep = ext.nms(boxes, scores, iou_threshold=float(threshold),
                   offset=offset)
    return dict(name=name, boxes=boxes, scores=scores,
                iou_threshold=float(threshold), offset=offset, keep=keep)


def soft_nms_cases(ext) -> List[dict]:
    """mmcv's soft-NMS on the synthetic sets (up to 600 boxes), each method."""
    cases = []
    for name, boxes, scores in synthetic_nms_inputs():
        if len(boxes) > 600:
            continue
        for method, sigma, min_score in ((0, 0.5, 1e-3), (1, 0.5, 1e-3),
                                         (2, 0.5, 1e-3), (2, 0.1, 0.05)):
            for offset in (0, 1):
                boxes_f, scores_f = boxes.float(), scores.float()
                dets = boxes_f.new_empty(len(boxes_f), 5)
                inds = ext.softnms(boxes_f, scores_f, dets, iou_threshold=0.3,
                                   sigma=sigma, min_score=min_score,
                                   method=method, offset=offset)
                cases.append(dict(name=f'{name}-{method}-{sigma}-{offset}',
                                  boxes=boxes_f, scores=scores_f,
                                  iou_threshold=0.3, sigma=sigma,
                                  min_score=min_score, method=method,
                                  offset=offset,
                                  dets=dets[:len(inds)].clone(),
                                  inds=inds))
    return cases


def main() -> None:
    argparse.ArgumentParser(description=__doc__.split('\n\n')[0]).parse_args()
    ext = compiled_ext()
    torch.set_num_threads(1)
    references = dict(roi_align=roi_align_cases(ext), nms=nms_cases(ext),
                      soft_nms=soft_nms_cases(ext))
    torch.save(references, OUT)
    print(f'{OUT.name}: {len(references["roi_align"])} RoIAlign, '
          f'{len(references["nms"])} NMS and {len(references["soft_nms"])} '
          'soft-NMS cases')


if __name__ == '__main__':
    main()
