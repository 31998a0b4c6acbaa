# The embedded toy dataset in the ADE20K layout (convnext_dense.datasets.
# toy_ade): 128x128 images, four classes told apart by shape or texture, label
# 0 = "other", ignored through reduce_zero_label as in ADE20K.
_base_ = './ade20k.py'
dataset_type = 'BaseSegDataset'
data_root = 'data/toy_ade'
data_hint = ('generate it with: python -m convnext_dense.datasets.toy_ade '
             'data/toy_ade (make demo-seg does it too)')
# The generator's CLASSES and PALETTE (tests check they agree).
metainfo = dict(
    classes=('disc', 'ring', 'stripes', 'checker'),
    palette=[[230, 25, 75], [60, 180, 75], [0, 130, 200], [245, 130, 48]])
crop_size = (96, 96)
img_scale = (256, 128)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=img_scale, ratio_range=(0.75, 1.5),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
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
