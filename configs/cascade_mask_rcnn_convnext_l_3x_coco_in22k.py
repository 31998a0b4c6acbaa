# Cascade Mask R-CNN, ConvNeXt-L (ImageNet-22K), 3x schedule, fp32.
_base_ = [
    '_base_/models/cascade_mask_rcnn_convnext_fpn.py',
    '_base_/recipes/coco_3x_cascade.py'
]
model = dict(
    backbone=dict(
        arch='large',
        drop_path_rate=0.7,
        init_cfg=dict(checkpoint='convnext_large_22k_224')),
    neck=dict(in_channels=[192, 384, 768, 1536]))
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(lr=1e-4),
    paramwise_cfg=dict(num_layers=12))
