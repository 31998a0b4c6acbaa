"""Patch contiguous_roi_align: mmcv's compiled RoIAlign reads its input as
contiguous NCHW; the toolkit's fix makes it right for channels_last inputs
too."""
import torch

import convnext_dense  # noqa: F401  (installs the RoIAlign fix)
from convnext_dense.patches.mmcv_ops import using_toolkit_kernels
from mmcv.ops import RoIAlign, roi_align
from mmcv.ops.roi_align import RoIAlignFunction, ext_module


def features_and_rois():
    torch.manual_seed(0)
    features = torch.randn(2, 8, 20, 24)
    rois = torch.tensor([[0, 1.0, 2.0, 15.0, 12.0], [1, 4.0, 0.5, 22.0, 19.0],
                         [0, 0.0, 0.0, 23.0, 19.0]])
    return features, rois


def raw_kernel(features: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
    """mmcv's compiled kernel, called as its unpatched wrapper calls it."""
    output = features.new_zeros(rois.size(0), features.size(1), 7, 7)
    argmax = features.new_zeros(0)
    ext_module.roi_align_forward(
        features, rois, output, argmax, argmax, aligned_height=7,
        aligned_width=7, spatial_scale=1.0, sampling_ratio=2, pool_mode=1,
        aligned=True)
    return output


def test_unpatched_kernel_and_channels_last_memory():
    """mmcv's compiled kernel misreads channels_last memory; the toolkit's,
    which is ``mmcv._ext`` under mmcv-lite, reads it right."""
    features, rois = features_and_rois()
    channels_last = features.to(memory_format=torch.channels_last)
    same = torch.allclose(raw_kernel(channels_last, rois),
                          raw_kernel(features, rois))
    assert same == using_toolkit_kernels()


def test_roi_align_is_right_for_channels_last_input():
    features, rois = features_and_rois()
    layer = RoIAlign(output_size=7, spatial_scale=1.0, sampling_ratio=2)
    expected = layer(features, rois)
    torch.testing.assert_close(expected, raw_kernel(features, rois))
    channels_last = features.to(memory_format=torch.channels_last)
    torch.testing.assert_close(layer(channels_last, rois), expected)
    torch.testing.assert_close(
        roi_align(channels_last, rois, 7, 1.0, 2, 'avg', True), expected)


def test_gradients_flow_back_to_channels_last_input():
    features, rois = features_and_rois()
    layer = RoIAlign(output_size=7, spatial_scale=1.0, sampling_ratio=2)
    grads = []
    for x in (features, features.to(memory_format=torch.channels_last)):
        x = x.clone().requires_grad_(True)
        layer(x, rois).square().sum().backward()
        grads.append(x.grad)
    torch.testing.assert_close(grads[1], grads[0])


def test_patch_is_installed_once():
    from convnext_dense import patches
    forward = RoIAlignFunction.forward
    patches.install()
    assert RoIAlignFunction.forward is forward
    assert getattr(forward, '__wrapped__', None) is not None
