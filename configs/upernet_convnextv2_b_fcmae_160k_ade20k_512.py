# UperNet + ConvNeXt V2-B (FCMAE pre-trained), ADE20K 512x512, 160k
# iterations of 16 images, fp16. The authors published no segmentation recipe
# (and mmseg has no V2 config): ConvNeXt-B's (V1 paper: drop path 0.4, lr
# 1e-4, stage-wise decay 0.9 over 12 layers, B's head widths) with the V2
# backbone.
_base_ = [
    '_base_/models/upernet_convnext.py', '_base_/datasets/ade20k.py',
    '_base_/default_runtime_seg.py', '_base_/schedules/schedule_160k.py',
    '_base_/models/convnextv2_backbones.py'
]
model = dict(
    backbone=_base_.convnextv2_b_fcmae,
    decode_head=dict(in_channels=[128, 256, 512, 1024]),
    auxiliary_head=dict(in_channels=512))
optim_wrapper = dict(paramwise_cfg=dict(num_layers=12))
