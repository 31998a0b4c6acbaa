"""Patch: mmcv's RoIAlign ('avg' mode) on the CPU takes the separable path.

What is wrong: mmcv 2.1.0's compiled CPU RoIAlign is a scalar loop, and its
backward pass recomputes every sample's weights per channel (see
:mod:`convnext_dense.ops.roi_align`).

The fix: :func:`install` makes ``mmcv.ops.RoIAlign`` (which mmdet's RoI
extractors build by name) and ``mmcv.ops.roi_align`` call
:func:`~convnext_dense.ops.roi_align.roi_align_separable` as an autograd op
for CPU float32 and float64 maps in 'avg' mode. Everything else goes to
mmcv's ``RoIAlignFunction`` unchanged (:data:`ORIGINAL_ROI_ALIGN`, still with
:mod:`.contiguous_roi_align`'s fix): CUDA tensors, 'max' mode, other dtypes,
RoIs that are not finite, tracing and ONNX export. With mmcv-lite that
function reaches the same kernels through :mod:`convnext_dense.ops.mmcv_ext`;
with mmcv's full build, mmcv's own. mmdet's mask targets
(``BitmapMasks.crop_and_resize``) import mmcv's function from its module and
keep it.
"""
import functools
import importlib
from typing import Any, Callable, Tuple, Union

import mmcv.ops
import torch
from mmcv.ops.roi_align import RoIAlign

from ..ops.roi_align import roi_align_separable

_mmcv_roi_align = importlib.import_module('mmcv.ops.roi_align')

#: mmcv's own function (``RoIAlignFunction.apply``): what everything off the
#: fast path calls, and what the tests compare with.
ORIGINAL_ROI_ALIGN = _mmcv_roi_align.roi_align
#: ``RoIAlign.forward`` as mmcv defines it (the registry imports this module
#: when it installs it, before the change).
ORIGINAL_FORWARD = RoIAlign.forward


def takes_fast_path(input: Any, rois: Any, pool_mode: str = 'avg') -> bool:
    """Whether mmcv's RoIAlign on these arguments goes to the new path."""
    if (torch.jit.is_tracing() or torch.jit.is_scripting()
            or torch.onnx.is_in_onnx_export()):
        return False
    return (pool_mode == 'avg' and isinstance(input, torch.Tensor)
            and isinstance(rois, torch.Tensor) and input.device.type == 'cpu'
            and rois.device.type == 'cpu'
            and input.dtype in (torch.float32, torch.float64)
            and rois.dtype == input.dtype and input.dim() == 4
            and rois.dim() == 2 and rois.size(1) == 5
            and bool(torch.isfinite(rois).all()))


def roi_align(input: torch.Tensor,
              rois: torch.Tensor,
              output_size: Union[int, Tuple[int, int]],
              spatial_scale: float = 1.0,
              sampling_ratio: int = 0,
              pool_mode: str = 'avg',
              aligned: bool = True) -> torch.Tensor:
    """``mmcv.ops.roi_align``: separable where :func:`takes_fast_path`."""
    if takes_fast_path(input, rois, pool_mode):
        return roi_align_separable(input, rois, output_size, spatial_scale,
                                   sampling_ratio, aligned)
    return ORIGINAL_ROI_ALIGN(input, rois, output_size, spatial_scale,
                              sampling_ratio, pool_mode, aligned)


def _fast_forward(forward: Callable) -> Callable:
    """Wraps ``RoIAlign.forward`` to take the separable path on the CPU."""

    @functools.wraps(forward)
    def roi_align_forward(self: RoIAlign, input: torch.Tensor,
                          rois: torch.Tensor) -> torch.Tensor:
        if not self.use_torchvision and takes_fast_path(
                input, rois, self.pool_mode):
            return roi_align_separable(input, rois, self.output_size,
                                       self.spatial_scale, self.sampling_ratio,
                                       self.aligned)
        return forward(self, input, rois)

    return roi_align_forward


def install() -> None:
    """Patches ``mmcv.ops.RoIAlign`` and ``mmcv.ops.roi_align``."""
    RoIAlign.forward = _fast_forward(RoIAlign.forward)
    mmcv.ops.roi_align = roi_align
