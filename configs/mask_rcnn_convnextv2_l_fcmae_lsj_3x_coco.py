# Mask R-CNN, ConvNeXt V2-L (FCMAE pre-trained), 3x LSJ, fp16. The paper
# reports this size on COCO but no recipe: V2-B's (mmdet's) with the large
# backbone.
_base_ = './mask_rcnn_convnextv2_b_fcmae_lsj_3x_coco.py'
model = dict(
    backbone=dict(
        arch='large',
        init_cfg=dict(checkpoint='convnextv2_large_1k_224_fcmae')),
    neck=dict(in_channels=[192, 384, 768, 1536]))
