"""``tools/analysis/browse_dataset.py``: paint what a config's training
pipeline produces, to check a dataset before training on it."""
import argparse
from typing import List, Optional

from convnext_dense.analysis.browse import OVERVIEW, browse
from convnext_dense.errors import UserError
from convnext_dense.path_checks import check_output_dir

from .cfg_options import CfgOptionsAction
from .common import check_datasets, load_config, run_cli

SPLITS = ('train', 'val', 'test')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Paint the samples a config\'s pipeline produces '
        '(augmentations included): ground-truth boxes, masks and class '
        'names for detection, the colour label map and a class legend for '
        f'segmentation. One PNG per sample, and {OVERVIEW} tiling them.')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--out-dir', '--output-dir', required=True,
                        help='folder for the PNGs (made if absent)')
    parser.add_argument('--max', type=int, default=8, dest='max_samples',
                        help='samples to paint, from the first (default: 8)')
    parser.add_argument('--split', default='train', choices=SPLITS,
                        help='whose dataloader and pipeline (default: train)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the random augmentations (default: 0)')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config entries, e.g. key=value')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> List[str]:
    """Paints the samples; returns the paths written."""
    args = parse_args(argv)
    if args.max_samples < 1:
        raise UserError(f'--max {args.max_samples}: paint at least 1 sample')
    check_output_dir(args.out_dir, '--out-dir')
    cfg = load_config(args.config, args.cfg_options)
    check_datasets(cfg, [args.split])
    written = browse(cfg, args.out_dir, args.max_samples, args.split,
                     args.seed)
    print('\n'.join(written))
    count = len(written) - (len(written) > 1)
    print(f'painted {count} {args.split} sample{"s" * (count > 1)} '
          f'into {args.out_dir}')
    return written


def cli() -> None:
    run_cli(main)
