# The embedded toy dataset in the ADE20K layout (convnext_dense.toydata.
# toy_ade): 128x128 images, four classes told apart by shape or texture, label
# 0 = "other", ignored through reduce_zero_label as in ADE20K. ade20k.py's
# pipelines at toy sizes (a narrower scale range: the images are small).
_base_ = './ade20k.py'
from convnext_dense.data.pipelines import resized_seg_pipelines  # noqa: E402

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
train_pipeline, test_pipeline, tta_pipeline = resized_seg_pipelines(
    _base_, img_scale, crop_size, ratio_range=(0.75, 1.5))
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
