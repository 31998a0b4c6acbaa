# Mask R-CNN, isotropic ConvNeXt-S (ImageNet-1K), 3x schedule, fp16.
# Not evaluated by the paper: its COCO recipe (AdamW, lr 1e-4, weight decay
# 0.05, 3x, 16 images per iteration) plus ViTDet's choices where it gives
# none: the simple feature pyramid, drop path 0.1 (ViTDet's ViT-B) and
# layer-wise lr decay set by depth as ViTDet does (0.7 for 12 blocks, 0.8 for
# 24, 0.9 for 32: 0.75 for 18) under the plain rule (stem = layer 0, block i =
# layer i + 1, num_layers = depth).
_base_ = [
    '_base_/models/mask_rcnn_convnext_fpn.py',
    '_base_/datasets/coco_instance.py', '_base_/schedules/schedule_3x.py',
    '_base_/default_runtime_det.py'
]

# Official ImageNet-1K weights; a local copy works too:
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
checkpoint_file = 'https://dl.fbaipublicfiles.com/convnext/convnext_iso_small_1k_224_ema.pth'  # noqa: E501
# The simple feature pyramid turns the backbone's one stride-16 map into the
# strides 4/8/16/32 (widths C/4, C/2, C, C) that the base's FPN takes.
model = dict(
    backbone=dict(
        _delete_=True,
        type='convnext_dense.ConvNeXtIsotropic',
        arch='small',
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    neck=[
        dict(
            type='convnext_dense.SimpleFeaturePyramid',
            in_channels=384,
            in_stride=16),
        dict(_base_.model.neck, in_channels=[96, 192, 384, 384]),
    ])

optim_wrapper = dict(
    optimizer=dict(lr=1e-4),
    paramwise_cfg=dict(
        decay_rate=0.75, decay_type='layer_wise', num_layers=18))
