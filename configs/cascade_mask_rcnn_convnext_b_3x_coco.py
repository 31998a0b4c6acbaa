# Cascade Mask R-CNN, ConvNeXt-B (ImageNet-1K), 3x schedule, fp16.
# Paper: 52.7 box AP, 45.6 mask AP, 146M parameters, 964G FLOPs.
# As ConvNeXt-S, with: arch (wider FPN input), drop path 0.7, decay rate 0.8.
_base_ = './cascade_mask_rcnn_convnext_s_3x_coco.py'

checkpoint_file = 'https://dl.fbaipublicfiles.com/convnext/convnext_base_1k_224.pth'  # noqa: E501
model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.7,
        init_cfg=dict(checkpoint=checkpoint_file)),
    neck=dict(in_channels=[128, 256, 512, 1024]))

optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.8))
