# UperNet + ConvNeXt V2-L (FCMAE pre-trained), ADE20K 512x512, 160k, fp16:
# V2-B's config with the large backbone.
_base_ = './upernet_convnextv2_b_fcmae_160k_ade20k_512.py'
model = dict(
    backbone=dict(
        arch='large',
        init_cfg=dict(checkpoint='convnextv2_large_1k_224_fcmae')),
    decode_head=dict(in_channels=[192, 384, 768, 1536]),
    auxiliary_head=dict(in_channels=768))
