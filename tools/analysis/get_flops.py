#!/usr/bin/env python
"""Parameters and FLOPs of configs beside the paper's. Run with --help for the flags."""
from convnext_dense.cli.get_flops import cli

if __name__ == '__main__':
    cli()
