"""Loading pretrained weights of any known format into a backbone (ConvNeXt,
isotropic ConvNeXt, ConvMixer): each backbone class names its converter."""
from typing import Any, Dict, List, Mapping, Optional

import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.runner.checkpoint import CheckpointLoader

from convnext_dense.errors import CheckpointFormatError

from .convert import unwrap_weights


def _summarise(keys: List[str], limit: int = 8) -> str:
    if not keys:
        return 'none'
    shown = ', '.join(keys[:limit])
    return f'{len(keys)} ({shown}{", ..." if len(keys) > limit else ""})'


def select_prefix(checkpoint: Mapping, prefix: str) -> Dict[str, Any]:
    """The weights under ``prefix``, with the prefix stripped.

    What mmengine's ``PretrainedInit(prefix=...)`` selects, e.g. the backbone
    of a detector checkpoint with ``prefix='backbone.'``.

    Args:
        checkpoint: What ``torch.load`` returned; the weights may sit under
            ``state_dict``, ``model`` or ``module``.
        prefix: The sub-module's name; a trailing ``.`` is added if missing.

    Raises:
        CheckpointFormatError: when no key starts with ``prefix``.
    """
    weights, _ = unwrap_weights(checkpoint)
    if not prefix.endswith('.'):
        prefix += '.'
    selected = {
        key[len(prefix):]: value
        for key, value in weights.items() if key.startswith(prefix)
    }
    if not selected:
        sample = ', '.join(repr(k) for k in list(weights)[:3]) or 'none'
        raise CheckpointFormatError(
            f'no key starts with init_cfg prefix {prefix!r} (found '
            f'{len(weights)} keys, e.g. {sample}): fix the prefix or leave it '
            f'out to let the format be recognised')
    return selected


def load_backbone_weights(backbone: nn.Module,
                          checkpoint: str,
                          map_location: Any = 'cpu',
                          prefix: Optional[str] = None) -> None:
    """Loads a checkpoint of any format ``backbone`` knows into it.

    The file is read weights-only through mmengine's loaders (local paths and
    URLs), its format recognised and converted to the backbone's names by the
    backbone class's ``weights_converter``, and loaded non-strictly: the
    format found and the missing and unexpected keys are logged. Keys the
    backbone lacks, like the output norms of a classifier checkpoint, keep
    their fresh initialisation.

    Args:
        backbone: The backbone to load into. Its class says, as data, how
            to read checkpoints: ``family`` (its name in messages),
            ``weights_converter`` (checkpoint -> ``ConvertedCheckpoint``)
            and ``arch_summary`` (its arch in words).
        checkpoint: Local path or URL.
        map_location: Where the tensors are loaded. Defaults to ``'cpu'``.
        prefix: Only convert the weights under this prefix (stripped), as
            mmengine's ``Pretrained`` init does. Defaults to None: the whole
            checkpoint, whose backbone is found by its format.

    Raises:
        CheckpointFormatError: when the file (or its ``prefix`` part) holds no
            backbone of ``backbone``'s family, or one whose shapes differ
            from ``backbone``'s (another arch).
    """
    logger = MMLogger.get_current_instance()
    raw = CheckpointLoader.load_checkpoint(
        checkpoint, map_location=map_location, logger=logger.instance_name)
    try:
        if prefix is not None:
            raw = select_prefix(raw, prefix)
        converted = backbone.weights_converter(raw)
    except CheckpointFormatError as error:
        raise CheckpointFormatError(f'{checkpoint}: {error}') from None

    family = backbone.family
    own = backbone.state_dict()
    matching = [k for k in converted.state_dict if k in own]
    if not matching:
        raise CheckpointFormatError(
            f'{checkpoint}: none of its {len(converted.state_dict)} backbone '
            f'weights ({converted.source_format}) has a name this {family} '
            f'has; check that it is a {family} checkpoint')
    for key in matching:
        found, expected = converted.state_dict[key].shape, own[key].shape
        if found != expected:
            raise CheckpointFormatError(
                f'{checkpoint}: {key} has shape {tuple(found)} but this '
                f'{family} ({backbone.arch_summary}) expects '
                f'{tuple(expected)}; set the arch the checkpoint was trained '
                f'with')

    result = backbone.load_state_dict(converted.state_dict, strict=False)
    source = f'{checkpoint} (prefix {prefix!r})' if prefix else checkpoint
    logger.info(
        f'{family} weights from {source}: {converted.source_format}; '
        f'loaded {len(matching)} tensors; missing keys: '
        f'{_summarise(result.missing_keys)}; unexpected keys: '
        f'{_summarise(result.unexpected_keys)}; left out (not backbone): '
        f'{_summarise(list(converted.ignored_keys))}')
