# The paper's COCO schedule: 3x = 36 epochs, lr x0.1 after epochs 27 and 33,
# AdamW with layer-wise lr decay, mixed precision. Leaves set lr, decay_rate
# and num_layers (6 for ConvNeXt-T, 12 for the depth-27 archs).
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=36, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    # Linear warmup from 0.001x over 500 iterations, as the official configs
    # (mmdet 2.x schedule_1x); mmdet 3.x's port of them uses 1000.
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=36,
        by_epoch=True,
        milestones=[27, 33],
        gamma=0.1)
]

# fp16: mmengine's AmpOptimWrapper (dynamic loss scale). Without CUDA the
# tools fall back to fp32 with one warning.
optim_wrapper = dict(
    type='AmpOptimWrapper',
    constructor='convnext_dense.LayerDecayOptimizerConstructor',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(decay_rate=0.95, decay_type='layer_wise', num_layers=6))

# The paper's batch: 8 GPUs x 2 images = 16 images per iteration. With
# --auto-scale-lr the lr follows the actual total batch linearly.
auto_scale_lr = dict(enable=False, base_batch_size=16)
