"""A whole two-stage detector (Mask R-CNN, Cascade Mask R-CNN) as one traced
graph of standard ONNX ops.

:class:`DetectorGraph` computes mmdet's own inference on one image, with the
model's weights and ``test_cfg``, step by step as mmdet 3.3 does it:

- the data preprocessor (channel flip, mean/std) and its padding to the size
  divisor, in the graph: the input is the resized, unpadded image;
- backbone + neck (``extract_feat``);
- RPN: per level, sigmoid scores, the ``nms_pre`` best (``TopK``), anchors
  decoded (``DeltaXYWHBBoxCoder``, clipped to the image), boxes with no area
  dropped, NMS per level (mmdet's coordinate offsets per level id, ONNX
  ``NonMaxSuppression``), the ``max_per_img`` best kept;
- RoI heads: each RoI to its FPN level (``SingleRoIExtractor``'s rule),
  ONNX ``RoiAlign`` (``half_pixel`` = mmcv's ``aligned=True``), box head,
  softmax, class-wise decoding, score threshold, class-wise NMS (offsets per
  label), ``max_per_img``; a cascade refines the RoIs stage by stage and
  averages the stages' class scores, as ``CascadeRoIHead`` does;
- mask head(s) on the kept boxes: the sigmoid of the detected class's
  channel (a cascade: the mean over stages).

Outputs: ``boxes`` (K x 4, x1 y1 x2 y2 in the input's pixels), ``scores``
(K), ``labels`` (K, int64), ``masks`` (K x M x M probabilities) and the RPN's
``proposals`` (P x 4) and ``proposal_scores`` (P). Scaling the boxes back to
the original image and pasting the masks at its size are the runtime's
(:mod:`convnext_dense.deploy.runtime`).

In PyTorch (``forward`` outside an export) RoIAlign and NMS are mmcv's, so
that the graph can be compared with mmdet's inference step by step; in the
export they become the ONNX ops named above (:class:`OnnxRoIAlign`,
:class:`OnnxNMS`).
"""
import contextlib
from typing import Iterator, List, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.ops import nms as mmcv_nms
from mmcv.ops import roi_align as mmcv_roi_align

from convnext_dense.errors import UserError

#: Graph outputs, in order.
OUTPUT_NAMES = ('boxes', 'scores', 'labels', 'masks', 'proposals',
                'proposal_scores')
#: The detector types and RoI heads the graph reproduces.
SUPPORTED_DETECTORS = ('MaskRCNN', 'CascadeRCNN')
SUPPORTED_ROI_HEADS = ('StandardRoIHead', 'CascadeRoIHead')
#: mmdet's ``batched_nms`` offsets boxes by class below this many boxes and
#: loops over the classes above it.
NMS_SPLIT_THR = 10000
#: ``DeltaXYWHBBoxCoder.decode``'s default, which mmdet's heads keep.
WH_RATIO_CLIP = 16 / 1000
#: NonMaxSuppression's bound on kept boxes when the config sets none.
UNBOUNDED = 2**31 - 1


@contextlib.contextmanager
def _untraced() -> Iterator[None]:
    """Runs mmcv's kernels without recording them: the trace keeps the
    enclosing function, which the export writes as its ONNX op (the kernels'
    own autograd functions have no ONNX form)."""
    state = torch._C._get_tracing_state()
    torch._C._set_tracing_state(None)
    try:
        yield
    finally:
        torch._C._set_tracing_state(state)


def _int64(g, values: Sequence[int]):
    return g.op('Constant', value_t=torch.tensor(values, dtype=torch.int64))


class OnnxRoIAlign(torch.autograd.Function):
    """mmcv's ``roi_align`` (``aligned=True``, average) in PyTorch; ONNX
    ``RoiAlign`` with ``coordinate_transformation_mode='half_pixel'`` in an
    export (opset 16 or later)."""

    @staticmethod
    def forward(ctx, features: torch.Tensor, boxes: torch.Tensor,
                batch_indices: torch.Tensor, output_size: int,
                spatial_scale: float, sampling_ratio: int) -> torch.Tensor:
        if boxes.shape[0] == 0:  # mmdet skips a level without RoIs
            return features.new_zeros(0, features.shape[1], output_size,
                                      output_size)
        rois = torch.cat([batch_indices[:, None].to(boxes), boxes], dim=1)
        with _untraced():
            return mmcv_roi_align(features, rois, (output_size, output_size),
                                  spatial_scale, sampling_ratio, 'avg', True)

    @staticmethod
    def symbolic(g, features, boxes, batch_indices, output_size: int,
                 spatial_scale: float, sampling_ratio: int):
        return g.op('RoiAlign', features, boxes, batch_indices,
                    coordinate_transformation_mode_s='half_pixel',
                    mode_s='avg', output_height_i=output_size,
                    output_width_i=output_size,
                    sampling_ratio_i=sampling_ratio,
                    spatial_scale_f=spatial_scale)


class OnnxNMS(torch.autograd.Function):
    """Indices of the boxes greedy NMS keeps, best score first, at most
    ``max_kept``: mmcv's ``nms`` in PyTorch, ONNX ``NonMaxSuppression`` (one
    class) in an export. Both suppress a box whose IoU with a kept one
    exceeds ``iou_threshold``."""

    @staticmethod
    def forward(ctx, boxes: torch.Tensor, scores: torch.Tensor,
                iou_threshold: float, max_kept: int) -> torch.Tensor:
        with _untraced():
            _, keep = mmcv_nms(boxes, scores, iou_threshold)
        return keep[:max_kept]

    @staticmethod
    def symbolic(g, boxes, scores, iou_threshold: float, max_kept: int):
        batch_boxes = g.op('Unsqueeze', boxes, _int64(g, [0]))
        class_scores = g.op('Unsqueeze', scores, _int64(g, [0, 1]))
        selected = g.op(
            'NonMaxSuppression', batch_boxes, class_scores,
            _int64(g, [max_kept]),
            g.op('Constant', value_t=torch.tensor([iou_threshold],
                                                  dtype=torch.float32)))
        kept = g.op('Gather', selected, _int64(g, [2]), axis_i=1)
        return g.op('Squeeze', kept, _int64(g, [1]))


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor,
                groups: torch.Tensor, iou_threshold: float,
                max_kept: int) -> torch.Tensor:
    """mmdet's ``batched_nms``: NMS within each group (class or level),
    through one NMS on boxes offset by ``group * (largest coordinate + 1)``.

    Returns:
        The indices kept, best score first.
    """
    # boxes.max(), also defined when no box is left (mmdet returns early
    # then); the same for clipped boxes, whose coordinates are >= 0.
    largest = torch.cat([boxes.reshape(-1), boxes.new_zeros(1)]).max()
    offsets = groups.to(boxes) * (largest + torch.tensor(1).to(boxes))
    return OnnxNMS.apply(boxes + offsets[:, None], scores, iou_threshold,
                         max_kept)


def decode_deltas(coder: nn.Module, priors: torch.Tensor,
                  deltas: torch.Tensor,
                  image_hw: Tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """mmdet's ``delta2bbox`` for one box per prior (N x 4 each), clipped to
    the image (H, W), with ``coder``'s means, stds and ratio clip."""
    means = deltas.new_tensor(coder.means).view(1, -1)
    stds = deltas.new_tensor(coder.stds).view(1, -1)
    denorm = deltas * stds + means
    dxy, dwh = denorm[:, :2], denorm[:, 2:]
    pxy = (priors[:, :2] + priors[:, 2:]) * 0.5
    pwh = priors[:, 2:] - priors[:, :2]
    dxy_wh = pwh * dxy
    max_ratio = float(np.abs(np.log(WH_RATIO_CLIP)))
    if coder.add_ctr_clamp:
        dxy_wh = torch.clamp(dxy_wh, max=coder.ctr_clamp,
                             min=-coder.ctr_clamp)
        dwh = torch.clamp(dwh, max=max_ratio)
    else:
        dwh = dwh.clamp(min=-max_ratio, max=max_ratio)
    gxy = pxy + dxy_wh
    gwh = pwh * dwh.exp()
    boxes = torch.cat([gxy - gwh * 0.5, gxy + gwh * 0.5], dim=-1)
    if not coder.clip_border:
        return boxes
    height, width = image_hw
    upper = torch.stack([width, height, width, height]).to(boxes)
    return torch.minimum(boxes.clamp(min=0), upper)


def grid_anchors(base_anchors: torch.Tensor, stride: Tuple[int, int],
                 feature: torch.Tensor) -> torch.Tensor:
    """The anchors of one level (H*W*A x 4, A anchors per cell, row-major
    cells), as mmdet's ``AnchorGenerator.single_level_grid_priors`` lays
    them out, for any feature size."""
    height, width = feature.shape[-2:]
    shift_x = torch.arange(0, width).to(base_anchors) * stride[0]
    shift_y = torch.arange(0, height).to(base_anchors) * stride[1]
    xx = shift_x[None, :].expand(height, width).reshape(-1)
    yy = shift_y[:, None].expand(height, width).reshape(-1)
    shifts = torch.stack([xx, yy, xx, yy], dim=-1)
    return (base_anchors[None, :, :] + shifts[:, None, :]).view(-1, 4)


def top_k(scores: torch.Tensor, k: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """The ``min(k, len(scores))`` best scores and their indices, best
    first (``k <= 0``: all of them, sorted)."""
    count = scores.shape[0]
    if k > 0 and torch.jit.is_tracing():
        # A tensor, so that the export computes the bound for any size.
        count = torch.clamp(torch.tensor(count), max=k)
    elif k > 0:
        count = min(count, k)
    return scores.topk(count)


def extract_rois(extractor: nn.Module, features: Sequence[torch.Tensor],
                 rois: torch.Tensor) -> torch.Tensor:
    """``SingleRoIExtractor``: each RoI (N x 5, batch index first) pooled
    from its level, by the extractor's rule (``finest_scale``)."""
    features = features[:extractor.num_inputs]
    layer = extractor.roi_layers[0]
    size = layer.output_size[0]
    boxes = rois[:, 1:]
    batch = rois[:, 0].long()
    if len(features) == 1:
        return OnnxRoIAlign.apply(features[0], boxes, batch, size,
                                  float(layer.spatial_scale),
                                  int(layer.sampling_ratio))
    levels = extractor.map_roi_levels(rois, len(features))
    pooled = features[0].new_zeros(rois.shape[0], extractor.out_channels,
                                   size, size)
    for level, (feature, roi_layer) in enumerate(
            zip(features, extractor.roi_layers)):
        inds = (levels == level).nonzero().squeeze(1)
        pooled = pooled.index_put(
            (inds, ),
            OnnxRoIAlign.apply(feature, boxes[inds], batch[inds], size,
                               float(roi_layer.spatial_scale),
                               int(roi_layer.sampling_ratio)))
    return pooled


def _check_supported(detector: nn.Module) -> None:
    """Raises a UserError naming what the graph does not reproduce."""
    from mmdet.models.detectors import CascadeRCNN, MaskRCNN
    from mmdet.models.roi_heads import CascadeRoIHead, StandardRoIHead
    from mmdet.models.task_modules import AnchorGenerator, DeltaXYWHBBoxCoder
    kind = type(detector).__name__
    if type(detector) not in (MaskRCNN, CascadeRCNN):
        raise UserError(f'model.type {kind}: the whole-detector export '
                        f'supports {" and ".join(SUPPORTED_DETECTORS)}; '
                        f'export its backbone + neck with --output features')
    roi_head = detector.roi_head
    if type(roi_head) not in (StandardRoIHead, CascadeRoIHead):
        raise UserError(f'model.roi_head.type {type(roi_head).__name__}: the '
                        f'whole-detector export supports '
                        f'{", ".join(SUPPORTED_ROI_HEADS)}')
    if not roi_head.with_mask:
        raise UserError('model.roi_head has no mask head: the whole-detector '
                        'export supports Mask R-CNN and Cascade Mask R-CNN')
    heads = _stage_heads(roi_head)
    coders = [detector.rpn_head.bbox_coder] + [h.bbox_coder for h in heads]
    if type(detector.rpn_head.prior_generator) is not AnchorGenerator or any(
            type(c) is not DeltaXYWHBBoxCoder for c in coders):
        raise UserError('the whole-detector export supports AnchorGenerator '
                        'anchors and DeltaXYWHBBoxCoder box coders')
    if any(h.custom_cls_channels for h in heads):
        raise UserError('the whole-detector export supports softmax box '
                        'classifiers only (no custom loss_cls activation)')


def _stage_heads(roi_head: nn.Module) -> List[nn.Module]:
    heads = roi_head.bbox_head
    return list(heads) if isinstance(heads, nn.ModuleList) else [heads]


def _as_list(modules) -> List[nn.Module]:
    return list(modules) if isinstance(modules, nn.ModuleList) else [
        modules]


class DetectorGraph(nn.Module):
    """One resized BGR 0-255 image (1 x 3 x H x W, unpadded) to mmdet's
    detections, through the detector's own modules and ``test_cfg``.

    Args:
        detector: An mmdet ``MaskRCNN`` or ``CascadeRCNN`` with masks, in
            eval mode.
        preprocess: The data preprocessor's channel flip and mean/std
            (:class:`convnext_dense.deploy.onnx_export.Preprocess`).
        size_divisor: What the data preprocessor pads to a multiple of.

    Raises:
        UserError: for a detector the graph does not reproduce.
    """

    def __init__(self, detector: nn.Module, preprocess: nn.Module,
                 size_divisor: int) -> None:
        super().__init__()
        _check_supported(detector)
        self.detector = detector
        self.preprocess = preprocess
        self.size_divisor = size_divisor
        roi_head = detector.roi_head
        self.cascade = isinstance(roi_head.bbox_head, nn.ModuleList)
        self.bbox_heads = _stage_heads(roi_head)
        self.bbox_extractors = _as_list(roi_head.bbox_roi_extractor)
        self.mask_heads = _as_list(roi_head.mask_head)
        self.mask_extractors = _as_list(roi_head.mask_roi_extractor)
        self.rpn_cfg = detector.test_cfg.rpn
        self.rcnn_cfg = detector.test_cfg.rcnn

    def pad(self, image: torch.Tensor) -> torch.Tensor:
        """Zero padding at the bottom and right to the size divisor, after
        normalisation, as mmdet's data preprocessor pads."""
        height, width = image.shape[-2:]
        divisor = self.size_divisor
        return F.pad(image, [0, (divisor - width % divisor) % divisor, 0,
                             (divisor - height % divisor) % divisor])

    def proposals(self, features: Sequence[torch.Tensor],
                  image_hw) -> Tuple[torch.Tensor, torch.Tensor]:
        """The RPN's proposals (P x 4) and scores: ``RPNHead.predict``."""
        rpn_head, cfg = self.detector.rpn_head, self.rpn_cfg
        cls_scores, bbox_preds = rpn_head(features)
        generator = rpn_head.prior_generator
        boxes, scores, levels = [], [], []
        for level, (cls_score, bbox_pred) in enumerate(
                zip(cls_scores, bbox_preds)):
            score = cls_score[0].permute(1, 2, 0).reshape(
                -1, rpn_head.cls_out_channels)
            score = (score.sigmoid() if rpn_head.use_sigmoid_cls else
                     score.softmax(-1)[:, :-1]).reshape(-1)
            delta = bbox_pred[0].permute(1, 2, 0).reshape(-1, 4)
            anchors = grid_anchors(
                generator.base_anchors[level].to(delta),
                generator.strides[level], cls_score)
            score, keep = top_k(score, cfg.get('nms_pre', -1))
            boxes.append(decode_deltas(rpn_head.bbox_coder, anchors[keep],
                                       delta[keep], image_hw))
            scores.append(score)
            levels.append(torch.full_like(keep, level))
        boxes, scores, levels = (torch.cat(boxes), torch.cat(scores),
                                 torch.cat(levels))
        if cfg.get('min_bbox_size', -1) >= 0:
            size = cfg.min_bbox_size
            valid = (((boxes[:, 2] - boxes[:, 0]) > size)
                     & ((boxes[:, 3] - boxes[:, 1]) > size)).nonzero()[:, 0]
            boxes, scores, levels = boxes[valid], scores[valid], levels[valid]
        keep = batched_nms(boxes, scores, levels, cfg.nms.iou_threshold,
                           cfg.max_per_img)
        return boxes[keep], scores[keep]

    def _box_head(self, stage: int, features, rois: torch.Tensor):
        feats = extract_rois(self.bbox_extractors[stage], features, rois)
        return self.bbox_heads[stage](feats)

    def _refine(self, stage: int, rois: torch.Tensor, cls_score, bbox_pred,
                image_hw) -> torch.Tensor:
        """``BBoxHead.regress_by_class``: each RoI moved by the deltas of
        its best non-background class."""
        head = self.bbox_heads[stage]
        if not head.reg_class_agnostic:
            label = cls_score[:, :-1].argmax(dim=1) * 4
            inds = torch.stack([label + i for i in range(4)], 1)
            bbox_pred = torch.gather(bbox_pred, 1, inds)
        boxes = decode_deltas(head.bbox_coder, rois[:, 1:], bbox_pred,
                              image_hw)
        return torch.cat([rois[:, :1], boxes], dim=1)

    def detect(self, features, proposals: torch.Tensor, image_hw):
        """Boxes, scores and labels: the RoI head's ``predict_bbox``."""
        rois = torch.cat([proposals.new_zeros(proposals.shape[0], 1),
                          proposals], dim=1)
        stage_scores = []
        for stage in range(len(self.bbox_heads)):
            cls_score, bbox_pred = self._box_head(stage, features, rois)
            stage_scores.append(cls_score)
            if stage < len(self.bbox_heads) - 1:
                rois = self._refine(stage, rois, cls_score, bbox_pred,
                                    image_hw)
        cls_score = (sum(stage_scores) / float(len(stage_scores))
                     if self.cascade else stage_scores[0])
        head = self.bbox_heads[-1]
        scores = F.softmax(cls_score, dim=-1)
        num_classes = scores.shape[1] - 1
        class_rois = rois[:, 1:] if head.reg_class_agnostic else (
            rois[:, 1:].repeat_interleave(num_classes, dim=0))
        boxes = decode_deltas(head.bbox_coder, class_rois,
                              bbox_pred.reshape(-1, 4), image_hw)
        return self._multiclass_nms(boxes.reshape(rois.shape[0], -1, 4),
                                    scores[:, :-1])

    def _multiclass_nms(self, boxes: torch.Tensor, scores: torch.Tensor):
        """mmdet's ``multiclass_nms``: (N x C x 4 or N x 1 x 4) boxes,
        N x C scores."""
        cfg = self.rcnn_cfg
        labels = torch.arange(scores.shape[1]).view(1, -1).expand_as(scores)
        boxes = boxes.expand(scores.shape[0], scores.shape[1], 4)
        boxes, scores, labels = (boxes.reshape(-1, 4), scores.reshape(-1),
                                 labels.reshape(-1))
        valid = (scores > cfg.score_thr).nonzero()[:, 0]
        boxes, scores, labels = boxes[valid], scores[valid], labels[valid]
        max_kept = cfg.max_per_img if cfg.max_per_img > 0 else UNBOUNDED
        keep = batched_nms(boxes, scores, labels, cfg.nms.iou_threshold,
                           max_kept)
        return boxes[keep], scores[keep], labels[keep]

    def masks(self, features, boxes: torch.Tensor,
              labels: torch.Tensor) -> torch.Tensor:
        """K x M x M probabilities of each detection's class: the mask
        head(s) (a cascade: the mean of the stages' sigmoids)."""
        rois = torch.cat([boxes.new_zeros(boxes.shape[0], 1), boxes], dim=1)
        probabilities = []
        for head, extractor in zip(self.mask_heads, self.mask_extractors):
            logits = head(extract_rois(extractor, features, rois))
            probabilities.append(logits.sigmoid())
        mean = (torch.stack(probabilities).mean(dim=0)
                if self.cascade else probabilities[0])
        if mean.shape[1] == 1:  # class-agnostic mask head
            return mean[:, 0]
        return mean[torch.arange(mean.shape[0]), labels]

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        height, width = image.shape[-2:]
        image_hw = (torch.tensor(height, dtype=torch.float32),
                    torch.tensor(width, dtype=torch.float32))
        features = self.detector.extract_feat(self.pad(self.preprocess(
            image)))
        proposals, proposal_scores = self.proposals(features, image_hw)
        boxes, scores, labels = self.detect(features, proposals, image_hw)
        masks = self.masks(features, boxes, labels)
        return boxes, scores, labels, masks, proposals, proposal_scores

