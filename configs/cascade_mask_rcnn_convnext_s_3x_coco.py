# Cascade Mask R-CNN, ConvNeXt-S (ImageNet-1K), 3x schedule, fp16.
# Paper: 51.9 box AP, 45.0 mask AP, 108M parameters, 827G FLOPs.
# As ConvNeXt-T, with: arch, drop path 0.6, num_layers 12 (stage 3 is 27 deep).
_base_ = './cascade_mask_rcnn_convnext_t_3x_coco.py'

checkpoint_file = 'https://dl.fbaipublicfiles.com/convnext/convnext_small_1k_224.pth'  # noqa: E501
model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.6,
        init_cfg=dict(checkpoint=checkpoint_file)))

optim_wrapper = dict(paramwise_cfg=dict(num_layers=12))
