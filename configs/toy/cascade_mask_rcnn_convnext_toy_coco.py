# Toy Cascade Mask R-CNN for a CPU (what `make demo` trains): the full
# config's model, trained from scratch on the toy COCO data with a tiny
# ConvNeXt, a 64-channel FPN, narrow (32-channel) 4conv1fc cascade heads and
# mask heads, and 32 sampled RoIs per image and stage: three stages of RoI
# heads cost three times one, and mmcv's CPU RoIAlign is slow.
_base_ = [
    '../_base_/recipes/toy_coco.py',
    '../_base_/models/cascade_mask_rcnn_convnext_fpn.py'
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
        # The base's three stages (target stds, GIoU, SyncBN), narrowed.
        bbox_head=[
            dict(stage, in_channels=64, conv_out_channels=32,
                 fc_out_channels=128, num_classes=3)
            for stage in _base_.model.roi_head.bbox_head
        ],
        mask_roi_extractor=dict(out_channels=64),
        mask_head=dict(in_channels=64, conv_out_channels=32, num_classes=3)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=[
            dict(stage, sampler=dict(stage.sampler, num=32))
            for stage in _base_.model.train_cfg.rcnn
        ]),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=300)))

# The cascade's BatchNorm heads learn faster than Mask R-CNN's: 10 epochs
# (500 iterations) instead of 16, lr x0.1 after epochs 8 and 9.
train_cfg = dict(max_epochs=10, val_interval=10)
param_scheduler = [
    _base_.param_scheduler[0],
    dict(_base_.param_scheduler[1], end=10, milestones=[8, 9]),
]
