# UperNet + isotropic ConvNeXt-S, ImageNet-1K pretrained, ADE20K 512x512, 160k
# iterations of 16 images (8 GPUs x 2). Not evaluated by the paper: its ADE20K
# recipe (AdamW, lr 1e-4, weight decay 0.05, warmup then poly) plus ViTDet's
# choices where it gives none: the simple feature pyramid, drop path 0.1 and
# layer-wise (not stage-wise: there are no stages) lr decay set by depth as
# ViTDet does (0.7 for 12 blocks, 0.8 for 24: 0.75 for 18) under the plain rule
# (stem = layer 0, block i = layer i + 1, num_layers = depth).
# For a local copy of the weights:
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = [
    './_base_/models/upernet_convnext.py', './_base_/datasets/ade20k.py',
    './_base_/default_runtime_seg.py', './_base_/schedules/schedule_160k.py'
]
model = dict(
    data_preprocessor=dict(size=(512, 512)),
    backbone=dict(
        _delete_=True,
        type='convnext_dense.ConvNeXtIsotropic',
        arch='small',
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://dl.fbaipublicfiles.com/convnext/'
            'convnext_iso_small_1k_224_ema.pth')),
    # Strides 4/8/16/32 (widths C/4, C/2, C, C from stride 16) for the heads;
    # the auxiliary head reads the stride-16 level.
    neck=dict(
        type='convnext_dense.SimpleFeaturePyramid',
        in_channels=384,
        in_stride=16),
    decode_head=dict(in_channels=[96, 192, 384, 384]),
    auxiliary_head=dict(in_channels=384),
    test_cfg=dict(mode='slide', crop_size=(512, 512), stride=(341, 341)))
optim_wrapper = dict(
    paramwise_cfg=dict(
        decay_rate=0.75, decay_type='layer_wise', num_layers=18))
