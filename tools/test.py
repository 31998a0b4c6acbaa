#!/usr/bin/env python
"""Test a checkpoint: COCO box/mask AP or ADE20K mIoU. Run with --help for the flags."""
from convnext_dense.cli.test import cli

if __name__ == '__main__':
    cli()
