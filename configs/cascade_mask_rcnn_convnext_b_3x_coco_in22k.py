# Cascade Mask R-CNN, ConvNeXt-B (ImageNet-22K), 3x schedule, fp16.
# Paper: 54.0 box AP, 46.9 mask AP, 146M parameters, 964G FLOPs.
# As ConvNeXt-B on ImageNet-1K, with: 22K weights, drop path 0.6, lr 1e-4.
_base_ = './cascade_mask_rcnn_convnext_b_3x_coco.py'

checkpoint_file = 'https://dl.fbaipublicfiles.com/convnext/convnext_base_22k_224.pth'  # noqa: E501
model = dict(
    backbone=dict(
        drop_path_rate=0.6, init_cfg=dict(checkpoint=checkpoint_file)))

optim_wrapper = dict(optimizer=dict(lr=1e-4))
