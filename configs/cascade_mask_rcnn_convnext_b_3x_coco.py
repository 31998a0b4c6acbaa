# Cascade Mask R-CNN, ConvNeXt-B (ImageNet-1K), 3x schedule, fp16.
_base_ = [
    '_base_/models/cascade_mask_rcnn_convnext_fpn.py',
    '_base_/recipes/coco_3x_cascade.py'
]
model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.7,
        init_cfg=dict(checkpoint='convnext_base_1k_224')),
    neck=dict(in_channels=[128, 256, 512, 1024]))
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.8, num_layers=12))
