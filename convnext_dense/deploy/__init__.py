"""Deployment: ONNX export, checked in onnxruntime (``tools/export_onnx.py``),
and :mod:`.runtime`, which runs an exported detector with onnxruntime, numpy
and OpenCV only."""
