"""The toolkit's kernels as ``mmcv._ext``, for mmcv-lite.

mmcv-lite is mmcv's Python code without its compiled extension. Every module
of ``mmcv.ops`` looks up its functions in ``mmcv._ext`` when it is imported,
so mmdet and mmseg (which import ``mmcv.ops``) cannot even be imported
without one. This module stands in for it, loaded under that name by the
import hook in ``_convnext_dense_mmcv_ext`` when no compiled ``mmcv._ext``
exists:

* ``nms``, ``softnms``, ``roi_align_forward`` and ``roi_align_backward``,
  what the shipped configs reach, run :mod:`convnext_dense.ops` (torch
  operations on any device; soft-NMS on the CPU, as mmcv's);
* every other name is a function that raises
  :class:`~convnext_dense.errors.OpNotProvidedError` when called, one line
  saying how to install mmcv's full build.

It is loaded while ``mmcv.ops`` is being imported, so it imports nothing of
the toolkit until one of its functions is called.
"""
import torch

#: What the hook registers this module as.
NAME = 'mmcv._ext'
#: The functions provided (the rest raise when called).
PROVIDED = ('nms', 'softnms', 'roi_align_forward', 'roi_align_backward')
#: How to get every op: mmcv's compiled build instead of mmcv-lite.
FULL_BUILD = ("make install MMCV=full, or: pip uninstall -y mmcv-lite && "
              "MMCV_WITH_OPS=1 pip install --no-build-isolation mmcv==2.1.0")


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float,
        offset: int) -> torch.Tensor:
    from convnext_dense.ops.nms import nms as kernel
    return kernel(boxes, scores, iou_threshold, offset)


def softnms(boxes: torch.Tensor, scores: torch.Tensor, dets: torch.Tensor,
            iou_threshold: float, sigma: float, min_score: float, method: int,
            offset: int) -> torch.Tensor:
    from convnext_dense.ops.nms import soft_nms as kernel
    kept, inds = kernel(boxes, scores, iou_threshold, sigma, min_score, method,
                        offset)
    dets[:len(kept)] = kept
    return inds


def _check_avg_pool_mode(pool_mode: int) -> None:
    if pool_mode != 1:  # mmcv: {'max': 0, 'avg': 1}
        _not_provided("roi_align with pool_mode='max'")()


def roi_align_forward(input: torch.Tensor, rois: torch.Tensor,
                      output: torch.Tensor, argmax_y: torch.Tensor,
                      argmax_x: torch.Tensor, aligned_height: int,
                      aligned_width: int, spatial_scale: float,
                      sampling_ratio: int, pool_mode: int,
                      aligned: bool) -> None:
    _check_avg_pool_mode(pool_mode)
    from convnext_dense.ops.roi_align import roi_align_forward as kernel
    kernel(input, rois, output, aligned_height, aligned_width, spatial_scale,
           sampling_ratio, aligned)


def roi_align_backward(grad_output: torch.Tensor, rois: torch.Tensor,
                       argmax_y: torch.Tensor, argmax_x: torch.Tensor,
                       grad_input: torch.Tensor, aligned_height: int,
                       aligned_width: int, spatial_scale: float,
                       sampling_ratio: int, pool_mode: int,
                       aligned: bool) -> None:
    _check_avg_pool_mode(pool_mode)
    from convnext_dense.ops.roi_align import roi_align_backward as kernel
    kernel(grad_output, rois, grad_input, aligned_height, aligned_width,
           spatial_scale, sampling_ratio, aligned)


def _not_provided(name: str):
    """A stand-in for a compiled op the toolkit does not provide."""

    def op(*args, **kwargs):
        from convnext_dense.errors import OpNotProvidedError
        raise OpNotProvidedError(
            f'mmcv op {name} is not in mmcv-lite and convnext-dense does not '
            f'provide it; install mmcv with its compiled ops: {FULL_BUILD}')

    op.__name__ = name
    return op


def __getattr__(name: str):
    # mmcv.ops modules check hasattr() for their functions when imported.
    if name.startswith('__'):
        raise AttributeError(name)
    return _not_provided(name)
