# UperNet on a plain (single-scale) backbone: the ConvNeXt base's heads, fed by
# ViTDet's simple feature pyramid (strides 4/8/16/32 from the backbone's one
# map, whatever the patch size); the auxiliary FCN head reads the stride-16
# level. Isotropic ConvNeXt-S here; leaves set the backbone, the pyramid's
# input (channels, patch size) and the heads' in_channels (the pyramid's
# out_channels: C/4, C/2, C, C from stride 16; C/2, C, C, C from stride 8).
_base_ = './upernet_convnext.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='convnext_dense.ConvNeXtIsotropic',
        arch='small',
        drop_path_rate=0.1),
    neck=dict(
        type='convnext_dense.SimpleFeaturePyramid',
        in_channels=384,
        in_stride=16),
    decode_head=dict(in_channels=[96, 192, 384, 384]),
    auxiliary_head=dict(in_channels=384))
