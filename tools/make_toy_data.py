#!/usr/bin/env python
"""Generate an embedded toy dataset.

    python tools/make_toy_data.py coco [--root data/toy_coco] [--num-train 200] [--overwrite]
    python tools/make_toy_data.py ade [--root data/toy_ade] [--num-train 200] [--overwrite]

A root that holds the dataset of the same arguments is kept; a root holding
anything else is refused unless --overwrite. The files are written into a
temporary sibling folder renamed into place, so an interrupted run leaves no
half dataset; concurrent runs into the same root take turns.
"""
import argparse
import importlib
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from convnext_dense.cli.common import run_cli
from convnext_dense.data.toy import folder
from convnext_dense.path_checks import check_output_dir

#: Dataset name -> (generator module, what it generates).
GENERATORS: Dict[str, Tuple[str, str]] = {
    'ade': ('convnext_dense.data.toy.toy_ade',
            'toy ADE20K-layout semantic segmentation dataset'),
    'coco': ('convnext_dense.data.toy.toy_coco',
             'toy COCO instance segmentation dataset'),
}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('dataset', nargs='?', default='coco',
                        choices=sorted(GENERATORS))
    parser.add_argument('--root',
                        help='output folder (default: data/toy_<dataset>)')
    parser.add_argument('--num-train', type=int, default=200,
                        help='training images (default: 200)')
    parser.add_argument('--num-val', type=int, default=50,
                        help='held-out images (default: 50)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--overwrite', action='store_true',
                        help='replace whatever else the root holds')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    module, title = GENERATORS[args.dataset]
    toy = importlib.import_module(module)
    root = Path(args.root or toy.DEFAULT_ROOT)
    check_output_dir(str(root), '--root')
    arguments = dict(num_train=args.num_train, num_val=args.num_val,
                     seed=args.seed)
    # Concurrent runs into the same root take turns (the later one keeps
    # what the first wrote, or refuses it).
    with folder.locked(root):
        if toy.is_generated(root, **arguments):
            print(f'{root}/ already holds this {title}: kept')
        else:
            toy.generate(root, overwrite=args.overwrite, **arguments)
            print(f'{title} written to {root}/')
    print(toy.summary(root))


if __name__ == '__main__':
    run_cli(main)
