# The embedded toy COCO dataset (convnext_dense.data.toy.toy_coco): 128x128
# images of three shape classes, read, evaluated (box and mask AP through
# pycocotools) and batched as COCO is. Training sees the images at their own
# size with horizontal flips only: in the few hundred iterations a CPU run
# affords, COCO's multi-scale and crop branches cost more than they give
# (toy Mask R-CNN box AP 0.18 with them, 0.39 without, in 400 iterations).
_base_ = './coco_instance.py'

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
