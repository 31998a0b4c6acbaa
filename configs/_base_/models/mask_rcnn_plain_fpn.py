# Mask R-CNN on a plain (single-scale) backbone: the ConvNeXt base's FPN (256
# channels, 5 levels) and standard heads, fed by ViTDet's simple feature
# pyramid, which turns the backbone's one map into strides 4/8/16/32 (whatever
# the patch size). Isotropic ConvNeXt-S here; leaves set the backbone, the
# pyramid's input (channels, patch size) and the FPN's in_channels (the
# pyramid's out_channels: C/4, C/2, C, C from stride 16; C/2, C, C, C from 8).
_base_ = './mask_rcnn_convnext_fpn.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='convnext_dense.ConvNeXtIsotropic',
        arch='small',
        drop_path_rate=0.1),
    neck=[
        dict(
            type='convnext_dense.SimpleFeaturePyramid',
            in_channels=384,
            in_stride=16),
        dict(
            type='FPN',
            in_channels=[96, 192, 384, 384],
            out_channels=256,
            num_outs=5),
    ])
