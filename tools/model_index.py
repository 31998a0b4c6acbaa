#!/usr/bin/env python
"""Markdown tables of the configs from the model index. Run with --help for the flags."""
from convnext_dense.cli.model_index import cli

if __name__ == '__main__':
    cli()
