# Cascade Mask R-CNN, ConvNeXt-B (ImageNet-22K), 3x schedule, fp16.
_base_ = [
    '_base_/models/cascade_mask_rcnn_convnext_fpn.py',
    '_base_/recipes/coco_3x_cascade.py'
]
model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.6,
        init_cfg=dict(checkpoint='convnext_base_22k_224')),
    neck=dict(in_channels=[128, 256, 512, 1024]))
optim_wrapper = dict(
    optimizer=dict(lr=1e-4),
    paramwise_cfg=dict(decay_rate=0.8, num_layers=12))
