# UperNet + ConvNeXt-B (ImageNet-1K), ADE20K 512x512, fp16.
_base_ = './upernet_convnext_t_160k_ade20k_512.py'
model = dict(
    backbone=dict(
        arch='base', init_cfg=dict(checkpoint='convnext_base_1k_224')),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),
    auxiliary_head=dict(in_channels=512))
optim_wrapper = dict(paramwise_cfg=dict(num_layers=12))
