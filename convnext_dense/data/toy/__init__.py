"""Generators of the embedded toy datasets (files on disk, not Dataset classes).

``toy_coco``: COCO-format instance segmentation (detection configs);
``toy_ade``: ADE20K-layout semantic segmentation (segmentation configs).
Both follow one contract for an existing output folder (:mod:`.folder`): the
same dataset is kept, anything else is refused unless ``overwrite=True``, and
writes are atomic. Import the submodule you need; nothing here is imported
eagerly.
"""
