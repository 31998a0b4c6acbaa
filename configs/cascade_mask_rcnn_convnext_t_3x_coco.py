# Cascade Mask R-CNN, ConvNeXt-T (ImageNet-1K), 3x schedule, fp16: the bases
# as they are (drop path 0.4, lr 2e-4, layer-wise decay 0.7, num_layers 6).
_base_ = [
    '_base_/models/cascade_mask_rcnn_convnext_fpn.py',
    '_base_/recipes/coco_3x_cascade.py'
]
