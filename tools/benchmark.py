#!/usr/bin/env python
"""Inference images/s and peak memory of a config. Run with --help for the flags."""
from convnext_dense.cli.benchmark import cli

if __name__ == '__main__':
    cli()
