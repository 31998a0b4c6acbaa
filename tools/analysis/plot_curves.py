#!/usr/bin/env python
"""Plot training curves from work dirs. Run with --help for the flags."""
from convnext_dense.cli.plot_curves import cli

if __name__ == '__main__':
    cli()
