# The embedded default: UperNet on a tiny ConvNeXt trained from scratch on the
# toy ADE20K-layout dataset (make demo-seg). It keeps the real recipe (AdamW,
# stage-wise lr decay, warmup then poly, photometric and scale augmentation,
# sliding-window and ms+flip test) at toy sizes: 600 iterations of 8 images
# (mIoU 65.5 on the held-out split; 71.4 after 800, 51.3 after 400).
_base_ = [
    '../_base_/models/upernet_convnext.py', '../_base_/datasets/ade20k_toy.py',
    '../_base_/default_runtime_seg.py', '../_base_/schedules/schedule_160k.py'
]
max_iters = 600
model = dict(
    data_preprocessor=dict(size=(96, 96)),
    backbone=dict(
        arch=dict(
            _delete_=True, depths=[1, 1, 3, 1], dims=[32, 64, 128, 256]),
        drop_path_rate=0.0,
        init_cfg=None),
    decode_head=dict(in_channels=[32, 64, 128, 256], channels=64,
                     num_classes=4),
    auxiliary_head=dict(in_channels=128, channels=32, num_classes=4),
    test_cfg=dict(crop_size=(96, 96), stride=(64, 64)))
# From scratch, in fp32 (the Runner also turns the heads' SyncBN into BN).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(lr=2e-3),
    paramwise_cfg=dict(num_layers=6))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
         end=50),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=50,
         end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=max_iters))
env_cfg = dict(cudnn_benchmark=False)
randomness = dict(seed=0)
