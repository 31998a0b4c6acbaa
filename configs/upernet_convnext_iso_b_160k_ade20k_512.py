# UperNet + isotropic ConvNeXt-B, ImageNet-1K pretrained, ADE20K 512x512: the
# -S config with the base arch (18 blocks of 768), its checkpoint and the
# pyramid's and heads' widths.
_base_ = './upernet_convnext_iso_s_160k_ade20k_512.py'
model = dict(
    backbone=dict(
        arch='base',
        init_cfg=dict(
            checkpoint='https://dl.fbaipublicfiles.com/convnext/'
            'convnext_iso_base_1k_224_ema.pth')),
    neck=dict(in_channels=768),
    decode_head=dict(in_channels=[192, 384, 768, 768]),
    auxiliary_head=dict(in_channels=768))
