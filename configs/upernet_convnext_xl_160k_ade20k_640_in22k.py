# UperNet + ConvNeXt-XL (ImageNet-22K), ADE20K 640x640, fp32, lr 8e-5.
_base_ = './upernet_convnext_b_160k_ade20k_640_in22k.py'
model = dict(
    backbone=dict(
        arch='xlarge', init_cfg=dict(checkpoint='convnext_xlarge_22k_224')),
    decode_head=dict(in_channels=[256, 512, 1024, 2048]),
    auxiliary_head=dict(in_channels=1024))
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(lr=8e-5))
