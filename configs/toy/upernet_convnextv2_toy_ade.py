# Toy UperNet with a small ConvNeXt V2 (GRN, no layer scale) for a CPU: the
# V1 toy's model, data and schedule with the V2 backbone of the same size,
# trained from scratch.
_base_ = './upernet_convnext_toy_ade.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='convnext_dense.ConvNeXtV2',
        arch=dict(depths=(1, 1, 3, 1), dims=(32, 64, 128, 256)),
        out_indices=(0, 1, 2, 3),
        init_cfg=None))
