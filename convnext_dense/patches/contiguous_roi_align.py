"""Patch: mmcv 2.1.0's RoIAlign made correct for any memory format.

What is wrong: its CPU and CUDA kernels index the input feature map's memory as
contiguous NCHW without checking the strides, so a channels_last feature map
(what a permute-based LayerNorm returns, or what a user gets after
``model.to(memory_format=torch.channels_last)``) yields silently wrong RoI
features (a toy Mask R-CNN's box AP fell from 0.77 to 0.006).

The fix: mmdet builds RoI layers by name from ``mmcv.ops``, so it goes into the
op itself: :func:`install` wraps ``RoIAlignFunction.forward`` so that the
autograd function receives contiguous tensors (``RoIAlign`` and ``roi_align``
both go through it).
"""
import functools
from typing import Callable

from mmcv.ops.roi_align import RoIAlignFunction


def make_inputs_contiguous(forward: Callable) -> Callable:
    """Wraps an autograd ``forward(ctx, input, rois, ...)`` to pass contiguous tensors."""

    @functools.wraps(forward)
    def contiguous_forward(ctx, input, rois, *args, **kwargs):
        return forward(ctx, input.contiguous(), rois.contiguous(), *args,
                       **kwargs)

    return contiguous_forward


def install() -> None:
    """Patches ``mmcv.ops.RoIAlign`` (and ``roi_align``)."""
    RoIAlignFunction.forward = staticmethod(
        make_inputs_contiguous(RoIAlignFunction.forward))
