# Cascade Mask R-CNN, ConvNeXt-T (ImageNet-1K), 3x schedule, fp16.
# Paper: 50.4 box AP, 43.7 mask AP, 86M parameters, 741G FLOPs.
_base_ = [
    '_base_/models/cascade_mask_rcnn_convnext_fpn.py',
    '_base_/datasets/coco_instance.py', '_base_/schedules/schedule_3x.py',
    '_base_/default_runtime_det.py'
]

# Official ImageNet-1K weights; a local copy works too:
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
checkpoint_file = 'https://dl.fbaipublicfiles.com/convnext/convnext_tiny_1k_224.pth'  # noqa: E501
model = dict(
    backbone=dict(
        arch='tiny',
        drop_path_rate=0.4,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    neck=dict(in_channels=[96, 192, 384, 768]))

optim_wrapper = dict(
    optimizer=dict(lr=2e-4),
    paramwise_cfg=dict(decay_rate=0.7, decay_type='layer_wise', num_layers=6))
