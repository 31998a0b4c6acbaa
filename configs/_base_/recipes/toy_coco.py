# Everything a toy detection config takes but its model: the toy COCO data,
# the 3x schedule shrunk for a CPU, the detection runtime. The model is a
# models/ piece listed next to it (the toy Cascade shares this recipe with the
# toy Mask R-CNNs but its model with the full Cascades).
_base_ = [
    '../datasets/coco_instance.py', '../schedules/schedule_3x.py',
    '../default_runtime_det.py'
]

# Data: the embedded toy COCO dataset (convnext_dense.data.toy.toy_coco),
# 128x128 images of three shape classes, read, evaluated (box and mask AP
# through pycocotools) and batched as COCO is. Training sees the images at
# their own size with horizontal flips only: in the few hundred iterations a
# CPU run affords, COCO's multi-scale and crop branches cost more than they
# give (toy Mask R-CNN box AP 0.18 with them, 0.39 without, in 400
# iterations).
data_root = 'data/toy_coco/'
data_hint = ('generate the toy dataset with: python tools/make_toy_data.py '
             'coco (make demo does it too)')
metainfo = dict(
    classes=('square', 'circle', 'triangle'),
    palette=[(230, 25, 75), (60, 180, 75), (0, 130, 200)])

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor')),
]

# Batches of 4; loading 128x128 images is cheap enough for the main process.
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

# Schedule: 13 epochs of the 200 toy images (650 iterations of 4), a short warmup, lr x0.1 after
# epochs 11 and 12, a higher lr for training from scratch. Still AdamW with
# layer-wise lr decay and an fp16 wrapper (fp32 without CUDA).
train_cfg = dict(max_epochs=13, val_interval=13)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=50),
    dict(
        type='MultiStepLR',
        begin=0,
        end=13,
        by_epoch=True,
        milestones=[11, 12],
        gamma=0.1)
]
# The toy backbone's stage 2 has 3 blocks: layer ids 0..4, num_layers 4.
optim_wrapper = dict(
    optimizer=dict(lr=1e-3),
    paramwise_cfg=dict(decay_rate=0.9, num_layers=4))
auto_scale_lr = dict(base_batch_size=4)
# Seeded: a toy run gives the same AP run after run on one machine.
randomness = dict(seed=0)

# Runtime: logs every 10 iterations, keeps the last two checkpoints.
default_hooks = dict(
    logger=dict(interval=10), checkpoint=dict(max_keep_ckpts=2))
