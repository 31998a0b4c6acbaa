"""Training curves from mmengine's scalar logs, one panel per key.

mmengine's ``LocalVisBackend`` appends each record the ``LoggerHook`` logs to
``<work_dir>/<timestamp>/vis_data/scalars.json``, one JSON object a line:

- training records hold the losses, ``lr``, ``time``, ... with ``iter`` (the
  global iteration, also their ``step``) and, in epoch-based runs, ``epoch``;
- validation records hold the metrics (``coco/bbox_mAP``, ``mIoU``, ...)
  with ``step`` the epoch in epoch-based runs and the iteration otherwise.

mmdet's and mmseg's ``tools/analysis_tools/analyze_logs.py`` read the same
lines, but they ship outside the packages' import path, import seaborn and
draw every key on one axis. This module reads every run of a work dir in
order (a resumed run continues its curve) and draws one panel per key on
matplotlib's Agg canvas, so no display is needed.
"""
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from mmengine.logging import print_log

from convnext_dense.errors import InputNotFoundError, UserError

#: The file mmengine's LocalVisBackend writes the scalars into.
SCALARS_FILE = 'scalars.json'
#: Plotted when no keys are asked for: those of them that were logged.
DEFAULT_KEYS: Tuple[str, ...] = ('loss', 'coco/bbox_mAP', 'coco/segm_mAP',
                                 'mIoU')
#: Bookkeeping fields of the records, not curves.
_POSITION_KEYS = frozenset({'step', 'iter', 'epoch'})
#: One panel's size in inches, and the saved picture's dots per inch.
PANEL_INCHES: Tuple[float, float] = (4.8, 3.2)
DPI = 100
#: Panels per row.
MAX_COLUMNS = 3

#: ``(step, value)`` pairs in step order.
Series = List[Tuple[float, float]]


@dataclass
class RunScalars:
    """The scalars logged in one work dir.

    Attributes:
        label: The run's name in legends.
        train: Per key, ``(iteration, value)`` of the training records.
        val: Per key, ``(step, value)`` of the validation records; the step
            is an epoch when ``by_epoch``, else an iteration.
        by_epoch: Whether the training loop was epoch-based.
    """
    label: str
    train: Dict[str, Series] = field(default_factory=dict)
    val: Dict[str, Series] = field(default_factory=dict)
    by_epoch: bool = False

    @property
    def keys(self) -> List[str]:
        """Every key logged, sorted."""
        return sorted(set(self.train) | set(self.val))

    def series(self, key: str) -> Tuple[Series, bool]:
        """The curve of ``key`` and whether it is a validation curve.

        A key logged in both kinds of records (``time``, ``data_time``) is
        taken from the training records.
        """
        if key in self.train:
            return self.train[key], False
        return self.val.get(key, []), True


def scalar_files(path: Path) -> List[Path]:
    """The scalar logs of a work dir in run order, or ``[path]`` for a file.

    Args:
        path: A work dir (its ``<timestamp>/vis_data/scalars.json`` files),
            one run's ``<timestamp>`` folder, or a ``scalars.json`` file.

    Raises:
        InputNotFoundError: when ``path`` does not exist.
        UserError: when a folder holds no scalar log.
    """
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InputNotFoundError(f'work dir {path} does not exist')
    # Timestamp folder names (YYYYMMDD_HHMMSS) sort in run order.
    found = sorted(path.glob(f'*/vis_data/{SCALARS_FILE}'))
    found += [p for p in [path / 'vis_data' / SCALARS_FILE] if p.is_file()]
    if not found:
        raise UserError(
            f'{path} holds no scalar log (<timestamp>/vis_data/'
            f'{SCALARS_FILE}): pass the --work-dir of a tools/train.py run')
    return found


def _records(path: Path) -> List[dict]:
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:  # a run killed while writing
            print_log(f'{path}:{number} is not a JSON record: skipped',
                      logger='current', level=30)
    return records


def load_run(path: Path, label: Optional[str] = None) -> RunScalars:
    """Reads every scalar log of a work dir (see :func:`scalar_files`).

    A step logged again by a later run (a resumed training) takes the later
    value. Values that are not numbers are left out.

    Args:
        path: The work dir, run folder or ``scalars.json``.
        label: Name in legends. Defaults to the folder's (or file's) name.

    Raises:
        UserError: when the logs hold no scalar yet.
    """
    run = RunScalars(label or path.name)
    merged: Dict[bool, Dict[str, Dict[float, float]]] = {True: {}, False: {}}
    for file in scalar_files(path):
        for record in _records(file):
            is_train = 'iter' in record
            run.by_epoch |= is_train and 'epoch' in record
            step = record.get('step', record.get('iter', 0))
            for key, value in record.items():
                if (key in _POSITION_KEYS or isinstance(value, bool)
                        or not isinstance(value, (int, float))):
                    continue
                merged[is_train].setdefault(key, {})[step] = float(value)
    run.train = {k: sorted(v.items()) for k, v in merged[True].items()}
    run.val = {k: sorted(v.items()) for k, v in merged[False].items()}
    if not run.keys:
        raise UserError(f'{path}: no scalars logged yet (mmengine writes '
                        f'them every default_hooks.logger.interval '
                        f'iterations)')
    return run


def logged_keys(runs: Sequence[RunScalars]) -> List[str]:
    """Keys logged by any of the runs, sorted."""
    return sorted(set().union(*(run.keys for run in runs)))


def choose_keys(runs: Sequence[RunScalars],
                keys: Optional[Sequence[str]] = None) -> List[str]:
    """Checks the asked-for keys, or picks :data:`DEFAULT_KEYS` that exist.

    Raises:
        UserError: naming a key none of the runs logged, and those they did.
    """
    logged = logged_keys(runs)
    if not keys:
        return [key for key in DEFAULT_KEYS if key in logged] or logged[:4]
    for key in keys:
        if key not in logged:
            where = ', '.join(run.label for run in runs)
            raise UserError(f'key {key!r} is not logged in {where}: the '
                            f'logged keys are {", ".join(logged)}')
    return list(keys)


def grid(num_panels: int) -> Tuple[int, int]:
    """Rows and columns of the panels: at most :data:`MAX_COLUMNS` a row."""
    columns = min(num_panels, MAX_COLUMNS)
    return math.ceil(num_panels / columns), columns


def picture_size(num_panels: int) -> Tuple[int, int]:
    """Width and height in pixels of the picture :func:`plot` makes."""
    rows, columns = grid(num_panels)
    return (round(PANEL_INCHES[0] * columns * DPI),
            round(PANEL_INCHES[1] * rows * DPI))


def _draw_panel(ax, key: str, runs: Sequence[RunScalars]) -> None:
    x_labels = set()
    for index, run in enumerate(runs):
        series, is_val = run.series(key)
        if not series:
            continue
        steps, values = zip(*series)
        style = (dict(marker='o', markersize=3, linewidth=1.2) if is_val
                 else dict(linewidth=0.9))
        ax.plot(steps, values, color=f'C{index}', label=run.label, **style)
        x_labels.add('epoch' if is_val and run.by_epoch else 'iteration')
    ax.set_title(key)
    ax.set_xlabel(' / '.join(sorted(x_labels)))
    if x_labels == {'epoch'}:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if len(runs) > 1:
        ax.legend(fontsize='small')


def plot(runs: Sequence[RunScalars], keys: Sequence[str],
         title: Optional[str] = None) -> Figure:
    """One panel per key, each run a line of its own colour.

    Training keys are drawn against the iteration; validation metrics
    against the epoch (epoch-based runs) or the iteration, with markers.

    Args:
        runs: The runs to overlay (a legend names them when there are more
            than one).
        keys: Logged keys, one panel each, in this order.
        title: Title above the panels. Defaults to none.

    Returns:
        The figure, sized by :func:`picture_size`.
    """
    rows, columns = grid(len(keys))
    width, height = picture_size(len(keys))
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI,
                    layout='constrained')
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, key in zip(axes, keys):
        _draw_panel(ax, key, runs)
    for unused in axes[len(keys):]:
        figure.delaxes(unused)
    if title:
        figure.suptitle(title)
    return figure


def save(figure: Figure, out: Path) -> None:
    """Writes the figure in the format its suffix names (png, pdf, svg...).

    Raises:
        UserError: when matplotlib cannot write that format.
    """
    supported = figure.canvas.get_supported_filetypes()
    suffix = out.suffix.lstrip('.').lower()
    if suffix not in supported:
        raise UserError(f'--out {out}: matplotlib cannot write '
                        f'{suffix or "files without a suffix"}; use one of '
                        f'.{", .".join(sorted(supported))}')
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=DPI)
