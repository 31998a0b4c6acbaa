# Toy Mask R-CNN on a ConvMixer for a CPU: the toy Mask R-CNN (64-channel FPN
# and narrow heads on the toy COCO data, from scratch) with its ConvNeXt
# replaced by a small ConvMixer and ViTDet's simple feature pyramid in front of
# the FPN. Patch 3 suits the 128x128 toy images (the released models' patch 7
# suits 224 and up); like patch 7, it is not a power of two, so the pyramid
# resamples the map to the next one's stride (4) before building the levels.
# From scratch: no layer-wise lr decay (rate 1), a higher lr, 7 epochs (350
# iterations of 4 images) with the lr step after the sixth (box AP 0.54; 0.32
# after 5 epochs).
_base_ = [
    '../_base_/recipes/toy_coco.py',
    '../_base_/models/mask_rcnn_convnext_fpn_toy.py'
]

depth, dim, patch = 4, 64, 3
model = dict(
    backbone=dict(
        _delete_=True,
        type='convnext_dense.ConvMixer',
        arch=dict(embed_dims=dim, depth=depth, kernel_size=7,
                  patch_size=patch, act='GELU')),
    # The mask head of 64 channels it was tuned with (the toy Mask R-CNN's
    # has 32).
    roi_head=dict(mask_head=dict(conv_out_channels=64)),
    neck=[
        dict(
            type='convnext_dense.SimpleFeaturePyramid',
            in_channels=dim,
            in_stride=patch),
        dict(_base_.model.neck, in_channels=[dim] * 4),
    ])

max_epochs = 7
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(_base_.param_scheduler[0], end=30),
    dict(_base_.param_scheduler[1], end=max_epochs,
         milestones=[max_epochs - 1]),
]
# The plain layer-wise rule: num_layers is the depth.
optim_wrapper = dict(
    optimizer=dict(lr=3e-3),
    paramwise_cfg=dict(decay_rate=1.0, num_layers=depth))
