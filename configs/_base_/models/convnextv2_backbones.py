# ConvNeXt V2 backbones that the V2 configs put in place of their V1 bases'
# (whose layer scale V2 lacks, hence _delete_). V2-B with its official FCMAE
# pre-training weights (by name: convnext_dense.models.PRETRAINED_WEIGHTS_V2;
# a local copy: --cfg-options model.backbone.init_cfg.checkpoint=PATH), and
# the toys' small V2 trained from scratch.
convnextv2_b_fcmae = dict(
    _delete_=True,
    type='convnext_dense.ConvNeXtV2',
    arch='base',
    drop_path_rate=0.4,
    out_indices=(0, 1, 2, 3),
    init_cfg=dict(type='Pretrained', checkpoint='convnextv2_base_1k_224_fcmae'))
convnextv2_toy = dict(
    convnextv2_b_fcmae,
    arch=dict(depths=(1, 1, 3, 1), dims=(32, 64, 128, 256)),
    drop_path_rate=0.0,
    init_cfg=None)
