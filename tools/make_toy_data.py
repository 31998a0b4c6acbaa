#!/usr/bin/env python
"""Generate an embedded toy dataset.

    python tools/make_toy_data.py coco [--root data/toy_coco] [--num-train 200]
    python tools/make_toy_data.py ade [--root data/toy_ade] [--num-train 200]
"""
import argparse
from pathlib import Path
from typing import Callable, Dict, List, Optional

from convnext_dense.cli.common import UserError, run_cli


def make_coco(args: argparse.Namespace) -> None:
    """The toy COCO instance-segmentation dataset (detection configs)."""
    from convnext_dense.datasets import toy_coco
    root = Path(args.root or toy_coco.DEFAULT_ROOT)
    if root.exists() and not args.overwrite:
        raise UserError(
            f'{root} already exists: pass --overwrite to replace it')
    try:
        toy_coco.generate(root, num_train=args.num_train or 200,
                          num_val=args.num_val or 50, seed=args.seed,
                          overwrite=args.overwrite)
    except ValueError as error:
        raise UserError(str(error)) from None
    print(f'toy COCO written to {root}/\n{toy_coco.summary(root)}')


def make_ade(args: argparse.Namespace) -> None:
    """The toy ADE20K-layout semantic segmentation dataset (UperNet)."""
    from convnext_dense.datasets import toy_ade
    root = toy_ade.generate(args.root or toy_ade.DEFAULT_ROOT,
                            num_train=args.num_train or 200,
                            num_val=args.num_val or 50, seed=args.seed)
    print(f'toy ADE20K-layout dataset written to {root}/')


#: Dataset name -> function generating it from the parsed arguments.
GENERATORS: Dict[str, Callable[[argparse.Namespace], None]] = {
    'ade': make_ade,
    'coco': make_coco,
}


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('dataset', nargs='?', default='coco',
                        choices=sorted(GENERATORS))
    parser.add_argument('--root',
                        help='output folder (default: data/toy_<dataset>)')
    parser.add_argument('--num-train', type=int, help='training images')
    parser.add_argument('--num-val', type=int, help='held-out images')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an existing dataset')
    args = parser.parse_args(argv)
    GENERATORS[args.dataset](args)


if __name__ == '__main__':
    run_cli(main)
