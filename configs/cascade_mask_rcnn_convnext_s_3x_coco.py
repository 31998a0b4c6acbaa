# Cascade Mask R-CNN, ConvNeXt-S (ImageNet-1K), 3x schedule, fp16.
_base_ = [
    '_base_/models/cascade_mask_rcnn_convnext_fpn.py',
    '_base_/recipes/coco_3x_cascade.py'
]
model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.6,
        init_cfg=dict(checkpoint='convnext_small_1k_224')))
optim_wrapper = dict(paramwise_cfg=dict(num_layers=12))
