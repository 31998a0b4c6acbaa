# Toy UperNet on an isotropic ConvNeXt for a CPU: the toy UperNet (toy ADE20K
# data, from scratch, the real recipe at toy sizes) with its ConvNeXt replaced
# by a small isotropic one (4 blocks of 64) and ViTDet's simple feature pyramid
# in front of the heads. Patch 4 instead of the paper's 16: the toy classes
# differ by thin rings and fine textures, which 16x16 patches of 96x96 crops
# do not resolve in a CPU run (mIoU 28 after 300 iterations, 65 with patch 4).
# 400 iterations of 8 at lr 2e-3: mIoU 70.3 on 2 processes (4 images each, as
# make test-long trains it) and 68.9 on one; lr 4e-3 for 300 iterations had
# given 68.6 and 60.1, then 52.6 on the same 2 processes (54.5 at lr 2e-3,
# 63.4 at lr 4e-3 for 400).
_base_ = './upernet_convnext_toy_ade.py'

depth, dim, patch = 4, 64, 4
max_iters = 400
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
    optimizer=dict(lr=2e-3),
    paramwise_cfg=dict(decay_type='layer_wise', num_layers=depth))
param_scheduler = [
    _base_.param_scheduler[0],
    dict(_base_.param_scheduler[1], end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
