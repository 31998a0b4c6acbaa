#!/usr/bin/env python
"""Predict on images and write painted PNGs. Run with --help for the flags."""
from convnext_dense.cli.infer import cli

if __name__ == '__main__':
    cli()
