"""Checkpoint handling: safe loading, format conversion, pretrained init."""
from .convert import (CheckpointFormatError, ConvertedCheckpoint,
                      convert_to_dense_backbone)
from .pretrained import load_backbone_weights
from .safe_load import UnsafeCheckpointError, safe_torch_load

__all__ = [
    'CheckpointFormatError', 'ConvertedCheckpoint', 'UnsafeCheckpointError',
    'convert_to_dense_backbone', 'load_backbone_weights', 'safe_torch_load'
]
