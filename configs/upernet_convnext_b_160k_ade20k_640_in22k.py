# UperNet + ConvNeXt-B (ImageNet-22K), ADE20K 640x640 crops (sliding-window
# test, stride 426), 160k iterations, fp16. The base of the 640x640 configs.
# Paper: 52.6 mIoU, 53.1 ms+flip, 122M parameters, 1828G FLOPs.
_base_ = [
    '_base_/models/upernet_convnext.py', '_base_/datasets/ade20k_640x640.py',
    '_base_/default_runtime_seg.py', '_base_/schedules/schedule_160k.py'
]
model = dict(
    data_preprocessor=dict(size=(640, 640)),
    backbone=dict(
        arch='base', init_cfg=dict(checkpoint='convnext_base_22k_224')),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),
    auxiliary_head=dict(in_channels=512),
    test_cfg=dict(crop_size=(640, 640), stride=(426, 426)))
optim_wrapper = dict(paramwise_cfg=dict(num_layers=12))
