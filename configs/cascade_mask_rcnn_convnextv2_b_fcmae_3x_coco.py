# Cascade Mask R-CNN, ConvNeXt V2-B (FCMAE pre-trained), 3x schedule, fp16.
# No published V2 recipe or result: ConvNeXt-B's (V1 paper: drop path 0.7,
# lr 2e-4, layer-wise decay 0.8 over 12 layers, the paper's augmentation)
# with the V2 backbone.
_base_ = [
    './cascade_mask_rcnn_convnext_b_3x_coco.py',
    '_base_/models/convnextv2_backbones.py'
]
model = dict(backbone=dict(_base_.convnextv2_b_fcmae, drop_path_rate=0.7))
