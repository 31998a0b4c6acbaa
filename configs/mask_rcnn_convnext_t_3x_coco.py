# Mask R-CNN, ConvNeXt-T (ImageNet-1K), 3x schedule, fp16: the bases as they
# are (drop path 0.4, lr 1e-4, layer-wise decay 0.95, num_layers 6).
_base_ = [
    '_base_/models/mask_rcnn_convnext_fpn.py',
    '_base_/datasets/coco_instance.py', '_base_/schedules/schedule_3x.py',
    '_base_/default_runtime_det.py'
]
