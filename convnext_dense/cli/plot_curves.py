"""``tools/analysis/plot_curves.py``: loss, lr and metric curves of training
runs as one picture, one panel per key."""
import argparse
from pathlib import Path
from typing import List, Optional

from convnext_dense.analysis import curves
from convnext_dense.errors import UserError
from convnext_dense.path_checks import check_output_file

from .common import run_cli


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Plot the curves of training runs (losses, lr, '
        'validation metrics) from the scalar logs mmengine writes into '
        'their work dirs: one panel per key, several work dirs overlaid.')
    parser.add_argument(
        'work_dirs', nargs='+', metavar='WORK_DIR',
        help='the --work-dir of a tools/train.py run (all its '
        f'<timestamp>/vis_data/{curves.SCALARS_FILE} logs, in order), one '
        f'<timestamp> folder, or a {curves.SCALARS_FILE} file')
    parser.add_argument(
        '--keys', nargs='+',
        help='logged keys to plot, one panel each, e.g. loss loss_cls lr '
        'coco/bbox_mAP mIoU (default: those of '
        f'{" ".join(curves.DEFAULT_KEYS)} that were logged)')
    parser.add_argument('--legend', nargs='+',
                        help='a name for each work dir (default: their '
                        'folder names)')
    parser.add_argument('--title', help='title above the panels')
    parser.add_argument('--out', help='picture to write, e.g. curves.png '
                        '(default: curves.png in the first work dir)')
    return parser.parse_args(argv)


def _labels(paths: List[Path], legend: Optional[List[str]]) -> List[str]:
    if legend is not None:
        if len(legend) != len(paths):
            raise UserError(f'--legend has {len(legend)} names for '
                            f'{len(paths)} work dirs: give one per work dir')
        return legend
    names = [path.name for path in paths]
    # Same-named folders (two runs' "work_dirs/x") are told apart by path.
    return names if len(set(names)) == len(names) else list(map(str, paths))


def _default_out(path: Path) -> Path:
    return (path if path.is_dir() else path.parent) / 'curves.png'


def main(argv: Optional[List[str]] = None) -> Path:
    """Writes the picture; returns its path."""
    args = parse_args(argv)
    check_output_file(args.out, '--out')
    paths = [Path(p) for p in args.work_dirs]
    runs = [curves.load_run(path, label)
            for path, label in zip(paths, _labels(paths, args.legend))]
    keys = curves.choose_keys(runs, args.keys)
    out = Path(args.out) if args.out else _default_out(paths[0])
    curves.save(curves.plot(runs, keys, args.title), out)
    print(f'{out}: {len(keys)} panels ({", ".join(keys)}) of '
          f'{len(runs)} run{"s" if len(runs) > 1 else ""}')
    return out


def cli() -> None:
    run_cli(main)
