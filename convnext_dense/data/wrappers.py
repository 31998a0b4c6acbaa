"""The dataset configs inside mmengine's dataset wrappers."""
from typing import Iterator, Mapping, Sequence, Tuple


def leaf_datasets(dataset: Mapping,
                  where: str = 'dataset') -> Iterator[Tuple[Mapping, str]]:
    """Yields the dataset configs inside wrappers, with their config paths.

    A wrapper holds one dataset under ``dataset`` (``RepeatDataset``,
    ``ClassBalancedDataset``, mmdet's ``MultiImageMixDataset``) or several
    under ``datasets`` (``ConcatDataset``); wrappers may nest.

    Args:
        dataset: A dataset config, e.g. ``cfg.train_dataloader.dataset``.
        where: Its path in the config, for messages. Defaults to
            ``'dataset'``.

    Yields:
        tuple: Each leaf dataset config (the object in the config, so that
        changing it changes the config) and its path, e.g.
        ``train_dataloader.dataset.datasets[1]``.
    """
    if 'dataset' in dataset:
        yield from leaf_datasets(dataset['dataset'], f'{where}.dataset')
    elif 'datasets' in dataset:
        for i, inner in enumerate(dataset['datasets']):
            yield from leaf_datasets(inner, f'{where}.datasets[{i}]')
    else:
        yield dataset, where


def split_datasets(
        cfg: Mapping,
        splits: Sequence[str]) -> Iterator[Tuple[str, Mapping, str]]:
    """Yields ``(split, dataset, where)`` for the leaf dataset configs of the
    ``<split>_dataloader`` of each of ``splits`` (``train``, ``val``,
    ``test``) that the config has, ``where`` being their config paths (see
    :func:`leaf_datasets`)."""
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if loader and 'dataset' in loader:
            for dataset, where in leaf_datasets(
                    loader['dataset'], f'{split}_dataloader.dataset'):
                yield split, dataset, where
