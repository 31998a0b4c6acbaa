# Toy UperNet on an isotropic ConvNeXt for a CPU: the toy UperNet (toy ADE20K
# data, from scratch, the real recipe at toy sizes) with its ConvNeXt replaced
# by a small isotropic one (4 blocks of 64) and ViTDet's simple feature pyramid
# in front of the heads. Patch 4 instead of the paper's 16: the toy classes
# differ by thin rings and fine textures, which 16x16 patches of 96x96 crops
# do not resolve in a CPU run (mIoU 28 after 300 iterations, 65 with patch 4).
# 300 iterations of 8 (mIoU 65.5; 70.2 after 400).
_base_ = './upernet_convnext_toy_ade.py'

depth, dim, patch = 4, 64, 4
max_iters = 300
model = dict(
    backbone=dict(
        _delete_=True,
        type='convnext_dense.ConvNeXtIsotropic',
        arch=dict(depth=depth, dim=dim),
        patch_size=patch),
    neck=dict(
        type='convnext_dense.SimpleFeaturePyramid',
        in_channels=dim,
        in_stride=patch),
    decode_head=dict(in_channels=[dim] * 4),
    auxiliary_head=dict(in_channels=dim))
# The plain layer-wise rule (there are no stages): num_layers is the depth.
optim_wrapper = dict(
    optimizer=dict(lr=4e-3),
    paramwise_cfg=dict(decay_type='layer_wise', num_layers=depth))
param_scheduler = [
    _base_.param_scheduler[0],
    dict(_base_.param_scheduler[1], end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
