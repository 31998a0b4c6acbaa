"""The model index, ``configs/metafile.yml``: one entry per shipped config.

OpenMMLab's metafile convention (as mmdet's and mmseg's
``configs/*/metafile.yml``, imported by the root ``model-index.yml``), with
each config's task, data, backbone, pretrained weights, schedule, the paper's
figures where the paper reports them, and the toolkit's own parameter and
FLOPs counts. The file's header comment says where each figure comes from.

:func:`load_model_index` reads and checks the file; a missing or malformed
one is a :class:`~convnext_dense.errors.ModelIndexError` naming the file, the
entry and the key.
"""
import os.path as osp
from collections import Counter
from pathlib import Path
from typing import (Any, Dict, Iterator, List, NamedTuple, Optional, Tuple,
                    Union)

import yaml

from convnext_dense.errors import ModelIndexError

#: The index of the repository's configs.
INDEX_FILE = Path(__file__).resolve().parents[1] / 'configs' / 'metafile.yml'

Arch = Union[str, Dict[str, Any]]


class PaperFigures(NamedTuple):
    """What a paper reports for a config: parameters (millions, as the paper
    rounds them), FLOPs (G) and the input (height, width) counted at."""
    params_m: float
    gflops: float
    input_hw: Tuple[int, int]


class ModelEntry(NamedTuple):
    """One config of the index.

    Attributes:
        name: The config's file name without ``.py``.
        config: Its path, relative to the repository root.
        collection: The detector or segmentor (``In Collection``).
        task: ``Instance Segmentation`` or ``Semantic Segmentation``.
        dataset: The training data (``COCO``, ``ADE20K``, ``toy COCO``, ...).
        backbone: The backbone family (``ConvNeXt``, ``ConvNeXt V2``, ...).
        arch: The config's ``model.backbone.arch``.
        pretrain: What the backbone was pre-trained on; None from scratch.
        weights: The backbone checkpoint the config loads, by name; None
            from scratch.
        epochs: Training epochs, or None for an iteration-based schedule.
        iterations: Training iterations, or None for an epoch-based one.
        params: The toolkit's exact parameter count of the model.
        gflops: The toolkit's FLOPs count (G) at ``input_hw``.
        input_hw: (height, width) of the FLOPs counts.
        metrics: The paper's results by metric name (``box AP``, ``mIoU``,
            ...); empty when it reports none.
        paper_title: The paper the figures come from; None for the toys.
        paper: The paper's parameters and FLOPs, or None.
    """
    name: str
    config: str
    collection: str
    task: str
    dataset: str
    backbone: str
    arch: Arch
    pretrain: Optional[str]
    weights: Optional[str]
    epochs: Optional[int]
    iterations: Optional[int]
    params: int
    gflops: float
    input_hw: Tuple[int, int]
    metrics: Dict[str, float]
    paper_title: Optional[str]
    paper: Optional[PaperFigures]

    @property
    def toy(self) -> bool:
        """Whether it is a CPU toy (trains on a toy dataset)."""
        return self.dataset.startswith('toy ')


class ModelIndex:
    """The checked entries of an index file, by config name.

    Args:
        path: The index file it was read from.
        entries: Its entries, in the file's order.
    """

    def __init__(self, path: Path, entries: List[ModelEntry]) -> None:
        self.path = path
        self._entries = {entry.name: entry for entry in entries}

    def __iter__(self) -> Iterator[ModelEntry]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def get(self, name: str) -> ModelEntry:
        """The entry of config ``name`` (its file name without ``.py``).

        Raises:
            ModelIndexError: when the index does not list it.
        """
        if name not in self._entries:
            raise ModelIndexError(
                f'config {name} is not in the model index {self.path}: add '
                'an entry for it (see the file\'s header comment)')
        return self._entries[name]

    def paper_figures(self, name: str) -> Optional[PaperFigures]:
        """The paper's parameters and FLOPs of config ``name``; None when it
        is not listed or the paper reports none."""
        entry = self._entries.get(name)
        return entry.paper if entry is not None else None


def gflops_text(gflops: float) -> str:
    """A FLOPs figure (G) as the index writes it: whole from 100 G up, three
    significant digits below."""
    return f'{gflops:.0f}' if gflops >= 100 else f'{gflops:#.3g}'


def gflops_figure(flops: int) -> float:
    """A FLOPs count rounded as the index writes it (:func:`gflops_text`)."""
    return float(gflops_text(flops / 1e9))


def load_model_index(path: Union[str, Path, None] = None) -> ModelIndex:
    """Reads and checks a model index.

    Args:
        path: The index file. Defaults to :data:`INDEX_FILE`.

    Raises:
        ModelIndexError: when the file is missing, is not YAML, or an entry
            lacks a key or has a value of the wrong kind.
    """
    path = Path(path or INDEX_FILE)
    if not osp.isfile(path):
        raise ModelIndexError(
            f'model index {path} does not exist: the index is the '
            'repository\'s configs/metafile.yml; restore it (git checkout -- '
            'configs/metafile.yml) or pass its path')
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, 'problem_mark', None)
        where = f', line {mark.line + 1}' if mark is not None else ''
        raise ModelIndexError(
            f'model index {path} is not valid YAML{where}: fix it') from None
    models = _require(document, 'Models', list, f'model index {path}')
    collections = {
        _require(c, 'Name', str, f'model index {path}: Collections')
        for c in _require(document, 'Collections', list,
                          f'model index {path}')
    }
    entries = [_entry(raw, f'model index {path}', collections)
               for raw in models]
    counts = Counter(entry.name for entry in entries)
    duplicates = sorted(name for name, count in counts.items() if count > 1)
    if duplicates:
        raise ModelIndexError(
            f'model index {path} lists {", ".join(duplicates)} more than '
            'once: keep one entry per config')
    return ModelIndex(path, entries)


#: How an error names the kinds of value a key takes.
_KIND_NAMES = {str: 'a string', int: 'an integer', float: 'a number',
               dict: 'a mapping', list: 'a list'}


def _require(mapping: Any, key: str, kind: Union[type, Tuple[type, ...]],
             where: str, optional: bool = False) -> Any:
    """``mapping[key]``, checked to be of ``kind`` (None if ``optional``
    and absent or null).

    Raises:
        ModelIndexError: naming ``where``, the key, what it holds and what it
            should.
    """
    if not isinstance(mapping, dict):
        raise ModelIndexError(f'{where} is not a mapping of keys: fix it')
    value = mapping.get(key)
    if value is None and optional:
        return None
    kinds = kind if isinstance(kind, tuple) else (kind, )
    if value is None or isinstance(value, bool) or not isinstance(
            value, kinds):
        found = 'missing' if key not in mapping else repr(value)
        expected = ' or '.join(_KIND_NAMES[k] for k in kinds)
        raise ModelIndexError(
            f'{where}: {key} is {found}, expected {expected}: fix the entry')
    return value


def _entry(raw: Any, where: str, collections: set) -> ModelEntry:
    """One ``Models`` item of the file, checked."""
    name = _require(raw, 'Name', str, f'{where}: Models')
    where = f'{where}: model {name}'
    config = _require(raw, 'Config', str, where)
    if Path(config).name != f'{name}.py':
        raise ModelIndexError(
            f'{where}: Config {config} is not a file named {name}.py: the '
            'Name is the config\'s file name without .py')
    collection = _require(raw, 'In Collection', str, where)
    if collection not in collections:
        raise ModelIndexError(
            f'{where}: In Collection {collection!r} is not one of the '
            f'Collections ({", ".join(sorted(collections))})')
    meta = _require(raw, 'Metadata', dict, where)
    meta_where = f'{where}: Metadata'
    epochs = _require(meta, 'Epochs', int, meta_where, optional=True)
    iterations = _require(meta, 'Iterations', int, meta_where, optional=True)
    if (epochs is None) == (iterations is None):
        raise ModelIndexError(
            f'{meta_where}: give either Epochs or Iterations (the config\'s '
            'train_cfg), not both or neither')
    input_hw = _input_hw(_require(meta, 'Input', str, meta_where),
                         meta_where)
    paper = raw.get('Paper')
    return ModelEntry(
        name=name,
        config=config,
        collection=collection,
        task=_require(meta, 'Task', str, meta_where),
        dataset=_require(meta, 'Training Data', str, meta_where),
        backbone=_require(meta, 'Backbone', str, meta_where),
        arch=_require(meta, 'Backbone Arch', (str, dict), meta_where),
        pretrain=_require(meta, 'Pretrain', str, meta_where, optional=True),
        weights=_require(meta, 'Pretrained Weights', str, meta_where,
                         optional=True),
        epochs=epochs,
        iterations=iterations,
        params=_require(meta, 'Parameters', int, meta_where),
        gflops=float(_require(meta, 'FLOPs (G)', (int, float), meta_where)),
        input_hw=input_hw,
        metrics=_metrics(raw.get('Results') or [], f'{where}: Results'),
        paper_title=(_require(paper, 'Title', str, f'{where}: Paper')
                     if paper is not None else None),
        paper=_paper_figures(paper, input_hw, f'{where}: Paper'))


def _input_hw(text: str, where: str) -> Tuple[int, int]:
    """(height, width) of a ``WIDTHxHEIGHT`` input."""
    width, _, height = text.partition('x')
    if not (width.isdigit() and height.isdigit()):
        raise ModelIndexError(
            f'{where}: Input is {text!r}, expected WIDTHxHEIGHT, e.g. '
            '1280x800')
    return int(height), int(width)


def _metrics(results: Any, where: str) -> Dict[str, float]:
    """The metrics of every ``Results`` item, by name."""
    if not isinstance(results, list):
        raise ModelIndexError(f'{where} is not a list: fix it')
    metrics = {}
    for result in results:
        for metric, value in _require(result, 'Metrics', dict,
                                      where).items():
            _require({metric: value}, metric, (int, float),
                     f'{where}: Metrics')
            metrics[metric] = float(value)
    return metrics


def _paper_figures(paper: Optional[dict], input_hw: Tuple[int, int],
                   where: str) -> Optional[PaperFigures]:
    """The paper's parameters and FLOPs, when it gives both."""
    if paper is None:
        return None
    params_m = _require(paper, 'Parameters (M)', (int, float), where,
                        optional=True)
    gflops = _require(paper, 'FLOPs (G)', (int, float), where, optional=True)
    if (params_m is None) != (gflops is None):
        raise ModelIndexError(
            f'{where}: give both Parameters (M) and FLOPs (G), or neither')
    if params_m is None:
        return None
    return PaperFigures(params_m, gflops, input_hw)
