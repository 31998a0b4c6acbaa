# The embedded default: UperNet on a tiny ConvNeXt trained from scratch on the
# toy ADE20K-layout dataset (make demo-seg). It keeps the real recipe (AdamW,
# stage-wise lr decay, warmup then poly, photometric and scale augmentation,
# sliding-window and ms+flip test) at toy sizes: 600 iterations of 8 images
# (mIoU 65.5 on the held-out split; 71.4 after 800, 51.3 after 400).
_base_ = [
    '../_base_/models/upernet_convnext.py', '../_base_/datasets/ade20k.py',
    '../_base_/default_runtime_seg.py', '../_base_/schedules/schedule_160k.py'
]

# Data: the embedded toy dataset in the ADE20K layout (convnext_dense.data.toy.
# toy_ade), 128x128 images, four classes told apart by shape or texture, label
# 0 = "other", ignored through reduce_zero_label as in ADE20K.
dataset_type = 'BaseSegDataset'
data_root = 'data/toy_ade'
data_hint = ('generate the toy dataset with: python tools/make_toy_data.py '
             'ade (make demo-seg does it too)')
# The generator's CLASSES and PALETTE (tests check they agree).
metainfo = dict(
    classes=('disc', 'ring', 'stripes', 'checker'),
    palette=[[230, 25, 75], [60, 180, 75], [0, 130, 200], [245, 130, 48]])
# ade20k.py's pipelines with toy sizes in their resize and crop steps, and a
# narrower scale range (the images are small).
crop_size = (96, 96)
img_scale = (256, 128)
train_pipeline = [
    dict(step, scale=img_scale, ratio_range=(0.75, 1.5))
    if step.type == 'RandomResize' else
    dict(step, crop_size=crop_size) if step.type == 'RandomCrop' else step
    for step in _base_.train_pipeline
]
test_pipeline = [
    dict(step, scale=img_scale) if step.type == 'Resize' else step
    for step in _base_.test_pipeline
]
# Multi-scale + flip: img_scale times each of ade20k.py's img_ratios.
tta_pipeline = [
    _base_.tta_pipeline[0],
    dict(
        _base_.tta_pipeline[1],
        transforms=[
            [dict(type='Resize', keep_ratio=True,
                  scale=(int(img_scale[0] * r), int(img_scale[1] * r)))
             for r in _base_.img_ratios],
            *_base_.tta_pipeline[1].transforms[1:],
        ]),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    dataset=dict(type=dataset_type, data_root=data_root, metainfo=metainfo,
                 pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=1,
    dataset=dict(type=dataset_type, data_root=data_root, metainfo=metainfo,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader

# Model and recipe.
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
