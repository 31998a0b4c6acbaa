# ADE20K with 640x640 crops and single-scale test at 2560x640 (IN-22K models):
# ade20k.py's pipelines with the sizes replaced (config inheritance replaces
# lists whole, so they are rebuilt here from the base's).
_base_ = './ade20k.py'
crop_size = (640, 640)
img_scale = (2560, 640)
size_of = dict(
    RandomResize=dict(scale=img_scale),
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
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
