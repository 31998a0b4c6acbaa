"""Generators of the embedded toy datasets.

``toy_coco``: COCO-format instance segmentation (detection configs);
``toy_ade``: ADE20K-layout semantic segmentation (segmentation configs).
Import the submodule you need; nothing here is imported eagerly.
"""
