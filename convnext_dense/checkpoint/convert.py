"""Pure conversion of ConvNeXt checkpoints to the official dense-backbone keys.

Recognised by content, with no hint from the user:

* official ImageNet checkpoints: ``{'model': {...}}`` with ``norm.*`` and ``head.*``;
* official COCO/ADE20K fine-tuned checkpoints and the toolkit's own (mmengine)
  checkpoints: ``{'state_dict': {'backbone.…': …, 'neck.…': …}}``;
* timm checkpoints: ``stem.0.*``, ``stages.N.blocks.M.conv_dw.*``, ``head.*``;
* mmpretrain checkpoints: ``backbone.stages.N.M.depthwise_conv.*``;
* a bare dense-backbone state dict (``downsample_layers.*``, ``norm0..3``).

A classifier's final norm (official ``norm``, timm ``head.norm``, mmpretrain
``backbone.norm3`` without ``norm0..2`` beside it) normalises pooled features,
not stage-3 maps: like the official dense code, it is not loaded, and the
dense output norms start fresh.
"""
import re
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Tuple

import torch

from convnext_dense.errors import CheckpointFormatError

StateDict = Dict[str, torch.Tensor]

#: Keys that identify each naming scheme, as (format, suffix of the stem conv
#: weight, pattern that only this scheme's block keys match).
_SCHEMES: Tuple[Tuple[str, str, str], ...] = (
    ('timm', 'stem.0.weight', r'stages\.\d+\.blocks\.\d+\.conv_dw\.'),
    ('mmpretrain', 'downsample_layers.0.0.weight',
     r'stages\.\d+\.\d+\.depthwise_conv\.'),
    ('official', 'downsample_layers.0.0.weight', r'stages\.\d+\.\d+\.dwconv\.'),
)

_TIMM_RENAMES: Tuple[Tuple[str, str], ...] = (
    (r'^stem\.(\d)\.', r'downsample_layers.0.\1.'),
    (r'^stages\.(\d+)\.downsample\.(\d)\.', r'downsample_layers.\1.\2.'),
    (r'^stages\.(\d+)\.blocks\.(\d+)\.conv_dw\.', r'stages.\1.\2.dwconv.'),
    (r'^stages\.(\d+)\.blocks\.(\d+)\.mlp\.fc1\.', r'stages.\1.\2.pwconv1.'),
    (r'^stages\.(\d+)\.blocks\.(\d+)\.mlp\.fc2\.', r'stages.\1.\2.pwconv2.'),
    (r'^stages\.(\d+)\.blocks\.(\d+)\.', r'stages.\1.\2.'),
    (r'^head\.norm\.', 'norm.'),
)

_MMPRETRAIN_RENAMES: Tuple[Tuple[str, str], ...] = (
    (r'\.depthwise_conv\.', '.dwconv.'),
    (r'\.pointwise_conv1\.', '.pwconv1.'),
    (r'\.pointwise_conv2\.', '.pwconv2.'),
)

_BACKBONE_KEY = re.compile(
    r'^(downsample_layers\.\d+\.\d+\.|stages\.\d+\.\d+\.(dwconv|norm|pwconv1|'
    r'pwconv2)\.|stages\.\d+\.\d+\.gamma$|norm\d\.)')
_DENSE_NORM = re.compile(r'^norm(\d)\.')


@dataclass(frozen=True)
class ConvertedCheckpoint:
    """Backbone weights under official dense-backbone names.

    Attributes:
        state_dict: The backbone's weights, official dense-backbone keys.
        source_format: What the checkpoint was recognised as, for the log.
        ignored_keys: The checkpoint's keys that are not backbone weights
            (neck, heads, classifier head and final norm), original names.
    """
    state_dict: StateDict
    source_format: str
    ignored_keys: Tuple[str, ...]


def unwrap_weights(checkpoint: Mapping) -> Tuple[Mapping, str]:
    """Returns the tensor mapping inside a checkpoint and the key it sat under."""
    for container in ('state_dict', 'model', 'module'):
        inner = checkpoint.get(container)
        if isinstance(inner, Mapping):
            return inner, container
    return checkpoint, ''


def detect_scheme(keys: List[str]) -> Tuple[str, str]:
    """Returns ``(scheme, prefix)``: the key naming scheme and the backbone prefix."""
    for scheme, stem_suffix, block_pattern in _SCHEMES:
        if not any(re.search(block_pattern, k) for k in keys):
            continue
        for key in keys:
            if key.endswith(stem_suffix):
                return scheme, key[:-len(stem_suffix)]
    sample = ', '.join(repr(k) for k in keys[:3]) or 'none'
    raise CheckpointFormatError(
        f'not a ConvNeXt checkpoint in official, timm or mmpretrain format '
        f'(found {len(keys)} keys, e.g. {sample})')


def _rename(key: str, renames: Tuple[Tuple[str, str], ...]) -> str:
    for pattern, replacement in renames:
        new_key, count = re.subn(pattern, replacement, key)
        if count:
            return new_key
    return key


def _describe(scheme: str, container: str, prefix: str,
              checkpoint: Mapping) -> str:
    if scheme == 'timm':
        return 'timm ConvNeXt checkpoint'
    if scheme == 'mmpretrain':
        return 'mmpretrain ConvNeXt checkpoint'
    if container == 'model':
        return "official ImageNet checkpoint ({'model': ...})"
    if prefix:
        meta = checkpoint.get('meta')
        if isinstance(meta, Mapping) and 'mmengine_version' in meta:
            return (f'mmengine-trained model checkpoint (convnext-dense), '
                    f'backbone under {prefix!r}')
        return (f'official COCO/ADE20K fine-tuned checkpoint, backbone under '
                f'{prefix!r}')
    return 'bare ConvNeXt dense-backbone state dict'


def convert_to_dense_backbone(checkpoint: Mapping) -> ConvertedCheckpoint:
    """Converts a ConvNeXt checkpoint of any known format to dense-backbone keys.

    Args:
        checkpoint: What ``torch.load`` returned: a state dict, or a dict
            holding one under ``state_dict``, ``model`` or ``module``.

    Returns:
        The backbone weights, the recognised format and the keys left out.

    Raises:
        CheckpointFormatError: when no ConvNeXt backbone is found in it.
    """
    if not isinstance(checkpoint, Mapping):
        raise CheckpointFormatError(
            f'expected a dict of tensors, got {type(checkpoint).__name__}')
    weights, container = unwrap_weights(checkpoint)
    keys = [k for k, v in weights.items() if isinstance(v, torch.Tensor)]
    scheme, prefix = detect_scheme(keys)
    renames: Optional[Tuple[Tuple[str, str], ...]] = {
        'timm': _TIMM_RENAMES,
        'mmpretrain': _MMPRETRAIN_RENAMES,
    }.get(scheme)

    converted: StateDict = {}
    original_names: Dict[str, str] = {}
    ignored: List[str] = [k for k in weights if k not in keys]
    for key in keys:
        name = key[len(prefix):] if key.startswith(prefix) else None
        if name is not None and renames:
            name = _rename(name, renames)
        if name is None or not _BACKBONE_KEY.match(name):
            ignored.append(key)
            continue
        converted[name] = _as_linear_weight(name, weights[key])
        original_names[name] = key

    if _has_classifier_head(keys):
        for name in _classifier_norm_keys(converted):
            ignored.append(original_names.pop(name))
            del converted[name]
    return ConvertedCheckpoint(
        state_dict=converted,
        source_format=_describe(scheme, container, prefix, checkpoint),
        ignored_keys=tuple(ignored))


def _has_classifier_head(keys: List[str]) -> bool:
    return any(re.search(r'(^|\.)head\.(fc\.)?weight$', k) for k in keys)


def _classifier_norm_keys(state_dict: StateDict) -> List[str]:
    """mmpretrain names a classifier's final norm ``norm3``; alone, it is not
    a dense output norm (a dense checkpoint has ``norm0..2`` beside it)."""
    dense_norms = {
        int(m.group(1))
        for m in map(_DENSE_NORM.match, state_dict) if m
    }
    if dense_norms != {3}:
        return []
    return [k for k in state_dict if k.startswith('norm3.')]


def _as_linear_weight(name: str, tensor: torch.Tensor) -> torch.Tensor:
    """1x1-conv pointwise weights (timm conv_mlp, mmpretrain) become Linear ones."""
    if re.search(r'\.pwconv[12]\.weight$', name) and tensor.dim() == 4:
        return tensor.flatten(1)
    return tensor

