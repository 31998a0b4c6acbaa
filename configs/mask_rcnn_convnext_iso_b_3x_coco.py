# Mask R-CNN, isotropic ConvNeXt-B (ImageNet-1K), 3x schedule, fp16: the -S
# config with the base arch (18 blocks of 768), its checkpoint and the
# pyramid's and FPN's widths.
_base_ = './mask_rcnn_convnext_iso_s_3x_coco.py'

checkpoint_file = 'https://dl.fbaipublicfiles.com/convnext/convnext_iso_base_1k_224_ema.pth'  # noqa: E501
model = dict(
    backbone=dict(arch='base', init_cfg=dict(checkpoint=checkpoint_file)),
    neck=[
        dict(_base_.model.neck[0], in_channels=768),
        dict(_base_.model.neck[1], in_channels=[192, 384, 768, 768]),
    ])
