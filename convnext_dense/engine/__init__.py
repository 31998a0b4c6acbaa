"""Training-engine components: the lr decay optimizer constructor, hooks."""
from .hooks import NonFiniteLossHook, TestProgressBarHook
from .layer_decay import (DECAY_TYPES, LayerDecayOptimizerConstructor,
                          decay_backbone)

__all__ = [
    'DECAY_TYPES', 'LayerDecayOptimizerConstructor', 'NonFiniteLossHook',
    'TestProgressBarHook', 'decay_backbone'
]
