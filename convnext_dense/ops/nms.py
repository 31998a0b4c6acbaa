"""Greedy non-maximum suppression, exactly mmcv's, on any device; and
mmcv's soft-NMS (:func:`soft_nms`, on the CPU like mmcv's).

mmcv's compiled NMS (``mmcv._ext.nms``, under ``mmcv.ops.nms`` and mmdet's
``batched_nms``) sorts the boxes by score (``scores.sort(descending=True)``),
then walks them in that order: a box still standing suppresses every later
box whose IoU with it exceeds the threshold. On the CPU it is a scalar loop
over the pairs of standing boxes.

:func:`nms` keeps the same boxes in the same order. It sorts with the same
call, computes each IoU with the same float32 operations in the same order
(``inter / (area_i + area_j - inter)``, widths ``max(0, x2 - x1 + offset)``)
and compares it with the threshold as a C ``float``, so that ties and
near-threshold pairs fall the same way. What differs is the work:

* Only pairs that can exceed the threshold get an IoU. IoU > t needs the two
  boxes' x-overlap to exceed t times either box's width (the y-overlap is at
  most a box's height, and the union at least either box's area), so a sweep
  over the boxes sorted by x1 lists, for each box, the boxes starting within
  ``(1 - t)`` of its width (with a margin far above float rounding): for
  detector outputs a small fraction of all pairs. The pairs are first
  tested for overlap in y on the boxes' y extents in x order, so that only
  those that overlap are mapped back to box indices and tested in x.
* The greedy walk then needs only the pairs whose IoU is above the
  threshold, usually few: up to :data:`WALK_EDGES` of them are walked in
  Python in the order of their earlier box. More are settled as a fixed
  point, for all boxes at once: a box is kept unless a kept box earlier in
  the sorted order overlaps it. Iterating ``kept = ~hit(kept)`` from "all
  kept" settles, after t rounds, every box whose longest chain of
  overlapping predecessors is shorter than t, and ends on the greedy
  answer.
* Where that does not apply (a threshold below 0, boxes that are not finite
  or have no area, chains too long to settle in :data:`MAX_ROUNDS` rounds),
  the walk goes through the sorted order in blocks of :data:`BLOCK`: a block
  is resolved by the same fixed point, and its kept boxes suppress the later
  ones still standing, all at once.
"""
import math
from typing import Optional, Tuple

import numpy as np
import torch

#: Boxes of the sorted order resolved together on the blocked path.
BLOCK = 64
#: Most candidate pairs held at once by the sweep.
PAIR_CHUNK = 1 << 22
#: Rounds of the fixed point over the candidate pairs before the blocked
#: path takes over.
MAX_ROUNDS = 64
#: Up to this many overlapping pairs are walked in Python instead.
WALK_EDGES = 4096


def _iou_above(x1: torch.Tensor, y1: torch.Tensor, x2: torch.Tensor,
               y2: torch.Tensor, area: torch.Tensor, rows: torch.Tensor,
               cols: torch.Tensor, offset: int,
               threshold: torch.Tensor) -> torch.Tensor:
    """(len(rows), len(cols)): IoU(row box, column box) > threshold, with
    mmcv's float operations."""
    xx1 = torch.maximum(x1[rows, None], x1[cols])
    yy1 = torch.maximum(y1[rows, None], y1[cols])
    xx2 = torch.minimum(x2[rows, None], x2[cols])
    yy2 = torch.minimum(y2[rows, None], y2[cols])
    w = xx2.sub_(xx1)
    h = yy2.sub_(yy1)
    if offset:
        w.add_(offset)
        h.add_(offset)
    inter = w.clamp_(min=0).mul_(h.clamp_(min=0))
    union = (area[rows, None] + area[cols]).sub_(inter)
    return inter.div_(union) > threshold


def _resolve(overlaps: torch.Tensor, standing: torch.Tensor) -> torch.Tensor:
    """Greedy answer within a block: box j is kept if it stands and no kept
    box i < j of the block overlaps it. ``overlaps``: (b, b) bool, used
    above its diagonal only."""
    later = torch.triu(overlaps, diagonal=1).to(torch.float32)
    kept = standing
    while True:
        hit = (kept.to(torch.float32) @ later) > 0
        now = standing & ~hit
        if torch.equal(now, kept):
            return kept
        kept = now


def _candidate_pairs(x1: torch.Tensor, width: torch.Tensor, y1: torch.Tensor,
                     y2: torch.Tensor, offset: int, threshold: float):
    """Yields chunks of ``(a, b, h)``: index pairs (into the given order) that
    include every pair whose IoU can exceed ``threshold`` (0 <= t < 1), for
    boxes of positive and finite ``width`` (``x2 - x1 + offset``) and
    height, with each pair's y-overlap ``h`` (mmcv's, before its clamp)."""
    n = x1.numel()
    # x1[b] >= x1[a] and overlap > t * width[a] need x1[b] < limit[a]. The
    # margin, 1e-5 of the width and of |x1| + 1, covers float32 rounding
    # (relative 6e-8) over a hundred times; a wider one only lists more
    # pairs (mmdet's per-class offsets put x1 near 1e5).
    limit = (x1 + (1. - threshold + 1e-5) * width).add_(x1.abs().add_(1.),
                                                          alpha=1e-5)
    starts, by_x = torch.sort(x1)
    stop = torch.searchsorted(starts, limit.index_select(0, by_x))
    index = torch.arange(n, device=x1.device)
    count = stop.sub_(index).sub_(1).clamp_(min=0)
    ends = torch.cumsum(count, 0)
    # The pairs read the y extents in x order: no gather of box indices
    # until a pair overlaps in y.
    y1x, y2x = y1.index_select(0, by_x), y2.index_select(0, by_x)
    begin = 0
    while begin < n:
        # Rows [begin, end) hold at most PAIR_CHUNK pairs (at least one row).
        base = int(ends[begin - 1]) if begin else 0
        end = (n if int(ends[-1]) - base <= PAIR_CHUNK else max(
            begin + 1,
            int(torch.searchsorted(ends, base + PAIR_CHUNK, right=True))))
        per_row = count[begin:end]
        total = int(ends[end - 1]) - base
        if total:
            row, second, h = _y_overlaps(y1x, y2x, begin, per_row,
                                         ends[begin:end] - base, total,
                                         offset)
            overlap = (h > 0).nonzero().flatten()
            yield (by_x.index_select(0, row.index_select(0, overlap)),
                   by_x.index_select(0, second.index_select(0, overlap)),
                   h.index_select(0, overlap))
        begin = end


def _y_overlaps(y1x: torch.Tensor, y2x: torch.Tensor, begin: int,
                per_row: torch.Tensor, row_ends: torch.Tensor, total: int,
                offset: int
                ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The pairs of rows ``begin, begin + 1, ...`` (``per_row`` pairs each,
    ending at ``row_ends``): their first and second boxes in x order, and
    their y-overlaps with mmcv's float operations. Row r's pairs are the
    boxes r + 1, r + 2, ... of the x order: pair p of the chunk, the k-th of
    its row, is box r + 1 + k = p + (r + 1 - first pair of r)."""
    local = torch.repeat_interleave(per_row, output_size=total)
    rows = torch.arange(begin + 1, begin + 1 + per_row.numel(),
                        device=y1x.device)
    shift = rows.sub_(row_ends).add_(per_row)
    second = torch.arange(total, device=y1x.device).add_(
        shift.index_select(0, local))
    row = local.add_(begin)
    h = torch.minimum(y2x.index_select(0, row), y2x.index_select(0, second))
    h.sub_(torch.maximum(y1x.index_select(0, row),
                         y1x.index_select(0, second)))
    if offset:
        h.add_(offset)
    return row, second, h


def _sparse_keep(x1: torch.Tensor, y1: torch.Tensor, x2: torch.Tensor,
                 y2: torch.Tensor, width: torch.Tensor, area: torch.Tensor,
                 offset: int,
                 threshold: torch.Tensor) -> Optional[torch.Tensor]:
    """The kept mask over the sorted boxes from candidate pairs only; None
    when the fixed point does not settle in :data:`MAX_ROUNDS` rounds."""
    n = x1.numel()
    xs = torch.stack([x1, x2, area])
    sources, targets = [], []
    for a, b, h in _candidate_pairs(x1, width, y1, y2, offset,
                                    float(threshold)):
        hit = _iou_pairs(xs, a, b, h, offset, threshold)
        a, b = a.index_select(0, hit), b.index_select(0, hit)
        sources.append(torch.minimum(a, b))  # earlier in the sorted order
        targets.append(torch.maximum(a, b))
    if not sources:  # no two boxes close enough to overlap
        return torch.ones(n, dtype=torch.bool, device=x1.device)
    src, dst = torch.cat(sources), torch.cat(targets)
    if src.numel() <= WALK_EDGES:
        return _walk(n, src, dst).to(x1.device)
    # kept[j] = 1 unless a kept source suppresses j; as float counts.
    kept = torch.ones(n, dtype=torch.float32, device=x1.device)
    for _ in range(MAX_ROUNDS):
        hits = torch.zeros_like(kept).index_add_(0, dst,
                                                 kept.index_select(0, src))
        now = (hits == 0).to(torch.float32)
        if torch.equal(now, kept):
            return kept.bool()
        kept = now
    return None


def _walk(n: int, src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """The greedy walk over few overlapping pairs, in Python: taken in the
    order of their earlier box, a pair's earlier box is settled when its
    pair comes up (every pair that can suppress it comes before)."""
    kept = bytearray(b'\x01') * n
    for i, j in sorted(zip(src.tolist(), dst.tolist())):
        if kept[i]:
            kept[j] = 0
    return torch.frombuffer(kept, dtype=torch.uint8).bool()


def _iou_pairs(xs: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
               h: torch.Tensor, offset: int,
               threshold: torch.Tensor) -> torch.Tensor:
    """The pairs ``(a[k], b[k])``, which overlap by ``h[k] > 0`` in y, whose
    IoU is above ``threshold`` (>= 0), computed with mmcv's float
    operations; ``xs`` holds rows x1, x2, area. Returns their positions in
    ``a``."""
    x1a, x2a, area_a = xs.index_select(1, a)
    x1b, x2b, area_b = xs.index_select(1, b)
    w = torch.minimum(x2a, x2b).sub_(torch.maximum(x1a, x1b))
    if offset:
        w.add_(offset)
    inter = w.clamp_(min=0).mul_(h)
    union = area_a.add_(area_b).sub_(inter)
    return (inter.div_(union) > threshold).nonzero().flatten()


def _blocked_keep(x1: torch.Tensor, y1: torch.Tensor, x2: torch.Tensor,
                  y2: torch.Tensor, area: torch.Tensor, offset: int,
                  threshold: torch.Tensor) -> torch.Tensor:
    """The kept mask over the sorted boxes, walking them in blocks."""
    n = x1.numel()
    standing = torch.ones(n, dtype=torch.bool, device=x1.device)
    index = torch.arange(n, device=x1.device)
    for start in range(0, n, BLOCK):
        stop = min(start + BLOCK, n)
        block = index[start:stop]
        overlaps = _iou_above(x1, y1, x2, y2, area, block, block, offset,
                              threshold)
        kept = _resolve(overlaps, standing[start:stop])
        standing[start:stop] = kept
        rows = block[kept]
        if stop == n or rows.numel() == 0:
            continue
        cols = stop + standing[stop:].nonzero().flatten()
        if cols.numel():
            hit = _iou_above(x1, y1, x2, y2, area, rows, cols, offset,
                             threshold).any(0)
            standing[cols[hit]] = False
    return standing


def nms(boxes: torch.Tensor,
        scores: torch.Tensor,
        iou_threshold: float,
        offset: int = 0) -> torch.Tensor:
    """mmcv's ``nms`` kernel: indices of the kept boxes, highest score first.

    Args:
        boxes: (N, 4) float32 ``(x1, y1, x2, y2)``.
        scores: (N,) scores.
        iou_threshold: A box is suppressed by a kept box when their IoU is
            above this (compared in float32, as mmcv's C ``float``).
        offset: 0, or 1 for the legacy ``+1`` in widths and heights.

    Returns:
        (K,) int64 indices into ``boxes``, in descending score order (ties in
        the order of ``scores.sort(0, descending=True)``).
    """
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    order = scores.sort(0, descending=True)[1]
    x1, y1, x2, y2 = boxes.index_select(0, order).t().contiguous()
    # mmcv computes the areas in the boxes' original order: same values.
    width, height = x2 - x1 + offset, y2 - y1 + offset
    area = width * height
    threshold = torch.tensor(iou_threshold,
                             dtype=torch.float32,
                             device=boxes.device)
    kept = None
    # The sweep needs finite boxes of positive width and height: a NaN fails
    # the comparison; an infinite coordinate (or areas too large to add up)
    # makes the sum of the areas infinite.
    if (0. <= float(threshold) < 1.
            and float(torch.minimum(width, height).min()) > 0
            and math.isfinite(float(area.sum()))):
        kept = _sparse_keep(x1, y1, x2, y2, width, area, offset, threshold)
    if kept is None:
        kept = _blocked_keep(x1, y1, x2, y2, area, offset, threshold)
    return order.masked_select(kept)


#: mmcv's soft-NMS methods, by the number its kernel takes.
SOFT_METHODS = {0: 'naive', 1: 'linear', 2: 'gaussian'}


def _compact(removed: np.ndarray) -> np.ndarray:
    """Where each position's element ends up after mmcv's in-place removal.

    mmcv walks the positions left to right and replaces each removed element
    with the last one still there (which it then checks in turn), so the
    holes among the first ``kept`` positions are filled, left to right, by
    the kept elements past them, right to left. Returns the positions, in
    the new order, of the elements kept.
    """
    order = np.arange(len(removed))
    kept = len(removed) - int(removed.sum())
    holes = np.flatnonzero(removed[:kept])
    fillers = np.flatnonzero(~removed[kept:])[::-1] + kept
    order[holes] = fillers
    return order[:kept]


def soft_nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float,
             sigma: float, min_score: float, method: int,
             offset: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """mmcv's ``softnms`` kernel (CPU): the kept boxes with their decayed
    scores, and their indices, in the order mmcv's kernel produces them.

    Each step takes the highest remaining score (the first on ties), swaps
    it to the front and decays every later score by its IoU with it
    (``naive``: to 0 when IoU >= t; ``linear``: times ``1 - IoU`` when
    IoU >= t; ``gaussian``: times ``exp(-IoU^2 / sigma)``), removing the
    boxes that fall below ``min_score`` as mmcv does, in float32. Equal to
    mmcv bit for bit with the naive and linear methods; the gaussian's
    ``exp`` may differ from the C library's in the last bit.

    Args:
        boxes: (N, 4) ``(x1, y1, x2, y2)``.
        scores: (N,) scores.
        iou_threshold, sigma, min_score: As mmcv's ``soft_nms``.
        method: 0 naive, 1 linear, 2 gaussian (:data:`SOFT_METHODS`).
        offset: 0, or 1 for the legacy ``+1`` in widths and heights.

    Returns:
        ``(dets, inds)``: (K, 5) boxes with their new scores, (K,) int64
        indices into ``boxes``.
    """
    if method not in SOFT_METHODS:
        raise ValueError(f'soft_nms: method {method} is not one of '
                         f'{sorted(SOFT_METHODS)}')
    data = torch.cat([boxes.detach().float().cpu(),
                      scores.detach().float().cpu()[:, None]], 1).numpy()
    x1, y1, x2, y2, score = (np.ascontiguousarray(col) for col in data.T)
    area = (x2 - x1 + np.float32(offset)) * (y2 - y1 + np.float32(offset))
    index = np.arange(len(score), dtype=np.int64)
    columns = [x1, y1, x2, y2, score, area, index]
    threshold, sigma, floor = (np.float32(v)
                               for v in (iou_threshold, sigma, min_score))
    off = np.float32(offset)
    with np.errstate(invalid='ignore', divide='ignore'):  # as C floats
        _soft_steps(columns, threshold, sigma, floor, off, method)
    x1, y1, x2, y2, score, _, index = columns
    dets = torch.from_numpy(np.stack([x1, y1, x2, y2, score], 1))
    return dets.to(boxes.device), torch.from_numpy(index).to(boxes.device)


def _soft_steps(columns: list, threshold: np.float32, sigma: np.float32,
                floor: np.float32, off: np.float32, method: int) -> None:
    """mmcv's soft-NMS loop on ``columns`` (x1, y1, x2, y2, score, area,
    index), rearranged in place as mmcv rearranges them."""
    i = 0
    while i < len(columns[4]):
        # mmcv keeps the first maximum and never moves to a NaN score
        # (comparisons with NaN are false), unless it starts on one.
        remaining = columns[4][i:]
        best = i if np.isnan(remaining[0]) else i + int(
            np.nanargmax(remaining))
        for column in columns:
            column[i], column[best] = column[best], column[i]
        bx1, by1, bx2, by2, _, barea, _ = (column[i] for column in columns)
        x1, y1, x2, y2, score, area, index = (column[i + 1:]
                                              for column in columns)
        w = np.fmax(np.float32(0), np.minimum(bx2, x2) -
                       np.maximum(bx1, x1) + off)
        h = np.fmax(np.float32(0), np.minimum(by2, y2) -
                       np.maximum(by1, y1) + off)
        inter = w * h
        ovr = inter / (barea + area - inter)
        if method == 0:
            weight = np.where(ovr >= threshold, np.float32(0), np.float32(1))
        elif method == 1:
            weight = np.where(ovr >= threshold, np.float32(1) - ovr,
                              np.float32(1))
        else:
            weight = np.exp(-(ovr * ovr) / sigma)
        score *= weight.astype(np.float32)
        order = _compact(score < floor)
        columns[:] = [
            np.concatenate([column[:i + 1], column[i + 1:][order]])
            for column in columns
        ]
        i += 1
