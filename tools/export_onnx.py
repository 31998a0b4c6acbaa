#!/usr/bin/env python
"""Export a segmentor, a whole Mask R-CNN / Cascade Mask R-CNN, or a
detector's backbone + neck to ONNX and check it in onnxruntime. Run with
--help for the flags."""
from convnext_dense.cli.export_onnx import cli

if __name__ == '__main__':
    cli()
