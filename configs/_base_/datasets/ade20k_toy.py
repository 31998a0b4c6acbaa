# The embedded toy dataset in the ADE20K layout (convnext_dense.datasets.
# toy_ade): 128x128 images, four classes told apart by shape or texture, label
# 0 = "other", ignored through reduce_zero_label as in ADE20K. ade20k.py's
# pipelines at toy sizes (a narrower scale range: the images are small).
_base_ = './ade20k.py'
dataset_type = 'BaseSegDataset'
data_root = 'data/toy_ade'
data_hint = ('generate the toy dataset with: python tools/make_toy_data.py '
             'ade (make demo-seg does it too)')
# The generator's CLASSES and PALETTE (tests check they agree).
metainfo = dict(
    classes=('disc', 'ring', 'stripes', 'checker'),
    palette=[[230, 25, 75], [60, 180, 75], [0, 130, 200], [245, 130, 48]])
crop_size = (96, 96)
img_scale = (256, 128)
size_of = dict(
    RandomResize=dict(scale=img_scale, ratio_range=(0.75, 1.5)),
    RandomCrop=dict(crop_size=crop_size),
    Resize=dict(scale=img_scale))
train_pipeline = [
    dict(step, **size_of.get(step.type, {})) for step in _base_.train_pipeline
]
test_pipeline = [
    dict(step, **size_of.get(step.type, {})) for step in _base_.test_pipeline
]
tta_pipeline = [
    _base_.tta_pipeline[0],
    dict(_base_.tta_pipeline[1], transforms=[
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
