# UperNet + ConvNeXt-T, ImageNet-1K pretrained, ADE20K 512x512, 160k
# iterations of 16 images (8 GPUs x 2). Paper: 46.0 mIoU, 46.7 ms+flip, 60M.
# Pretrained weights: the official convnext_tiny_1k_224.pth; for a local copy
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = [
    './_base_/models/upernet_convnext.py', './_base_/datasets/ade20k.py',
    './_base_/default_runtime_seg.py', './_base_/schedules/schedule_160k.py'
]
model = dict(
    data_preprocessor=dict(size=(512, 512)),
    backbone=dict(
        arch='tiny',
        drop_path_rate=0.4,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://dl.fbaipublicfiles.com/convnext/'
            'convnext_tiny_1k_224.pth')),
    test_cfg=dict(mode='slide', crop_size=(512, 512), stride=(341, 341)))
optim_wrapper = dict(paramwise_cfg=dict(num_layers=6))
