#!/usr/bin/env python
"""The embedded default end to end: generate toy data if absent, train the toy
model, evaluate it and print its metrics.

    python tools/demo.py                 # toy Cascade Mask R-CNN, box/mask AP
    python tools/demo.py segmentation    # toy UperNet, mIoU
"""
import argparse
import importlib

from convnext_dense.cli.common import run_cli

DEMOS = {
    'detection': 'convnext_dense.demos.detection',
    'segmentation': 'convnext_dense.demos.segmentation',
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('task', nargs='?', default='detection',
                        choices=sorted(DEMOS))
    parser.add_argument('--work-dir', help='default: work_dirs/demo_<task>')
    args = parser.parse_args()
    demo = importlib.import_module(DEMOS[args.task])
    demo.run(work_dir=args.work_dir or f'work_dirs/demo_{args.task}')


if __name__ == '__main__':
    run_cli(main)
