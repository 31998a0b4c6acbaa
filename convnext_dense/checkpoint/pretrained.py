"""Loading pretrained weights of any known format into the ConvNeXt backbone."""
from typing import Any, List

import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.runner.checkpoint import CheckpointLoader

from .convert import CheckpointFormatError, convert_to_dense_backbone


def _summarise(keys: List[str], limit: int = 8) -> str:
    if not keys:
        return 'none'
    shown = ', '.join(keys[:limit])
    return f'{len(keys)} ({shown}{", ..." if len(keys) > limit else ""})'


def load_backbone_weights(backbone: nn.Module,
                          checkpoint: str,
                          map_location: Any = 'cpu') -> None:
    """Loads a ConvNeXt checkpoint of any known format into ``backbone``.

    The file is read weights-only through mmengine's loaders (local paths and
    URLs), its format recognised and converted to dense-backbone names, and
    loaded non-strictly: the format found and the missing and unexpected keys
    are logged. Keys the backbone lacks, like the output norms of a classifier
    checkpoint, keep their fresh initialisation.

    Raises:
        CheckpointFormatError: when the file holds no ConvNeXt backbone, or a
            backbone whose shapes differ from ``backbone``'s (another arch).
    """
    logger = MMLogger.get_current_instance()
    raw = CheckpointLoader.load_checkpoint(
        checkpoint, map_location=map_location, logger=logger.instance_name)
    try:
        converted = convert_to_dense_backbone(raw)
    except CheckpointFormatError as error:
        raise CheckpointFormatError(f'{checkpoint}: {error}') from None

    own = backbone.state_dict()
    matching = [k for k in converted.state_dict if k in own]
    if not matching:
        raise CheckpointFormatError(
            f'{checkpoint}: none of its {len(converted.state_dict)} backbone '
            f'weights ({converted.source_format}) has a name this ConvNeXt '
            f'has; check that it is a ConvNeXt checkpoint')
    for key in matching:
        found, expected = converted.state_dict[key].shape, own[key].shape
        if found != expected:
            raise CheckpointFormatError(
                f'{checkpoint}: {key} has shape {tuple(found)} but this '
                f'ConvNeXt (depths {backbone.depths}, dims {backbone.dims}) '
                f'expects {tuple(expected)}; set the arch the checkpoint was '
                f'trained with')

    result = backbone.load_state_dict(converted.state_dict, strict=False)
    logger.info(
        f'ConvNeXt weights from {checkpoint}: {converted.source_format}; '
        f'loaded {len(matching)} tensors; missing keys: '
        f'{_summarise(result.missing_keys)}; unexpected keys: '
        f'{_summarise(result.unexpected_keys)}; left out (not backbone): '
        f'{_summarise(list(converted.ignored_keys))}')
