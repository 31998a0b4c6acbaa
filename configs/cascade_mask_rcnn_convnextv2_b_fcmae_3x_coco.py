# Cascade Mask R-CNN, ConvNeXt V2-B (FCMAE pre-trained), 3x schedule, fp16.
# No published V2 recipe or result: ConvNeXt-B's (V1 paper: drop path 0.7,
# lr 2e-4, layer-wise decay 0.8 over 12 layers, the paper's augmentation)
# with the V2 backbone.
_base_ = [
    '_base_/models/cascade_mask_rcnn_convnext_fpn.py',
    '_base_/recipes/coco_3x_cascade.py',
    '_base_/models/convnextv2_backbones.py'
]
model = dict(
    backbone=dict(_base_.convnextv2_b_fcmae, drop_path_rate=0.7),
    neck=dict(in_channels=[128, 256, 512, 1024]))
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.8, num_layers=12))
