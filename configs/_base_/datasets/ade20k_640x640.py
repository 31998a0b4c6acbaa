# ADE20K with 640x640 crops and single-scale test at 2560x640 (IN-22K models):
# ade20k.py's pipelines at that size.
_base_ = './ade20k.py'
from convnext_dense.data.pipelines import resized_seg_pipelines  # noqa: E402

crop_size = (640, 640)
img_scale = (2560, 640)
train_pipeline, test_pipeline, tta_pipeline = resized_seg_pipelines(
    _base_, img_scale, crop_size)
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
