"""RoIAlign ('avg' mode) as separable matrix products, on any device.

mmcv 2.1.0's CPU RoIAlign is a scalar loop over RoIs, channels, bins and
sampling points, and its backward pass is slower still: for every channel of
every bin it computes again each sampling point's bilinear weights and adds
them into the input gradient one at a time (in a toy Mask R-CNN training step
on a CPU, RoIAlign took about a quarter of the step).

In 'avg' mode RoIAlign is separable. A bin averages bilinear samples on a
product grid, a bilinear weight is the product of two linear ones, and mmcv
tests and clamps each axis on its own, so::

    out[k, c, p, q] = sum_y sum_x Ay[k, p, y] * F[b_k, c, y, x] * Ax[k, q, x]

where ``Ay`` (RoIs x pooled height x H) and ``Ax`` (RoIs x pooled width x W)
hold, per RoI and bin, the average over the bin's sampling points of the 1-D
interpolation weights on that axis. :func:`roi_align_separable` builds them
as mmcv's kernel places, tests, clamps and weighs its samples (the same float
operations in the same order, the adaptive grid per RoI and axis, mmcv's
``aligned`` offset and legacy minimum size) and contracts the map with two
matrix products: on the window of its map that all of an image's RoIs touch
when RoIs are large against the map (the toy detectors), or on crops of each
RoI's own window when they are small (a COCO-sized stride-4 level), in chunks
that bound the memory. The backward pass is the transpose of the same
products, accumulated into one gradient buffer; the RoIs get no gradient, as
in mmcv. Only the order of the sums differs from mmcv, so the results equal
mmcv's to float rounding (the tests hold forward and backward to 1e-5 of
mmcv's kernel, with a float64 gradcheck).

:func:`roi_align_separable` is an autograd op; :func:`roi_align_forward` and
:func:`roi_align_backward` are the same computation in the form of mmcv's
compiled ``roi_align_forward`` / ``roi_align_backward`` (results written into
given tensors), which :mod:`convnext_dense.ops.mmcv_ext` serves to mmcv.
"""
from typing import Any, List, NamedTuple, Optional, Tuple, Union

import torch
from torch.autograd.function import once_differentiable
from torch.nn.modules.utils import _pair

#: Most elements of one intermediate (a chunk of crops or of products).
CHUNK_ELEMENTS = 1 << 21
#: A crop element costs about this many multiply-adds besides its products
#: (gathering it forward, adding it back in the backward pass); so does each
#: element of a channels-first map, copied to rows of channels for cropping.
CROP_OVERHEAD = 12
#: A chunk of crops costs about this many multiply-adds in calls and copies.
CHUNK_OVERHEAD = 2_000_000
#: None: shared windows or crops, by cost; 'shared' or 'crops' forces one.
FORCE_PATH: Optional[str] = None


def _axis_weights(
        start: torch.Tensor, size: torch.Tensor, pooled: int,
        sampling_ratio: int,
        length: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-RoI interpolation matrices on one axis, and the cells they use.

    Args:
        start, size: (K,) RoI start and extent on this axis, in map cells
            (after the scale, the ``aligned`` offset and the minimum size).
        pooled: Bins on this axis.
        sampling_ratio: Samples per bin on this axis; 0 or less: adaptive,
            ``ceil(size / pooled)`` per RoI.
        length: Map size on this axis (> 0).

    Returns:
        ``(weights, first, count)``: weights (K, pooled, length), each bin's
        1-D interpolation weights summed over its samples and divided by
        their number; per RoI, the first cell its samples touch and the
        number of cells from there to the last (0 when none counts).
    """
    k, dtype, device = start.numel(), start.dtype, start.device
    bin_size = size / pooled
    if sampling_ratio > 0:
        grid = torch.full((k, ), sampling_ratio, dtype=torch.long, device=device)
    else:  # mmcv: ceilf(roi_size / pooled), in float whatever the dtype
        grid = torch.ceil(bin_size.float()).long().clamp_min(0)
    per_roi = grid * pooled
    total = int(per_roi.sum())
    # One entry per sampling point: its RoI, bin and index in the bin.
    roi = torch.repeat_interleave(torch.arange(k, device=device),
                                  per_roi,
                                  output_size=total)
    local = torch.arange(total, device=device) - (torch.cumsum(per_roi, 0) - per_roi)[roi]
    samples = grid[roi]
    bins = torch.div(local, samples, rounding_mode='floor')
    index = local - bins * samples
    bin_r, count = bin_size[roi], samples.to(dtype)
    # mmcv: roi_start + ph * bin_size + (iy + .5f) * bin_size / grid.
    pos = start[roi] + bins.to(dtype) * bin_r + (index.to(dtype) +
                                                 0.5) * bin_r / count
    # mmcv's bilinear_interpolate on one axis: a sample outside [-1, length]
    # weighs 0; the others are clamped to [0, length - 1], so that one at or
    # past the last cell takes that cell alone.
    valid = (pos >= -1.0) & (pos <= length)
    pos = pos.clamp(0, length - 1)
    low = pos.floor()
    w_high = pos - low
    low = low.long()
    high = (low + 1).clamp_max(length - 1)
    share = valid / count  # mmcv divides the sum by the samples of the bin
    row = (roi * pooled + bins) * length
    weights = start.new_zeros(k * pooled * length)
    weights.index_add_(0, row + low, (1. - w_high) * share)
    weights.index_add_(0, row + high, w_high * share)
    first = torch.full(
        (k, ), length, device=device).scatter_reduce_(0, roi, low + ~valid * length, 'amin')
    stop = torch.zeros(k, dtype=torch.long, device=device).scatter_reduce_(
        0, roi, (high + 1) * valid, 'amax')
    return (weights.view(k, pooled,
                         length), first, (stop - first).clamp_min(0))


def _ladder(length: torch.Tensor) -> torch.Tensor:
    """Rounds lengths >= 1 up to 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, ..."""
    power = torch.pow(2, torch.floor(torch.log2(length.double())).long())
    half = power + power // 2
    return torch.where(length <= power, power,
                       torch.where(length <= half, half, 2 * power))


class _Window(NamedTuple):
    """RoIs of one image, all on the window [y0, y1) x [x0, x1) of its map."""
    image: int
    y0: int
    y1: int
    x0: int
    x1: int
    #: Chunks of (RoI indices, their ``Ay`` and ``Ax`` on the window).
    chunks: List[Tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


class _Crops(NamedTuple):
    """A chunk of RoIs, each on a crop of the same size around its window."""
    rois: torch.Tensor
    #: (RoIs * crop height * crop width,) rows of the map's (N*H*W, C) cells.
    cells: torch.Tensor
    ay: torch.Tensor  # (RoIs, pooled height, crop height)
    ax: torch.Tensor  # (RoIs, pooled width, crop width)


class _Plan(NamedTuple):
    """What :class:`_SeparableRoIAlign` computes, and its chunks."""
    rois: int
    out_h: int
    out_w: int
    windows: List[_Window]
    crops: List[_Crops]


def _crop_chunks(
        y_len: torch.Tensor, x_len: torch.Tensor, channels: int,
        out_h: int) -> Tuple[torch.Tensor, List[Tuple[int, int, int]]]:
    """Orders RoIs by window size and cuts them into chunks of one crop size.

    Returns the order and, per chunk, (RoIs, crop height, crop width). RoIs
    whose window sides round up to the same :func:`_ladder` sizes form a
    group; neighbouring groups share a chunk (padded to the larger crop) when
    that costs less than one more chunk (:data:`CHUNK_OVERHEAD`), and a chunk
    holds at most :data:`CHUNK_ELEMENTS` elements per intermediate.
    """
    key = _ladder(y_len) * (2 * int(x_len.max()) + 2) + _ladder(x_len)
    key, order = torch.sort(key, stable=True)
    _, group = torch.unique_consecutive(key, return_inverse=True)
    groups = int(group[-1]) + 1
    counts = torch.bincount(group, minlength=groups).tolist()
    heights = y_len.new_zeros(groups).scatter_reduce_(0, group, y_len[order],
                                                      'amax').tolist()
    widths = x_len.new_zeros(groups).scatter_reduce_(0, group, x_len[order],
                                                     'amax').tolist()

    def cost(count: int, height: int, width: int) -> float:
        return (count * height * width * (out_h + CROP_OVERHEAD) +
                CHUNK_OVERHEAD / channels)

    def size(count: int, height: int, width: int) -> int:
        return count * max(height, out_h) * width * channels

    chunks: List[Tuple[int, int, int]] = []
    for count, height, width in zip(counts, heights, widths):
        if chunks:
            last_count, last_height, last_width = chunks[-1]
            merged_height = max(last_height, height)
            merged_width = max(last_width, width)
            merged = (last_count + count, merged_height, merged_width)
            if (size(*merged) <= CHUNK_ELEMENTS and cost(*merged)
                    <= cost(*chunks[-1]) + cost(count, height, width)):
                chunks[-1] = merged
                continue
        most = max(1, CHUNK_ELEMENTS // size(1, height, width))
        for start in range(0, count, most):
            chunks.append((min(most, count - start), height, width))
    return order, chunks


def _plan(shape: torch.Size, batch: torch.Tensor, ay: torch.Tensor,
          ax: torch.Tensor, y_first: torch.Tensor, y_len: torch.Tensor,
          x_first: torch.Tensor, x_len: torch.Tensor,
          channels_last: bool) -> _Plan:
    """Chooses products on shared windows or on crops, and cuts the chunks.

    Either every image's RoIs share the window that they all touch on its
    map, or each RoI gets a crop of its own window: whichever costs fewer
    multiply-adds, counting for the crops their gathering and a copy of a
    channels-first map (:data:`CROP_OVERHEAD`) and their chunks
    (:data:`CHUNK_OVERHEAD`). RoIs large against the map share it; small
    ones are cropped. RoIs with no sample on the map are left out: their
    output is zero.
    """
    n, channels, height, width = shape
    out_h, out_w = ay.shape[1], ax.shape[1]
    on_map = ((y_len > 0) & (x_len > 0)).nonzero().flatten()
    if on_map.numel() == 0:
        return _Plan(batch.numel(), out_h, out_w, [], [])
    y_stop, x_stop = y_first + y_len, x_first + x_len
    images = []
    shared = 0
    for image in range(n):
        idx = on_map[batch[on_map] == image]
        if idx.numel():
            y0, y1 = int(y_first[idx].min()), int(y_stop[idx].max())
            x0, x1 = int(x_first[idx].min()), int(x_stop[idx].max())
            images.append((image, idx, y0, y1, x0, x1))
            shared += idx.numel() * (y1 - y0) * (x1 - x0) * out_h
    order, chunks = _crop_chunks(y_len[on_map], x_len[on_map], channels, out_h)
    own = sum((count * height * width * (out_h + CROP_OVERHEAD) +
               CHUNK_OVERHEAD / channels) for count, height, width in chunks)
    if not channels_last:
        own += n * height * width * CROP_OVERHEAD
    if FORCE_PATH == 'shared' or (FORCE_PATH is None and shared <= own):
        windows = []
        for image, idx, y0, y1, x0, x1 in images:
            most = max(1, CHUNK_ELEMENTS // (out_h * (x1 - x0) * channels))
            windows.append(
                _Window(image, y0, y1, x0, x1,
                        [(sub, ay[sub, :, y0:y1], ax[sub, :, x0:x1])
                         for sub in idx.split(most)]))
        return _Plan(batch.numel(), out_h, out_w, windows, [])
    crops = []
    for sub, (k, ly, lx) in zip(on_map[order].split([c[0] for c in chunks]),
                                chunks):
        # Crops stay inside the map: windows at its far side start earlier.
        y0 = torch.clamp(y_first[sub], max=height - ly)
        x0 = torch.clamp(x_first[sub], max=width - lx)
        rows = torch.arange(ly, device=batch.device)
        cols = torch.arange(lx, device=batch.device)
        first_cell = (batch[sub] * height + y0) * width + x0
        cells = first_cell[:, None, None] + (rows * width)[:, None] + cols
        y_cells = (y0[:, None] + rows)[:, None].expand(k, out_h, ly)
        x_cells = (x0[:, None] + cols)[:, None].expand(k, out_w, lx)
        crops.append(
            _Crops(sub, cells.flatten(), ay[sub].gather(2, y_cells),
                   ax[sub].gather(2, x_cells)))
    return _Plan(batch.numel(), out_h, out_w, [], crops)


def _is_channels_last(input: torch.Tensor) -> bool:
    return (not input.is_contiguous()
            and input.is_contiguous(memory_format=torch.channels_last))


class _SeparableRoIAlign(torch.autograd.Function):
    """The products of a :class:`_Plan`; the backward pass, their transpose.

    The op is linear in the map, so the backward pass needs only the plan.
    It accumulates every chunk's gradient into one buffer, where autograd
    through the chunks would give each a zero gradient of the whole map.
    """

    @staticmethod
    def forward(ctx: Any, input: torch.Tensor, plan: _Plan) -> torch.Tensor:
        ctx.plan = plan
        ctx.input_shape = input.shape
        ctx.channels_last = _is_channels_last(input)
        return _contract(input, plan)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple:
        return _transpose(ctx.plan, grad_out, ctx.input_shape,
                          ctx.channels_last), None


def _contract(input: torch.Tensor, plan: _Plan) -> torch.Tensor:
    """The pooled RoIs: the plan's products on the map."""
    n, channels, height, width = input.shape
    out_h = plan.out_h
    covered = sum(sub.numel() for win in plan.windows
                  for sub, _, _ in win.chunks) + sum(
                      crops.rois.numel() for crops in plan.crops)
    # RoIs left out of the plan are zero.
    out = (input.new_empty if covered == plan.rois else input.new_zeros)(
        plan.rois, channels, out_h, plan.out_w)
    for win in plan.windows:
        h, w = win.y1 - win.y0, win.x1 - win.x0
        # (h, w * C): the window's rows, channels last.
        rows = input[win.image, :, win.y0:win.y1,
                     win.x0:win.x1].permute(1, 2,
                                            0).reshape(h, w * channels)
        for sub, ay, ax in win.chunks:
            u = (ay.reshape(-1, h) @ rows).view(-1, out_h, w, channels)
            out.index_copy_(
                0, sub,
                torch.matmul(ax.unsqueeze(1), u).permute(0, 3, 1, 2))
    if plan.crops:
        # (N*H*W, C): a view of a channels_last map, else a copy.
        cells = input.permute(0, 2, 3, 1).reshape(-1, channels)
        for crops in plan.crops:
            k, ly, lx = crops.rois.numel(), crops.ay.shape[2], \
                crops.ax.shape[2]
            crop = cells.index_select(0, crops.cells).view(
                k, ly, lx * channels)
            u = torch.bmm(crops.ay, crop).view(k, out_h, lx, channels)
            out.index_copy_(
                0, crops.rois,
                torch.matmul(crops.ax.unsqueeze(1), u).permute(0, 3, 1, 2))
    return out


def _transpose(plan: _Plan, grad_out: torch.Tensor, input_shape: torch.Size,
               channels_last: bool) -> torch.Tensor:
    """The map's gradient: the plan's products, transposed."""
    n, channels, height, width = input_shape
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    grad_in = None
    if plan.windows or not plan.crops:
        grad_in = torch.empty(input_shape,
                              dtype=grad_out.dtype,
                              device=grad_out.device,
                              memory_format=fmt).zero_()
    for win in plan.windows:
        h, w = win.y1 - win.y0, win.x1 - win.x0
        rows = grad_out.new_zeros(h, w * channels)
        for sub, ay, ax in win.chunks:
            g = grad_out.index_select(0, sub).permute(0, 2, 3, 1)
            u = torch.matmul(ax.transpose(1, 2).unsqueeze(1), g)
            rows.addmm_(ay.reshape(-1, h).t(), u.reshape(-1, w * channels))
        grad_in[win.image, :, win.y0:win.y1,
                win.x0:win.x1] += rows.view(h, w,
                                            channels).permute(2, 0, 1)
    if plan.crops:
        cells = grad_out.new_zeros(n * height * width, channels)
        for crops in plan.crops:
            k, lx = crops.rois.numel(), crops.ax.shape[2]
            g = grad_out.index_select(0, crops.rois).permute(0, 2, 3, 1)
            u = torch.matmul(crops.ax.transpose(1, 2).unsqueeze(1), g)
            crop = torch.bmm(crops.ay.transpose(1, 2),
                             u.reshape(k, -1, lx * channels))
            cells.index_add_(0, crops.cells, crop.view(-1, channels))
        cells = cells.view(n, height, width, channels).permute(0, 3, 1, 2)
        if grad_in is None:
            grad_in = cells.contiguous(memory_format=fmt)
        else:
            grad_in += cells
    return grad_in


def roi_align_separable(input: torch.Tensor,
                        rois: torch.Tensor,
                        output_size: Union[int, Tuple[int, int]],
                        spatial_scale: float = 1.0,
                        sampling_ratio: int = 0,
                        aligned: bool = True) -> torch.Tensor:
    """mmcv's 'avg' RoIAlign as separable matrix products (any device).

    Args:
        input: (N, C, H, W) feature map, float32 or float64, any memory
            format.
        rois: (K, 5) ``(batch index, x1, y1, x2, y2)`` in image coordinates,
            of the map's dtype; no gradient flows to them.
        output_size: Pooled ``(height, width)``, or one int for both.
        spatial_scale: Map cells per image pixel.
        sampling_ratio: Samples per bin and axis; 0 or less: ``ceil(RoI size
            / pooled size)`` per RoI and axis, as mmcv.
        aligned: Shift the RoIs by half a cell (mmcv's ``aligned=True``);
            False keeps mmcv's legacy minimum RoI size of one cell.

    Returns:
        (K, C, pooled height, pooled width), contiguous: mmcv's
        ``roi_align(input, rois, output_size, spatial_scale, sampling_ratio,
        'avg', aligned)`` to float rounding. The input's gradient comes in
        its memory format.

    Raises:
        ValueError: RoIs that are not finite or name a missing image.
        RuntimeError: With ``aligned``, a RoI with x2 < x1 or y2 < y1 (which
            mmcv refuses too).
    """
    return _SeparableRoIAlign.apply(
        input,
        _make_plan(input, rois, output_size, spatial_scale, sampling_ratio,
                   aligned))


def _make_plan(input: torch.Tensor, rois: torch.Tensor,
               output_size: Union[int, Tuple[int, int]], spatial_scale: float,
               sampling_ratio: int, aligned: bool) -> _Plan:
    """The products that pool ``rois`` from a map like ``input``."""
    out_h, out_w = _pair(output_size)
    n, channels, height, width = input.shape
    rois = rois.detach()
    k = rois.size(0)
    if k == 0 or channels == 0 or height == 0 or width == 0:
        return _Plan(k, out_h, out_w, [], [])
    if not bool(torch.isfinite(rois).all()):
        raise ValueError('RoIAlign: RoIs must be finite')
    batch = rois[:, 0].long()  # mmcv: (int) rois[k][0]
    if int(batch.min()) < 0 or int(batch.max()) >= n:
        raise ValueError(
            f'RoIAlign: RoI batch indices must be in [0, {n - 1}]')
    # mmcv passes spatial_scale as a C float, then casts it to the dtype.
    scale = torch.tensor(spatial_scale,
                         dtype=torch.float32,
                         device=input.device).to(input.dtype)
    x1, y1, x2, y2 = (rois[:, 1:].to(input.dtype) * scale -
                      (0.5 if aligned else 0.)).unbind(1)
    roi_w, roi_h = x2 - x1, y2 - y1
    if aligned:
        if not bool(((roi_w >= 0) & (roi_h >= 0)).all()):
            raise RuntimeError(
                'RoIAlign with aligned=True needs x2 >= x1 and y2 >= y1')
    else:  # legacy: at least one cell
        roi_w, roi_h = roi_w.clamp_min(1.), roi_h.clamp_min(1.)
    ay, y_first, y_len = _axis_weights(y1, roi_h, out_h, int(sampling_ratio),
                                       height)
    ax, x_first, x_len = _axis_weights(x1, roi_w, out_w, int(sampling_ratio),
                                       width)
    return _plan(input.shape, batch, ay, ax, y_first, y_len, x_first, x_len,
                 _is_channels_last(input))


def roi_align_forward(input: torch.Tensor, rois: torch.Tensor,
                      output: torch.Tensor, aligned_height: int,
                      aligned_width: int, spatial_scale: float,
                      sampling_ratio: int, aligned: bool) -> None:
    """mmcv's compiled ``roi_align_forward`` in 'avg' mode: fills ``output``.

    No autograd op of its own: mmcv's ``RoIAlignFunction`` is the one (also
    while tracing, e.g. for FLOP counts and ONNX export)."""
    with torch.no_grad():
        output.copy_(
            _contract(
                input,
                _make_plan(input, rois, (aligned_height, aligned_width),
                           spatial_scale, sampling_ratio, aligned)))


def roi_align_backward(grad_output: torch.Tensor, rois: torch.Tensor,
                       grad_input: torch.Tensor, aligned_height: int,
                       aligned_width: int, spatial_scale: float,
                       sampling_ratio: int, aligned: bool) -> None:
    """mmcv's compiled ``roi_align_backward`` in 'avg' mode: adds the input's
    gradient into ``grad_input``."""
    plan = _make_plan(grad_input, rois, (aligned_height, aligned_width),
                      spatial_scale, sampling_ratio, aligned)
    grad_input += _transpose(plan, grad_output.contiguous(), grad_input.shape,
                             _is_channels_last(grad_input))
