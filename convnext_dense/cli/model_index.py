"""``tools/model_index.py``: the docs' tables of configs, from the model index.

Prints Markdown tables rendered from ``configs/metafile.yml``
(:mod:`convnext_dense.model_index`). ``--update-docs`` rewrites every block
between ``<!-- model-index:NAME -->`` and ``<!-- /model-index -->`` in
``README.md`` and ``docs/*.md`` with the table NAME; ``--check`` fails (one
line, exit code 2) when a block differs from its rendering.
"""
import argparse
import re
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

from convnext_dense.errors import UserError
from convnext_dense.model_index import (Arch, ModelEntry, ModelIndex,
                                        gflops_text, load_model_index)

from .common import run_cli

#: A marked block, its markers on lines of their own: its table's name, its
#: content and the closing marker.
BLOCK = re.compile(r'^<!-- model-index:(?P<name>\S*) -->\n(?P<body>.*?)'
                   r'^<!-- /model-index -->$', re.S | re.M)
OPENING = re.compile(r'^<!-- model-index:', re.M)

Column = Tuple[str, Callable[[ModelEntry], str]]


class Table(NamedTuple):
    """Which entries a table shows, and its columns."""
    shows: Callable[[ModelEntry], bool]
    columns: Tuple[Column, ...]


def _config(entry: ModelEntry) -> str:
    return f'`{Path(entry.config).relative_to("configs")}`'


def _arch(arch: Arch) -> str:
    """A preset's name, or a custom arch's settings on one line."""
    if isinstance(arch, str):
        return arch
    return ', '.join(f'{key} ' + ('-'.join(map(str, value)) if isinstance(
        value, list) else str(value)) for key, value in arch.items())


def _backbone(entry: ModelEntry) -> str:
    return f'{entry.backbone} {_arch(entry.arch)}'


def _weights(entry: ModelEntry) -> str:
    return f'`{entry.weights}`' if entry.weights else '-'


def _schedule(entry: ModelEntry) -> str:
    if entry.epochs is not None:
        return f'{entry.epochs} epochs'
    iterations = entry.iterations
    return (f'{iterations // 1000}k iterations' if iterations % 1000 == 0
            else f'{iterations} iterations')


def _metric(name: str) -> Callable[[ModelEntry], str]:
    return lambda entry: (f'{entry.metrics[name]:.1f}'
                          if name in entry.metrics else '-')


def _params(entry: ModelEntry) -> str:
    return f'{entry.params:,}'


def _paper_params(entry: ModelEntry) -> str:
    return f'{entry.paper.params_m:g}M' if entry.paper else '-'


def _paper_gflops_with_unit(entry: ModelEntry) -> str:
    return f'{entry.paper.gflops:g}G'


def _gflops(entry: ModelEntry) -> str:
    return gflops_text(entry.gflops)


def _paper_gflops(entry: ModelEntry) -> str:
    return f'{entry.paper.gflops:g}' if entry.paper else '-'


def _input(entry: ModelEntry) -> str:
    height, width = entry.input_hw
    return f'{width}x{height}'


def _headline_results(entry: ModelEntry) -> str:
    """Box and mask AP, or single-scale mIoU."""
    return ' / '.join(f'{entry.metrics[name]:.1f}'
                      for name in ('box AP', 'mask AP', 'mIoU')
                      if name in entry.metrics)


def _full(backbones: Tuple[str, ...], dataset: Optional[str] = None
          ) -> Callable[[ModelEntry], bool]:
    """Full (not toy) configs of these backbones, on ``dataset`` if given."""
    return lambda entry: (entry.backbone in backbones
                          and not entry.toy
                          and dataset in (None, entry.dataset))


CONFIG: Column = ('config', _config)
MODEL: Column = ('model', lambda entry: entry.collection)
BACKBONE: Column = ('backbone', _backbone)
PRETRAIN: Column = ('pretrain', lambda entry: entry.pretrain or 'none')
WEIGHTS: Column = ('weights', _weights)
SCHEDULE: Column = ('schedule', _schedule)
PARAMS: Column = ('params', _params)
PAPER_PARAMS: Column = ('paper params', _paper_params)
GFLOPS: Column = ('FLOPs (G)', _gflops)
PAPER_GFLOPS: Column = ('paper FLOPs (G)', _paper_gflops)
INPUT: Column = ('input', _input)
SETUP = (CONFIG, MODEL, BACKBONE, PRETRAIN, WEIGHTS, SCHEDULE)

#: The tables, by the name a marker gives.
TABLES: Dict[str, Table] = {
    # The paper's figures alone, one line per config.
    'summary': Table(
        lambda entry: bool(entry.metrics),
        (CONFIG, PRETRAIN, ('box AP / mask AP or mIoU', _headline_results),
         ('params', _paper_params), ('FLOPs', _paper_gflops_with_unit))),
    'detection': Table(
        _full(('ConvNeXt', ), 'COCO'),
        SETUP + (('box AP', _metric('box AP')),
                 ('mask AP', _metric('mask AP')), PARAMS, PAPER_PARAMS,
                 GFLOPS, PAPER_GFLOPS, INPUT)),
    'segmentation': Table(
        _full(('ConvNeXt', ), 'ADE20K'),
        SETUP + (('mIoU', _metric('mIoU')),
                 ('mIoU ms+flip', _metric('mIoU (ms+flip)')), PARAMS,
                 PAPER_PARAMS, GFLOPS, PAPER_GFLOPS, INPUT)),
    'plain': Table(_full(('isotropic ConvNeXt', 'ConvMixer')),
                   SETUP + (PARAMS, GFLOPS, INPUT)),
    'v2': Table(_full(('ConvNeXt V2', )), SETUP + (PARAMS, GFLOPS, INPUT)),
    'toys': Table(lambda entry: entry.toy,
                  (CONFIG, MODEL, BACKBONE, SCHEDULE, PARAMS, GFLOPS, INPUT)),
}


def render(name: str, index: ModelIndex) -> List[str]:
    """The Markdown lines of table ``name`` (a key of :data:`TABLES`)."""
    table = TABLES[name]
    lines = ['| ' + ' | '.join(title for title, _ in table.columns) + ' |',
             '|' + '---|' * len(table.columns)]
    lines += ['| ' + ' | '.join(cell(entry) for _, cell in table.columns) +
              ' |' for entry in index if table.shows(entry)]
    return lines


def marked_block(name: str, index: ModelIndex) -> str:
    """Table ``name`` between its markers, as a document holds it."""
    return (f'<!-- model-index:{name} -->\n' +
            '\n'.join(render(name, index)) + '\n<!-- /model-index -->')


def updated(text: str, index: ModelIndex, where: str) -> str:
    """``text`` with every marked block rendered afresh.

    Args:
        text: A Markdown document.
        index: The model index.
        where: The document's path, for errors.

    Raises:
        UserError: when a marker names no table, or is not closed.
    """
    blocks = list(BLOCK.finditer(text))
    for block in blocks:
        if block['name'] not in TABLES:
            raise UserError(
                f'{where}: <!-- model-index:{block["name"]} --> names no '
                f'table; the tables are {", ".join(TABLES)}')
    starts = {block.start() for block in blocks}
    for opening in OPENING.finditer(text):
        if opening.start() not in starts:
            line = text.count('\n', 0, opening.start()) + 1
            raise UserError(
                f'{where}, line {line}: this <!-- model-index:NAME --> '
                'marker has no <!-- /model-index --> line after it: close '
                'the block')
    return BLOCK.sub(lambda block: marked_block(block['name'], index), text)


def documents(root: Path) -> List[Path]:
    """``README.md`` and ``docs/*.md`` under ``root``, those that exist."""
    return [path for path in [root / 'README.md',
                              *sorted((root / 'docs').glob('*.md'))]
            if path.is_file()]


def stale_documents(root: Path, index: ModelIndex) -> Dict[Path, str]:
    """The documents whose marked blocks differ from the rendering, with the
    text they should have."""
    stale = {}
    for path in documents(root):
        text = path.read_text()
        fresh = updated(text, index, str(path))
        if fresh != text:
            stale[path] = fresh
    return stale


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Markdown tables of the configs from the model index '
        '(configs/metafile.yml).')
    parser.add_argument('tables', nargs='*', metavar='TABLE',
                        help=f'tables to print: {", ".join(TABLES)} '
                        '(default: all)')
    action = parser.add_mutually_exclusive_group()
    action.add_argument('--update-docs', action='store_true',
                        help='rewrite the marked blocks of README.md and '
                        'docs/*.md under --root')
    action.add_argument('--check', action='store_true',
                        help='fail when a marked block differs from the index')
    parser.add_argument('--root', default='.', type=Path,
                        help='the repository root (default: .)')
    parser.add_argument('--index', type=Path,
                        help='the model index (default: configs/metafile.yml '
                        'of the repository)')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Prints the tables, or updates or checks the documents' blocks.

    Raises:
        UserError: for an unknown table, a bad marker, or (``--check``)
            stale blocks.
        ModelIndexError: when the index is missing or malformed.
    """
    args = parse_args(argv)
    unknown = [name for name in args.tables if name not in TABLES]
    if unknown:
        raise UserError(f'no table {", ".join(unknown)}: the tables are '
                        f'{", ".join(TABLES)}')
    index = load_model_index(args.index)
    if not (args.update_docs or args.check):
        print('\n\n'.join(marked_block(name, index)
                          for name in args.tables or TABLES))
        return
    stale = stale_documents(args.root, index)
    if args.check and stale:
        raise UserError(
            f'{", ".join(map(str, stale))}: marked tables differ from the '
            'model index: run python tools/model_index.py --update-docs')
    for path, text in stale.items():
        path.write_text(text)
        print(f'updated {path}')


def cli() -> None:
    run_cli(main)
