"""Models: the ConvNeXt dense-prediction backbone, the plain (isotropic)
backbones and the simple feature pyramid that feeds them to FPN / UperNet."""
from .base import BackboneBase
from .convmixer import ARCH_SETTINGS as CONVMIXER_ARCH_SETTINGS
from .convmixer import ConvMixer
from .convnext import ARCH_SETTINGS, STAGE_STRIDES, ConvNeXt
from .convnext_v2 import ARCH_SETTINGS_V2, PRETRAINED_WEIGHTS_V2, ConvNeXtV2
from .convnext_isotropic import ARCH_SETTINGS as ISOTROPIC_ARCH_SETTINGS
from .convnext_isotropic import ConvNeXtIsotropic
from .layers import LayerNorm2d
from .plain import PlainBackbone
from .simple_pyramid import PYRAMID_STRIDES, SimpleFeaturePyramid

__all__ = [
    'ARCH_SETTINGS', 'ARCH_SETTINGS_V2', 'CONVMIXER_ARCH_SETTINGS',
    'ISOTROPIC_ARCH_SETTINGS', 'PRETRAINED_WEIGHTS_V2', 'PYRAMID_STRIDES',
    'STAGE_STRIDES', 'BackboneBase', 'ConvMixer', 'ConvNeXt',
    'ConvNeXtIsotropic', 'ConvNeXtV2', 'LayerNorm2d', 'PlainBackbone',
    'SimpleFeaturePyramid'
]
