# UperNet + ConvNeXt V2-H (FCMAE pre-trained), ADE20K 512x512, 160k, fp16:
# V2-B's config with the huge backbone.
_base_ = './upernet_convnextv2_b_fcmae_160k_ade20k_512.py'
model = dict(
    backbone=dict(
        arch='huge',
        init_cfg=dict(checkpoint='convnextv2_huge_1k_224_fcmae')),
    decode_head=dict(in_channels=[352, 704, 1408, 2816]),
    auxiliary_head=dict(in_channels=1408))
