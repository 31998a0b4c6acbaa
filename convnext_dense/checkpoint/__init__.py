"""ConvNeXt checkpoints: format conversion and pretrained backbone init.

Weights-only loading and atomic saves are fixes to mmengine and live in
:mod:`convnext_dense.patches`.
"""
from convnext_dense.errors import CheckpointFormatError, UnsafeCheckpointError

from .convert import (ConvertedCheckpoint, convert_to_dense_backbone,
                      convert_v2_to_dense_backbone)
from .convert_isotropic import convert_convmixer, convert_isotropic_convnext
from .pretrained import load_backbone_weights

__all__ = [
    'CheckpointFormatError', 'ConvertedCheckpoint', 'UnsafeCheckpointError',
    'convert_convmixer', 'convert_isotropic_convnext',
    'convert_to_dense_backbone', 'convert_v2_to_dense_backbone',
    'load_backbone_weights'
]
