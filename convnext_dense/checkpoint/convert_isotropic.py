"""Pure conversion of plain-backbone checkpoints: isotropic ConvNeXt, ConvMixer.

Each backbone class names its converter (``weights_converter``) and the
pretrained loader applies it. The layout is recognised by content:

Isotropic ConvNeXt (the backbone's names are the official ones):

* official ImageNet checkpoints ``convnext_iso_*_1k_224_ema.pth``:
  ``{'model': {stem.*, blocks.N.{dwconv,norm,pwconv1,pwconv2}.*, norm.*, head.*}}``;
* detectors and segmentors trained with this toolkit: the same names under
  ``backbone.`` in ``state_dict``;
* a bare state dict.

ConvMixer (the backbone's names are timm's):

* timm, which is also the layout of the original release's files:
  ``stem.{0,2}.*``, ``blocks.N.0.fn.{0,2}.*``, ``blocks.N.{1,3}.*``, ``head.*``;
* the original code's single ``nn.Sequential``: ``0.*`` (conv), ``2.*`` (BN),
  block N at index ``3+N``, the Linear at ``3+depth+2``;
* mmpretrain: ``backbone.stem.*``, ``backbone.stages.N.*``, ``head.fc.*``;
* the toolkit's own checkpoints: timm names under ``backbone.``.

A classifier's final ``norm`` and ``head`` are left out and reported.
"""
import re
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Tuple, Union

import torch

from convnext_dense.errors import CheckpointFormatError

from .convert import ConvertedCheckpoint, unwrap_weights

#: A rename: (pattern, replacement string or function of the match).
Rename = Tuple[str, Union[str, Callable[['re.Match'], str]]]

#: Index of the first block in the original ``nn.Sequential``: conv, act, BN.
ORIGINAL_FIRST_BLOCK = 3


@dataclass(frozen=True)
class Layout:
    """One naming scheme of a plain backbone's weights.

    Attributes:
        description: How the load report names it.
        marker: Matches the depthwise-conv weight of any block in this
            layout; its ``prefix`` group is what precedes the backbone.
        renames: Applied in order to each key (prefix stripped); the first
            that matches wins. Empty when the names are the backbone's own.
        own_names: Whether these are the backbone's own names, which the
            toolkit's checkpoints (mmengine ``meta``) carry.
    """
    description: str
    marker: 're.Pattern'
    renames: Tuple[Rename, ...] = ()
    own_names: bool = False


def _original_block(match: 're.Match') -> str:
    return f'blocks.{int(match.group(1)) - ORIGINAL_FIRST_BLOCK}.'


ISOTROPIC_CONVNEXT_LAYOUTS: Tuple[Layout, ...] = (
    Layout('official isotropic ConvNeXt checkpoint',
           re.compile(r'^(?P<prefix>(?:.*\.)?)blocks\.\d+\.dwconv\.weight$'),
           own_names=True),
)

CONVMIXER_LAYOUTS: Tuple[Layout, ...] = (
    Layout('timm ConvMixer checkpoint',
           re.compile(r'^(?P<prefix>(?:.*\.)?)blocks\.\d+\.0\.fn\.0\.weight$'),
           own_names=True),
    Layout('mmpretrain ConvMixer checkpoint',
           re.compile(r'^(?P<prefix>(?:.*\.)?)stages\.\d+\.0\.fn\.0\.weight$'),
           ((r'^stages\.', 'blocks.'), )),
    # Last: its marker also matches the other layouts' keys.
    Layout('original ConvMixer checkpoint (one nn.Sequential)',
           re.compile(r'^(?P<prefix>(?:.*\.)?)\d+\.0\.fn\.0\.weight$'),
           ((r'^([02])\.', r'stem.\1.'), (r'^(\d+)\.(?=\d+\.)',
                                          _original_block))),
)

_ISOTROPIC_CONVNEXT_KEY = re.compile(
    r'^(stem\.(weight|bias)$|blocks\.\d+\.((dwconv|norm|pwconv1|pwconv2)\.'
    r'(weight|bias)$|gamma$))')
_CONVMIXER_KEY = re.compile(
    r'^(stem\.[02]\.|blocks\.\d+\.(0\.fn\.[02]|[13])\.)'
    r'(weight|bias|running_mean|running_var|num_batches_tracked)$')


def _detect(keys: List[str], layouts: Tuple[Layout, ...],
            family: str) -> Tuple[Layout, str]:
    """Returns the first layout with a matching key and the backbone prefix."""
    for layout in layouts:
        for key in keys:
            match = layout.marker.match(key)
            if match:
                return layout, match.group('prefix')
    sample = ', '.join(repr(k) for k in keys[:3]) or 'none'
    names = ', '.join(layout.description for layout in layouts)
    article = 'an' if family[0].lower() in 'aeiou' else 'a'
    raise CheckpointFormatError(
        f'not {article} {family} checkpoint ({names}): found {len(keys)} '
        f'keys, e.g. {sample}')


def _rename(key: str, renames: Tuple[Rename, ...]) -> str:
    for pattern, replacement in renames:
        new_key, count = re.subn(pattern, replacement, key, count=1)
        if count:
            return new_key
    return key


def _describe(layout: Layout, container: str, prefix: str,
              checkpoint: Mapping) -> str:
    """Names the checkpoint for the load report."""
    meta = checkpoint.get('meta')
    if layout.own_names and prefix and isinstance(
            meta, Mapping) and 'mmengine_version' in meta:
        return (f'mmengine-trained model checkpoint (convnext-dense), '
                f'backbone under {prefix!r}')
    where = []
    if container:
        where.append(f"weights under {container!r}")
    if prefix:
        where.append(f'backbone under {prefix!r}')
    return layout.description + (f' ({", ".join(where)})' if where else '')


def _convert(checkpoint: Mapping, layouts: Tuple[Layout, ...], family: str,
             backbone_key: 're.Pattern') -> ConvertedCheckpoint:
    """Finds the layout, strips its prefix, renames, keeps backbone keys."""
    if not isinstance(checkpoint, Mapping):
        raise CheckpointFormatError(
            f'expected a dict of tensors, got {type(checkpoint).__name__}')
    weights, container = unwrap_weights(checkpoint)
    keys = [k for k, v in weights.items() if isinstance(v, torch.Tensor)]
    layout, prefix = _detect(keys, layouts, family)
    converted: Dict[str, torch.Tensor] = {}
    ignored: List[str] = [k for k in weights if k not in keys]
    for key in keys:
        name: Optional[str] = (
            _rename(key[len(prefix):], layout.renames)
            if key.startswith(prefix) else None)
        if name is None or not backbone_key.match(name):
            ignored.append(key)
            continue
        converted[name] = weights[key]
    return ConvertedCheckpoint(
        state_dict=converted,
        source_format=_describe(layout, container, prefix, checkpoint),
        ignored_keys=tuple(ignored))


def convert_isotropic_convnext(checkpoint: Mapping) -> ConvertedCheckpoint:
    """Converts an isotropic ConvNeXt checkpoint to the backbone's names.

    Args:
        checkpoint: What ``torch.load`` returned: a state dict, or a dict
            holding one under ``state_dict``, ``model`` or ``module``.

    Returns:
        The backbone weights (official names), the recognised layout and the
        keys left out (classifier ``norm`` and ``head``, necks, heads).

    Raises:
        CheckpointFormatError: when no isotropic ConvNeXt is found in it.
    """
    return _convert(checkpoint, ISOTROPIC_CONVNEXT_LAYOUTS,
                    'isotropic ConvNeXt', _ISOTROPIC_CONVNEXT_KEY)


def convert_convmixer(checkpoint: Mapping) -> ConvertedCheckpoint:
    """Converts a ConvMixer checkpoint (timm, original, mmpretrain) to timm names.

    Args:
        checkpoint: What ``torch.load`` returned: a state dict, or a dict
            holding one under ``state_dict``, ``model`` or ``module``.

    Returns:
        The backbone weights (timm names, BatchNorm statistics included), the
        recognised layout and the keys left out (the classifier, necks, heads).

    Raises:
        CheckpointFormatError: when no ConvMixer is found in it.
    """
    return _convert(checkpoint, CONVMIXER_LAYOUTS, 'ConvMixer', _CONVMIXER_KEY)
