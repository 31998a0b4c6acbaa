"""Pure conversion of ConvNeXt checkpoints to the official dense-backbone keys.

Recognised by content, with no hint from the user:

* official ImageNet checkpoints: ``{'model': {...}}`` with ``norm.*`` and ``head.*``;
* official COCO/ADE20K fine-tuned checkpoints and the toolkit's own (mmengine)
  checkpoints: ``{'state_dict': {'backbone.…': …, 'neck.…': …}}``;
* timm checkpoints: ``stem.0.*``, ``stages.N.blocks.M.conv_dw.*``, ``head.*``;
* mmpretrain checkpoints: ``backbone.stages.N.M.depthwise_conv.*``;
* Hugging Face transformers checkpoints: ``convnext[v2].embeddings.*``,
  ``convnext[v2].encoder.stages.N.layers.M.dwconv.*``, ``classifier.*``;
* official ConvNeXt V2 FCMAE pre-training checkpoints: the encoder under
  ``encoder.``, in the sparse-convolution (MinkowskiEngine) form of the
  release (``.kernel``, ``.ln.``, ``.linear.``), converted to dense
  convolutions as the official fine-tuning code converts them
  (``remap_checkpoint_keys``); the decoder is left out;
* a bare dense-backbone state dict (``downsample_layers.*``, ``norm0..3``).

ConvNeXt V2 checkpoints (GRN, no layer scale) come in the same layouts; their
GRN weights take the official shape ``(1, 1, 1, C)``. Each backbone version
refuses the other's checkpoints by name.

A classifier's final norm (official ``norm``, timm ``head.norm``, mmpretrain
``backbone.norm3`` without ``norm0..2`` beside it) normalises pooled features,
not stage-3 maps: like the official dense code, it is not loaded, and the
dense output norms start fresh.
"""
import math
import re
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Tuple

import torch

from convnext_dense.errors import CheckpointFormatError

StateDict = Dict[str, torch.Tensor]

#: Keys that identify each naming scheme, as (format, suffix of the stem conv
#: weight, pattern that only this scheme's block keys match).
_SCHEMES: Tuple[Tuple[str, str, str], ...] = (
    ('huggingface', 'embeddings.patch_embeddings.weight',
     r'encoder\.stages\.\d+\.layers\.\d+\.dwconv\.'),
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
    (r'^stages\.(\d+)\.blocks\.(\d+)\.mlp\.grn\.weight$',
     r'stages.\1.\2.grn.gamma'),
    (r'^stages\.(\d+)\.blocks\.(\d+)\.mlp\.grn\.bias$', r'stages.\1.\2.grn.beta'),
    (r'^stages\.(\d+)\.blocks\.(\d+)\.', r'stages.\1.\2.'),
    (r'^head\.norm\.', 'norm.'),
)

_HUGGINGFACE_RENAMES: Tuple[Tuple[str, str], ...] = (
    (r'^embeddings\.patch_embeddings\.', 'downsample_layers.0.0.'),
    (r'^embeddings\.layernorm\.', 'downsample_layers.0.1.'),
    (r'^encoder\.stages\.(\d+)\.downsampling_layer\.(\d)\.',
     r'downsample_layers.\1.\2.'),
    (r'^encoder\.stages\.(\d+)\.layers\.(\d+)\.layernorm\.',
     r'stages.\1.\2.norm.'),
    (r'^encoder\.stages\.(\d+)\.layers\.(\d+)\.grn\.weight$',
     r'stages.\1.\2.grn.gamma'),
    (r'^encoder\.stages\.(\d+)\.layers\.(\d+)\.grn\.bias$',
     r'stages.\1.\2.grn.beta'),
    (r'^encoder\.stages\.(\d+)\.layers\.(\d+)\.layer_scale_parameter$',
     r'stages.\1.\2.gamma'),
    (r'^encoder\.stages\.(\d+)\.layers\.(\d+)\.', r'stages.\1.\2.'),
    (r'^layernorm\.', 'norm.'),
)

_MMPRETRAIN_RENAMES: Tuple[Tuple[str, str], ...] = (
    (r'\.depthwise_conv\.', '.dwconv.'),
    (r'\.pointwise_conv1\.', '.pwconv1.'),
    (r'\.pointwise_conv2\.', '.pwconv2.'),
)

_BACKBONE_KEY = re.compile(
    r'^(downsample_layers\.\d+\.\d+\.|stages\.\d+\.\d+\.(dwconv|norm|pwconv1|'
    r'pwconv2)\.|stages\.\d+\.\d+\.(gamma|grn\.gamma|grn\.beta)$|norm\d\.)')
_GRN_KEY = re.compile(r'\.grn\.(gamma|beta)$')
_LAYER_SCALE_KEY = re.compile(r'^stages\.\d+\.\d+\.gamma$')
#: ConvNeXt version -> the backbone type that loads its checkpoints.
_VERSION_BACKBONES = {1: 'convnext_dense.ConvNeXt', 2: 'convnext_dense.ConvNeXtV2'}
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
        f'not a ConvNeXt checkpoint in official, timm, mmpretrain or Hugging '
        f'Face format (found {len(keys)} keys, e.g. {sample})')


def _rename(key: str, renames: Tuple[Tuple[str, str], ...]) -> str:
    for pattern, replacement in renames:
        new_key, count = re.subn(pattern, replacement, key)
        if count:
            return new_key
    return key


def _describe(scheme: str, container: str, prefix: str,
              checkpoint: Mapping, sparse: bool) -> str:
    if scheme == 'timm':
        return 'timm ConvNeXt checkpoint'
    if scheme == 'mmpretrain':
        return 'mmpretrain ConvNeXt checkpoint'
    if scheme == 'huggingface':
        return f'Hugging Face transformers checkpoint, backbone under {prefix!r}'
    if prefix == FCMAE_ENCODER_PREFIX:
        form = ('sparse encoder converted to dense convolutions' if sparse
                else 'encoder')
        return f'official FCMAE pre-training checkpoint ({form})'
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


def convert_to_dense_backbone(checkpoint: Mapping,
                              version: int = 1) -> ConvertedCheckpoint:
    """Converts a ConvNeXt checkpoint of any known format to dense-backbone keys.

    Args:
        checkpoint: What ``torch.load`` returned: a state dict, or a dict
            holding one under ``state_dict``, ``model`` or ``module``.
        version: The ConvNeXt version the weights are for: 1 (layer scale)
            or 2 (GRN). Defaults to 1.

    Returns:
        The backbone weights, the recognised format and the keys left out.

    Raises:
        CheckpointFormatError: when no ConvNeXt backbone is found in it, or
            one of the other version.
    """
    if not isinstance(checkpoint, Mapping):
        raise CheckpointFormatError(
            f'expected a dict of tensors, got {type(checkpoint).__name__}')
    weights, container = unwrap_weights(checkpoint)
    sparse = is_sparse_encoder(weights)
    if sparse:
        weights = densify_sparse_encoder(weights)
    keys = [k for k, v in weights.items() if isinstance(v, torch.Tensor)]
    scheme, prefix = detect_scheme(keys)
    renames: Optional[Tuple[Tuple[str, str], ...]] = {
        'timm': _TIMM_RENAMES,
        'mmpretrain': _MMPRETRAIN_RENAMES,
        'huggingface': _HUGGINGFACE_RENAMES,
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
        converted[name] = _in_dense_layout(name, weights[key])
        original_names[name] = key

    if _has_classifier_head(keys):
        for name in _classifier_norm_keys(converted):
            ignored.append(original_names.pop(name))
            del converted[name]
    _check_version(converted, version)
    return ConvertedCheckpoint(
        state_dict=converted,
        source_format=_describe(scheme, container, prefix, checkpoint,
                                sparse),
        ignored_keys=tuple(ignored))


def convert_v2_to_dense_backbone(checkpoint: Mapping) -> ConvertedCheckpoint:
    """:func:`convert_to_dense_backbone` for ConvNeXt V2 weights (GRN).

    Args:
        checkpoint: What ``torch.load`` returned, in any known layout.

    Raises:
        CheckpointFormatError: when no ConvNeXt V2 backbone is found in it.
    """
    return convert_to_dense_backbone(checkpoint, version=2)


def _check_version(state_dict: StateDict, version: int) -> None:
    """Refuses weights of the other ConvNeXt version, by their keys."""
    found = (2 if any(map(_GRN_KEY.search, state_dict)) else
             1 if any(map(_LAYER_SCALE_KEY.match, state_dict)) else version)
    if found != version:
        evidence = ('GRN weights (grn.gamma, grn.beta)' if found == 2 else
                    'layer scale weights (stages.N.M.gamma) and no GRN')
        raise CheckpointFormatError(
            f'this is a ConvNeXt V{found} checkpoint ({evidence}), not a '
            f'ConvNeXt V{version} one: use backbone type '
            f'{_VERSION_BACKBONES[found]!r}')


#: Where the official FCMAE pre-training checkpoints keep the encoder.
FCMAE_ENCODER_PREFIX = 'encoder.'
#: The MinkowskiEngine wrappers' sub-module names that the dense layers lack.
_SPARSE_WRAPPERS = ('ln', 'linear')


def is_sparse_encoder(weights: Mapping) -> bool:
    """Whether ``weights`` hold an encoder in the sparse-convolution form of
    the FCMAE release (``.kernel`` tensors, ``.ln.`` / ``.linear.``
    wrappers)."""
    return any(
        key.endswith('.kernel') or any(
            f'.{wrapper}.' in key for wrapper in _SPARSE_WRAPPERS)
        for key in weights)


def densify_sparse_encoder(weights: Mapping) -> Dict[str, object]:
    """The FCMAE encoder's sparse layers as dense ones, as the official
    fine-tuning code's ``remap_checkpoint_keys`` converts them.

    A sparse convolution's ``kernel`` of shape ``(k*k, in, out)`` (a
    depthwise one's ``(k*k, C)``) becomes a dense ``weight`` ``(out, in, k,
    k)`` (``(C, 1, k, k)``), the kernel offsets running over the first
    spatial axis fastest; the ``.ln.`` and ``.linear.`` wrappers are dropped
    from the names; 2-D biases ``(1, C)`` become 1-D. GRN weights (``(1,
    C)``) are reshaped later with the other layouts'. Keys and the
    decoder's tensors stay where they are otherwise.

    Args:
        weights: The checkpoint's tensors (``encoder.*`` and the decoder's).

    Raises:
        CheckpointFormatError: when a kernel is not of a square size.
    """
    dense: Dict[str, object] = {}
    for key, value in weights.items():
        if not isinstance(value, torch.Tensor):
            dense[key] = value
        elif key.endswith('.kernel'):
            dense[key[:-len('kernel')] + 'weight'] = _dense_conv_weight(
                key, value)
        else:
            parts = key.split('.')
            if len(parts) > 2 and parts[-2] in _SPARSE_WRAPPERS:
                del parts[-2]
            if parts[-1] == 'bias' and value.dim() != 1:
                value = value.reshape(-1)
            dense['.'.join(parts)] = value
    return dense


def _dense_conv_weight(key: str, kernel: torch.Tensor) -> torch.Tensor:
    """A sparse convolution's kernel as a dense conv weight."""
    if kernel.dim() == 2:  # depthwise: (k*k, C)
        kernel = kernel.unsqueeze(1)  # (k*k, 1, C): one input per group
    if kernel.dim() != 3:
        raise CheckpointFormatError(
            f'{key} has shape {tuple(kernel.shape)}: a sparse convolution '
            f'kernel is (k*k, in, out) or, depthwise, (k*k, C)')
    volume, in_channels, out_channels = kernel.shape
    size = math.isqrt(volume)
    if size * size != volume:
        raise CheckpointFormatError(
            f'{key} has {volume} kernel offsets, not those of a square '
            f'kernel')
    return kernel.permute(2, 1, 0).reshape(
        out_channels, in_channels, size, size).transpose(2, 3).contiguous()


def _has_classifier_head(keys: List[str]) -> bool:
    return any(re.search(r'(^|\.)(head\.(fc\.)?|classifier\.)weight$', k)
               for k in keys)


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


def _in_dense_layout(name: str, tensor: torch.Tensor) -> torch.Tensor:
    """1x1-conv pointwise weights (timm conv_mlp, mmpretrain) become Linear
    ones; GRN weights take the official shape ``(1, 1, 1, C)``."""
    if re.search(r'\.pwconv[12]\.weight$', name) and tensor.dim() == 4:
        return tensor.flatten(1)
    if _GRN_KEY.search(name):
        return tensor.reshape(1, 1, 1, -1)
    return tensor

