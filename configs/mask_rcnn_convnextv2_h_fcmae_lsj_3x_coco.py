# Mask R-CNN, ConvNeXt V2-H (FCMAE pre-trained), 3x LSJ, fp16. The paper
# reports this size on COCO but no recipe: V2-B's (mmdet's) with the huge
# backbone.
_base_ = './mask_rcnn_convnextv2_b_fcmae_lsj_3x_coco.py'
model = dict(
    backbone=dict(
        arch='huge',
        init_cfg=dict(checkpoint='convnextv2_huge_1k_224_fcmae')),
    neck=dict(in_channels=[352, 704, 1408, 2816]))
