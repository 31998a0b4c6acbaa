# UperNet + ConvNeXt-B, ImageNet-22K pretrained, ADE20K 640x640, 160k
# iterations of 16 images (8 GPUs x 2). Paper: 52.6 mIoU, 53.1 ms+flip, 122M.
# Pretrained weights: the official convnext_base_22k_224.pth; for a local copy
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = [
    './_base_/models/upernet_convnext.py',
    './_base_/datasets/ade20k_640x640.py', './_base_/default_runtime_seg.py',
    './_base_/schedules/schedule_160k.py'
]
model = dict(
    data_preprocessor=dict(size=(640, 640)),
    backbone=dict(
        arch='base',
        drop_path_rate=0.4,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://dl.fbaipublicfiles.com/convnext/'
            'convnext_base_22k_224.pth')),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),
    auxiliary_head=dict(in_channels=512),
    test_cfg=dict(mode='slide', crop_size=(640, 640), stride=(426, 426)))
optim_wrapper = dict(paramwise_cfg=dict(num_layers=12))
