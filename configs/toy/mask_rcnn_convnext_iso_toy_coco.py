# Toy Mask R-CNN on an isotropic ConvNeXt for a CPU: the toy Mask R-CNN
# (64-channel FPN and narrow heads on the toy COCO data, from scratch) with its
# ConvNeXt replaced by a small isotropic one (4 blocks of 128 at the paper's
# patch 16) and ViTDet's simple feature pyramid in front of the FPN, as in the
# full configs: strides 4 and 8 come from transposed convs of the 8x8 map.
# 10 epochs (500 iterations of 4 images), lr x0.1 after the ninth (box AP
# 0.41 after 8 epochs, 0.59 after 12).
_base_ = [
    '../_base_/recipes/toy_coco.py',
    '../_base_/models/mask_rcnn_convnext_fpn_toy.py'
]

depth, dim = 4, 128
model = dict(
    backbone=dict(
        _delete_=True,
        type='convnext_dense.ConvNeXtIsotropic',
        arch=dict(depth=depth, dim=dim)),
    # The mask head of 64 channels it was tuned with (the toy Mask R-CNN's
    # has 32).
    roi_head=dict(mask_head=dict(conv_out_channels=64)),
    neck=[
        dict(
            type='convnext_dense.SimpleFeaturePyramid',
            in_channels=dim,
            in_stride=16),
        dict(_base_.model.neck, in_channels=[dim // 4, dim // 2, dim, dim]),
    ])

max_epochs = 10
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    _base_.param_scheduler[0],
    dict(_base_.param_scheduler[1], end=max_epochs,
         milestones=[max_epochs - 1]),
]
# The plain layer-wise rule: num_layers is the depth.
optim_wrapper = dict(
    optimizer=dict(lr=2e-3), paramwise_cfg=dict(num_layers=depth))
