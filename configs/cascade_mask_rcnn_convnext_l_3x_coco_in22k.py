# Cascade Mask R-CNN, ConvNeXt-L (ImageNet-22K), 3x schedule, fp32.
# Paper: 54.8 box AP, 47.6 mask AP, 255M parameters, 1354G FLOPs.
# As ConvNeXt-B on ImageNet-22K, with: arch, drop path 0.7, decay rate 0.7,
# and no mixed precision.
_base_ = './cascade_mask_rcnn_convnext_b_3x_coco_in22k.py'

checkpoint_file = 'https://dl.fbaipublicfiles.com/convnext/convnext_large_22k_224.pth'  # noqa: E501
model = dict(
    backbone=dict(
        arch='large',
        drop_path_rate=0.7,
        init_cfg=dict(checkpoint=checkpoint_file)),
    neck=dict(in_channels=[192, 384, 768, 1536]))

optim_wrapper = dict(type='OptimWrapper', paramwise_cfg=dict(decay_rate=0.7))
