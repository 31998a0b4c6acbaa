# Cascade Mask R-CNN, ConvNeXt-T (ImageNet-1K), 3x schedule, fp16; drop path
# 0.4 and num_layers 6 from the bases. The base of every Cascade config.
# Paper: 50.4 box AP, 43.7 mask AP, 86M parameters, 741G FLOPs.
_base_ = [
    '_base_/models/cascade_mask_rcnn_convnext_fpn.py',
    '_base_/datasets/coco_instance.py', '_base_/schedules/schedule_3x.py',
    '_base_/default_runtime_det.py'
]
optim_wrapper = dict(optimizer=dict(lr=2e-4), paramwise_cfg=dict(decay_rate=0.7))
