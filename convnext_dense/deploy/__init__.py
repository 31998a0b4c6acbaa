"""Deployment: ONNX export, checked in onnxruntime
(``tools/export_onnx.py``)."""
