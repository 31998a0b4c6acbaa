# UperNet + ConvNeXt-S (ImageNet-1K), ADE20K 512x512, fp16.
_base_ = './upernet_convnext_t_160k_ade20k_512.py'
model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.3,
        init_cfg=dict(checkpoint='convnext_small_1k_224')))
optim_wrapper = dict(paramwise_cfg=dict(num_layers=12))
