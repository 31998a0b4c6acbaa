# Toy Mask R-CNN for a CPU: the full config's model, trained from scratch on
# the toy COCO data with a tiny ConvNeXt, a 64-channel FPN, narrow heads (a
# 32-channel mask head) and 64 sampled RoIs per image, on the toy schedule
# (13 epochs, 650 iterations of 4 images: box AP 0.59, mask AP 0.67 when
# killed after epoch 1 and resumed, as the suite does; 0.53 / 0.61 after 12).
# The bases as they are.
_base_ = [
    '../_base_/recipes/toy_coco.py',
    '../_base_/models/mask_rcnn_convnext_fpn_toy.py'
]
