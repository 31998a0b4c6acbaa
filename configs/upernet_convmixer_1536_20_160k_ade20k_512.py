# UperNet + ConvMixer-1536/20 (GELU), ImageNet-1K pretrained, ADE20K 512x512:
# the 768/32 config with the 1536/20 arch, its checkpoint, the pyramid's and
# heads' widths and the layer-wise lr decay ViTDet would give 20 blocks (0.8,
# as for ViT-L's 24).
_base_ = './upernet_convmixer_768_32_160k_ade20k_512.py'
model = dict(
    backbone=dict(
        arch='1536/20',
        init_cfg=dict(
            checkpoint='https://github.com/tmp-iclr/convmixer/releases/'
            'download/v1.0/convmixer_1536_20_ks9_p7.pth.tar')),
    neck=dict(in_channels=1536),
    decode_head=dict(in_channels=[768, 1536, 1536, 1536]),
    auxiliary_head=dict(in_channels=1536))
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.8, num_layers=20))
