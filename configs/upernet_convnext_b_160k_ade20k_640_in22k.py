# UperNet + ConvNeXt-B (ImageNet-22K), ADE20K 640x640 crops (sliding-window
# test, stride 426), 160k iterations, fp16. The base of the 640x640 configs.
_base_ = [
    '_base_/models/upernet_convnext.py', '_base_/datasets/ade20k.py',
    '_base_/default_runtime_seg.py', '_base_/schedules/schedule_160k.py'
]
# ADE20K with 640x640 crops and single-scale test at 2560x640: ade20k.py's
# pipelines with these sizes in their resize and crop steps.
crop_size = (640, 640)
img_scale = (2560, 640)
train_pipeline = [
    dict(step, scale=img_scale) if step.type == 'RandomResize' else
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
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

model = dict(
    data_preprocessor=dict(size=(640, 640)),
    backbone=dict(
        arch='base', init_cfg=dict(checkpoint='convnext_base_22k_224')),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),
    auxiliary_head=dict(in_channels=512),
    test_cfg=dict(crop_size=(640, 640), stride=(426, 426)))
optim_wrapper = dict(paramwise_cfg=dict(num_layers=12))
