# COCO 2017 instance segmentation (boxes + masks) with the paper's training
# augmentation, and box/mask AP through pycocotools (mmdet's CocoMetric).
dataset_type = 'CocoDataset'
data_root = 'data/coco/'
# Shown by tools/train.py and tools/test.py when a dataset path is missing.
data_hint = ('download COCO 2017 into data/coco/ (annotations/'
             'instances_train2017.json, annotations/instances_val2017.json, '
             'train2017/, val2017/)')
backend_args = None

# Short sides 480..800 in steps of 32, long side at most 1333.
multi_scales = [(1333, short) for short in range(480, 801, 32)]
# Augmentation from DETR / Sparse R-CNN: flip, then one of two branches.
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomChoice',
        transforms=[
            # (a) multi-scale resize.
            [dict(type='RandomChoiceResize', scales=multi_scales,
                  keep_ratio=True)],
            # (b) resize, random crop (negative crops allowed), (a)'s resize.
            [
                dict(
                    type='RandomChoiceResize',
                    scales=[(1333, 400), (1333, 500), (1333, 600)],
                    keep_ratio=True),
                dict(
                    type='RandomCrop',
                    crop_type='absolute_range',
                    crop_size=(384, 600),
                    allow_negative_crop=True),
                dict(
                    type='RandomChoiceResize',
                    scales=multi_scales,
                    keep_ratio=True),
            ],
        ]),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor')),
]

# 2 images per GPU; the paper trains on 8 GPUs: 16 images per iteration.
train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img='train2017/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_val2017.json',
        data_prefix=dict(img='val2017/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

# type='convnext_dense.FasterCocoMetric' gives the same AP from
# faster-coco-eval (pip install faster-coco-eval), several times faster.
val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/instances_val2017.json',
    metric=['bbox', 'segm'],
    format_only=False,
    backend_args=backend_args)
test_evaluator = val_evaluator
