# ADE20K (ADEChallengeData2016), 150 classes, label 0 ignored through
# reduce_zero_label; 512x512 crops, single-scale test at 2048x512.
dataset_type = 'ADE20KDataset'
data_root = 'data/ade/ADEChallengeData2016'
data_hint = ('download ADEChallengeData2016.zip from '
             'http://data.csail.mit.edu/places/ADEchallenge/'
             'ADEChallengeData2016.zip and unzip it into data/ade/ (it '
             'holds images/{training,validation} and '
             'annotations/{training,validation})')
crop_size = (512, 512)
img_scale = (2048, 512)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=img_scale, ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
# Labels are loaded after Resize: metrics are computed at the original size.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
# Multi-scale + flip (tools/test.py --tta): img_scale times each ratio, as
# the official MultiScaleFlipAug(img_ratios=...) did.
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', keep_ratio=True,
              scale=(int(img_scale[0] * r), int(img_scale[1] * r)))
         for r in img_ratios],
        [dict(type='RandomFlip', prob=0., direction='horizontal'),
         dict(type='RandomFlip', prob=1., direction='horizontal')],
        [dict(type='LoadAnnotations', reduce_zero_label=True)],
        [dict(type='PackSegInputs')],
    ]),
]
# 2 images per GPU; 8 GPUs give the 16 images per iteration of the paper.
train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path='images/training', seg_map_path='annotations/training'),
        reduce_zero_label=True,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path='images/validation',
            seg_map_path='annotations/validation'),
        reduce_zero_label=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# mmseg's IoUMetric, also returning the per-class IoU/Acc (metrics JSON).
val_evaluator = dict(
    type='convnext_dense.PerClassIoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
