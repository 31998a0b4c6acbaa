# Mask R-CNN, ConvNeXt V2-B (FCMAE pre-trained, no ImageNet fine-tuning), 3x
# schedule with large-scale jitter, fp16. The authors published no detection
# recipe; this is mmdet's (projects/ConvNeXt-V2, mask-rcnn_convnext-v2-b_fpn_
# lsj-3x-fcmae_coco.py): drop path 0.4, AdamW lr 1e-4, weight decay 0.05,
# layer-wise decay 0.95 over 12 layers, 1000 warmup iterations, 32 images per
# iteration (8 GPUs x 4), 1024x1024 LSJ crops, soft-NMS in the box head.
# mmdet reports 52.9 box AP, 46.4 mask AP with it.
_base_ = [
    '_base_/models/mask_rcnn_convnext_fpn.py',
    '_base_/datasets/coco_instance.py', '_base_/schedules/schedule_3x.py',
    '_base_/default_runtime_det.py', '_base_/models/convnextv2_backbones.py'
]
image_size = (1024, 1024)
model = dict(
    backbone=_base_.convnextv2_b_fcmae,
    neck=dict(in_channels=[128, 256, 512, 1024]),
    # soft-NMS is a compiled mmcv op: it needs mmcv with its ops (MMCV=full).
    test_cfg=dict(rcnn=dict(nms=dict(type='soft_nms'))))

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=_base_.backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomResize', scale=image_size, ratio_range=(0.1, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_type='absolute_range', crop_size=image_size,
         recompute_bbox=True, allow_negative_crop=True),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(batch_size=4, dataset=dict(pipeline=train_pipeline))
auto_scale_lr = dict(base_batch_size=32)

param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=1000),
    _base_.param_scheduler[1],
]
optim_wrapper = dict(paramwise_cfg=dict(num_layers=12))
