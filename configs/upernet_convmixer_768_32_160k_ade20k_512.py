# UperNet + ConvMixer-768/32 (ReLU as released), ImageNet-1K pretrained,
# ADE20K 512x512, 160k iterations of 16 images (8 GPUs x 2). Not evaluated by
# its authors: the ConvNeXt paper's ADE20K recipe (AdamW, lr 1e-4, weight decay
# 0.05, warmup then poly) plus ViTDet's choices where it gives none: the simple
# feature pyramid (patch 7: resampled to stride 8, see SimpleFeaturePyramid)
# and layer-wise lr decay set by depth as ViTDet does (0.9 for ViT-H's 32
# blocks) under the plain rule (stem = layer 0, block i = layer i + 1,
# num_layers = depth). BatchNorm statistics stay frozen (norm_eval): 2 images
# per GPU would replace ImageNet's.
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
        type='convnext_dense.ConvMixer',
        arch='768/32',
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://github.com/tmp-iclr/convmixer/releases/'
            'download/v1.0/convmixer_768_32_ks7_p7_relu.pth.tar')),
    # Strides 4/8/16/32 (widths C/2, C, C, C from stride 8) for the heads.
    neck=dict(
        type='convnext_dense.SimpleFeaturePyramid',
        in_channels=768,
        in_stride=7),
    decode_head=dict(in_channels=[384, 768, 768, 768]),
    auxiliary_head=dict(in_channels=768),
    test_cfg=dict(mode='slide', crop_size=(512, 512), stride=(341, 341)))
optim_wrapper = dict(
    paramwise_cfg=dict(decay_rate=0.9, decay_type='layer_wise', num_layers=32))
