"""Models: the ConvNeXt dense-prediction backbone."""
from .convnext import ARCH_SETTINGS, STAGE_STRIDES, ConvNeXt, LayerNorm2d

__all__ = ['ARCH_SETTINGS', 'STAGE_STRIDES', 'ConvNeXt', 'LayerNorm2d']
