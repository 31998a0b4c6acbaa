# Mask R-CNN, ConvMixer-1536/20 (ImageNet-1K, GELU), 3x schedule, fp16: the
# 768/32 config with the 1536/20 arch, its checkpoint, the pyramid's and FPN's
# widths and the layer-wise lr decay ViTDet would give 20 blocks (0.8, as for
# ViT-L's 24).
_base_ = './mask_rcnn_convmixer_768_32_3x_coco.py'

checkpoint_file = 'https://github.com/tmp-iclr/convmixer/releases/download/v1.0/convmixer_1536_20_ks9_p7.pth.tar'  # noqa: E501
model = dict(
    backbone=dict(arch='1536/20', init_cfg=dict(checkpoint=checkpoint_file)),
    neck=[
        dict(_base_.model.neck[0], in_channels=1536),
        dict(_base_.model.neck[1], in_channels=[768, 1536, 1536, 1536]),
    ])

optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.8, num_layers=20))
