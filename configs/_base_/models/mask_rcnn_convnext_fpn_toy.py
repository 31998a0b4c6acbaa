# The toy Mask R-CNN for a CPU: the full model (mask_rcnn_convnext_fpn.py)
# trained from scratch on the 3 toy COCO classes, with a tiny ConvNeXt, a
# 64-channel FPN, narrow heads (a 32-channel mask head) and 64 sampled RoIs per
# image. The toy Mask R-CNNs on other backbones replace its backbone.
_base_ = './mask_rcnn_convnext_fpn.py'

model = dict(
    backbone=dict(
        arch=dict(_delete_=True, depths=(1, 1, 3, 1), dims=(32, 64, 128, 256)),
        drop_path_rate=0.0,
        layer_scale_init_value=1e-6,
        init_cfg=None),
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=64),
    rpn_head=dict(in_channels=64, feat_channels=64),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=64),
        bbox_head=dict(in_channels=64, fc_out_channels=256, num_classes=3),
        mask_roi_extractor=dict(out_channels=64),
        mask_head=dict(in_channels=64, conv_out_channels=32, num_classes=3)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=300)))
