"""A tiny mmengine Runner (a 2-to-1 linear model on 8 samples) for tests of
what happens around training: checkpoints, resuming, optimizer wrappers."""
from pathlib import Path
from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner


class TinyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, targets=None, mode='tensor'):
        out = self.linear(inputs)
        if mode == 'loss':
            return dict(loss=((out - targets) ** 2).mean())
        return out


class ToyData(torch.utils.data.Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, index):
        return dict(inputs=torch.full((2, ), float(index)),
                    targets=torch.tensor([float(index)]))


def runner(work_dir: Path, max_epochs: int,
           optim_wrapper: Optional[dict] = None, **kwargs) -> Runner:
    """A Runner training :class:`TinyModel` for ``max_epochs`` (2 iterations
    each), saving a checkpoint every epoch into ``work_dir``.

    Args:
        work_dir: The Runner's work dir.
        max_epochs: Epochs to train.
        optim_wrapper: The optim_wrapper config. Defaults to SGD, lr 0.01.
        **kwargs: Other Runner arguments (``load_from``, ``resume``, ...).
    """
    return Runner(
        model=TinyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=ToyData(), batch_size=4,
            sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='default_collate')),
        optim_wrapper=optim_wrapper or dict(
            optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        randomness=dict(seed=0),
        experiment_name=f'exp_{work_dir.name}_{max_epochs}',
        **kwargs)
