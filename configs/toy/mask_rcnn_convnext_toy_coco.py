# Toy Mask R-CNN for a CPU: the full config's model, trained from scratch on
# the toy COCO data with a tiny ConvNeXt, a 64-channel FPN, narrow heads (a
# 32-channel mask head) and 64 sampled RoIs per image, on the toy schedule
# (13 epochs, 650 iterations of 4 images: box AP 0.59, mask AP 0.67 when
# killed after epoch 1 and resumed, as the suite does; 0.53 / 0.61 after 12).
_base_ = [
    '../_base_/models/mask_rcnn_convnext_fpn.py',
    '../_base_/datasets/coco_instance_toy.py',
    '../_base_/schedules/schedule_toy_det.py',
    '../_base_/default_runtime_det.py'
]

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

default_hooks = dict(
    logger=dict(interval=10), checkpoint=dict(max_keep_ckpts=2))
