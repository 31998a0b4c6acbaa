#!/usr/bin/env python
"""Paint what a config's training pipeline produces. Run with --help for the
flags."""
from convnext_dense.cli.browse_dataset import cli

if __name__ == '__main__':
    cli()
