# Cascade Mask R-CNN, ConvNeXt-XL (ImageNet-22K), 3x schedule, fp32.
# Paper: 55.2 box AP, 47.7 mask AP, 407M parameters, 1898G FLOPs.
# As ConvNeXt-L, with: arch, drop path 0.8.
_base_ = './cascade_mask_rcnn_convnext_l_3x_coco_in22k.py'

checkpoint_file = 'https://dl.fbaipublicfiles.com/convnext/convnext_xlarge_22k_224.pth'  # noqa: E501
model = dict(
    backbone=dict(
        arch='xlarge',
        drop_path_rate=0.8,
        init_cfg=dict(checkpoint=checkpoint_file)),
    neck=dict(in_channels=[256, 512, 1024, 2048]))
