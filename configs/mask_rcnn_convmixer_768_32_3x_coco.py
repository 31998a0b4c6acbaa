# Mask R-CNN, ConvMixer-768/32 (ImageNet-1K, ReLU as released), 3x schedule,
# fp16. Not evaluated by its authors: the ConvNeXt paper's COCO recipe (AdamW,
# lr 1e-4, weight decay 0.05, 3x, 16 images per iteration) plus ViTDet's
# choices where it gives none: the simple feature pyramid (patch 7: resampled
# to stride 8, see SimpleFeaturePyramid) and layer-wise lr decay set by depth
# as ViTDet does (0.9 for ViT-H's 32 blocks) under the plain rule (stem = layer
# 0, block i = layer i + 1, num_layers = depth). BatchNorm statistics stay
# frozen (norm_eval), as in mmdet's BatchNorm backbones: 2 images per GPU.
_base_ = [
    '_base_/models/mask_rcnn_convnext_fpn.py',
    '_base_/datasets/coco_instance.py', '_base_/schedules/schedule_3x.py',
    '_base_/default_runtime_det.py'
]

# The original release's ImageNet-1K weights; a local copy works too:
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
checkpoint_file = 'https://github.com/tmp-iclr/convmixer/releases/download/v1.0/convmixer_768_32_ks7_p7_relu.pth.tar'  # noqa: E501
model = dict(
    backbone=dict(
        _delete_=True,
        type='convnext_dense.ConvMixer',
        arch='768/32',
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    # Strides 4/8/16/32 (widths C/2, C, C, C from stride 8) for the base's FPN.
    neck=[
        dict(
            type='convnext_dense.SimpleFeaturePyramid',
            in_channels=768,
            in_stride=7),
        dict(_base_.model.neck, in_channels=[384, 768, 768, 768]),
    ])

optim_wrapper = dict(
    optimizer=dict(lr=1e-4),
    paramwise_cfg=dict(decay_rate=0.9, decay_type='layer_wise', num_layers=32))
