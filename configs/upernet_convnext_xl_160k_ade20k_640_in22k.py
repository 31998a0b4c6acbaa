# UperNet + ConvNeXt-XL, ImageNet-22K pretrained (convnext_xlarge_22k_224.pth),
# ADE20K 640x640, fp32, lr 8e-5. Paper: 53.6 mIoU, 54.0 ms+flip, 391M.
_base_ = './upernet_convnext_l_160k_ade20k_640_in22k.py'
model = dict(
    backbone=dict(
        arch='xlarge',
        init_cfg=dict(
            checkpoint='https://dl.fbaipublicfiles.com/convnext/'
            'convnext_xlarge_22k_224.pth')),
    decode_head=dict(in_channels=[256, 512, 1024, 2048]),
    auxiliary_head=dict(in_channels=1024))
optim_wrapper = dict(optimizer=dict(lr=8e-5))
