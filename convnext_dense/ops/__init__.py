"""Fixes for mmcv ops that misread non-contiguous inputs."""
from .contiguous import install, make_inputs_contiguous

__all__ = ['install', 'make_inputs_contiguous']
