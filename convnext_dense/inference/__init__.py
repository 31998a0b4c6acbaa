"""Inference on images: painted predictions for each task."""
