# The 3x schedule shrunk for the toy detection configs on a CPU: 13 epochs of
# the 200 toy images (650 iterations of 4), a short warmup, lr x0.1 after
# epochs 11 and 12, a higher lr for training from scratch. Still AdamW with
# layer-wise lr decay and an fp16 wrapper (fp32 without CUDA).
_base_ = './schedule_3x.py'

train_cfg = dict(max_epochs=13, val_interval=13)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=50),
    dict(
        type='MultiStepLR',
        begin=0,
        end=13,
        by_epoch=True,
        milestones=[11, 12],
        gamma=0.1)
]
# The toy backbone's stage 2 has 3 blocks: layer ids 0..4, num_layers 4.
optim_wrapper = dict(
    optimizer=dict(lr=1e-3),
    paramwise_cfg=dict(decay_rate=0.9, num_layers=4))
auto_scale_lr = dict(base_batch_size=4)
# Seeded: a toy run gives the same AP run after run on one machine.
randomness = dict(seed=0)
