# UperNet + ConvNeXt-L (ImageNet-22K), ADE20K 640x640, fp32.
_base_ = './upernet_convnext_b_160k_ade20k_640_in22k.py'
model = dict(
    backbone=dict(
        arch='large', init_cfg=dict(checkpoint='convnext_large_22k_224')),
    decode_head=dict(in_channels=[192, 384, 768, 1536]),
    auxiliary_head=dict(in_channels=768))
optim_wrapper = dict(type='OptimWrapper')
