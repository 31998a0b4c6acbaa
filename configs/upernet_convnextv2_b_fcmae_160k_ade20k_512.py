# UperNet + ConvNeXt V2-B (FCMAE pre-trained), ADE20K 512x512, 160k
# iterations of 16 images, fp16. The authors published no segmentation recipe
# (and mmseg has no V2 config): ConvNeXt-B's (V1 paper: drop path 0.4, lr
# 1e-4, stage-wise decay 0.9) with the V2 backbone.
_base_ = [
    './upernet_convnext_b_160k_ade20k_512.py',
    '_base_/models/convnextv2_backbones.py'
]
model = dict(backbone=_base_.convnextv2_b_fcmae)
