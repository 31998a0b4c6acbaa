# Toy UperNet on a ConvMixer for a CPU: the toy UperNet with the isotropic
# toy's width, depth, pyramid and heads (upernet_convnext_iso_toy_ade.py) and a
# small ConvMixer as its backbone, 300 iterations of 8 at lr 4e-3. Patch 3
# suits the 96x96 toy crops (the released models' patch 7 suits 224 and up);
# like patch 7, it is not a power of two, so the pyramid resamples the map to
# the next one's stride (4) before building the levels. mIoU 71.1 (58.9 after
# 200 iterations).
_base_ = './upernet_convnext_toy_ade.py'

depth, dim, patch = 4, 64, 3
max_iters = 300
model = dict(
    backbone=dict(
        _delete_=True,
        type='convnext_dense.ConvMixer',
        arch=dict(embed_dims=dim, depth=depth, kernel_size=7,
                  patch_size=patch, act='GELU')),
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
