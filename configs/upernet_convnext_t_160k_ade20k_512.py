# UperNet + ConvNeXt-T (ImageNet-1K), ADE20K 512x512, 160k iterations of 16
# images (8 GPUs x 2), fp16: the bases as they are (drop path 0.4, lr 1e-4,
# stage-wise decay 0.9, num_layers 6). The base of the -S and -B configs.
_base_ = [
    '_base_/models/upernet_convnext.py', '_base_/datasets/ade20k.py',
    '_base_/default_runtime_seg.py', '_base_/schedules/schedule_160k.py'
]
