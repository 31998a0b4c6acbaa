#!/usr/bin/env python
"""Train a ConvNeXt detector or segmentor. Run with --help for the flags."""
from convnext_dense.cli.train import cli

if __name__ == '__main__':
    cli()
