"""Training-engine components: the lr decay optimizer constructor, hooks."""
from .hooks import NonFiniteLossHook, TestProgressBarHook
from .layer_decay import (DECAY_TYPES, LayerDecayOptimizerConstructor,
                          layer_wise_id, plain_layer_wise_id, stage_wise_id)

__all__ = [
    'DECAY_TYPES', 'LayerDecayOptimizerConstructor', 'NonFiniteLossHook',
    'TestProgressBarHook',
    'layer_wise_id', 'plain_layer_wise_id', 'stage_wise_id'
]
