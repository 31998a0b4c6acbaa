# Toy Mask R-CNN with a small ConvNeXt V2 (GRN, no layer scale) for a CPU:
# the V1 toy's model, data and schedule with the V2 backbone of the same
# size, trained from scratch, and V2's block-wise lr decay (each of its 6
# blocks a layer, as the V2 authors fine-tune their smaller models).
_base_ = [
    '../_base_/recipes/toy_coco.py',
    '../_base_/models/mask_rcnn_convnext_fpn_toy.py',
    '../_base_/models/convnextv2_backbones.py'
]
model = dict(backbone=_base_.convnextv2_toy)
optim_wrapper = dict(paramwise_cfg=dict(decay_type='block_wise', num_layers=6))
