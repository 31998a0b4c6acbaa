"""Tiny COCO and ADE20K-layout datasets (a few small images) written into a
test's folder, with configs that point the toy configs at them, for tests of
bad input."""
import json
from pathlib import Path
from typing import Dict, List, Optional

import cv2
import numpy as np

from helpers import CONFIGS

COCO_CLASSES = ('square', 'circle', 'triangle')
COCO_CONFIG = CONFIGS / 'toy' / 'mask_rcnn_convnext_toy_coco.py'
ADE_CONFIG = CONFIGS / 'toy' / 'upernet_convnext_toy_ade.py'
#: Image size (height, width) of the tiny datasets.
SIZE = (48, 64)


def write_image(path: Path, seed: int, size=SIZE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cv2.imwrite(str(path), rng.integers(0, 256, (*size, 3), dtype=np.uint8))
    return path


def annotation(ann_id: int, image_id: int, category_id: int = 1,
               bbox=(4, 4, 20, 16), **extra) -> dict:
    """A COCO annotation: by default a valid box with its polygon."""
    x, y, w, h = bbox
    ann = dict(id=ann_id, image_id=image_id, category_id=category_id,
               bbox=list(bbox), area=float(w * h), iscrowd=0,
               segmentation=[[x, y, x + w, y, x + w, y + h, x, y + h]])
    ann.update(extra)
    return ann


def write_coco(root: Path, split: str = 'train', num_images: int = 3,
               annotations: Optional[List[dict]] = None,
               categories: Optional[List[dict]] = None,
               files: bool = True) -> Path:
    """``root/annotations/instances_<split>.json`` and ``root/<split>/*.png``
    (as the toy COCO data lays them out); returns the annotation file.

    Args:
        annotations: Defaults to one valid annotation per image.
        categories: Defaults to the toy classes, ids 1..3.
        files: Write the image files too.
    """
    images = [dict(id=i + 1, file_name=f'{i:06d}.png', width=SIZE[1],
                   height=SIZE[0]) for i in range(num_images)]
    if files:
        for i, image in enumerate(images):
            write_image(root / split / image['file_name'], seed=i)
    if annotations is None:
        annotations = [annotation(i + 1, i + 1, category_id=i % 3 + 1)
                       for i in range(num_images)]
    if categories is None:
        categories = [dict(id=i + 1, name=name)
                      for i, name in enumerate(COCO_CLASSES)]
    ann_file = root / 'annotations' / f'instances_{split}.json'
    ann_file.parent.mkdir(parents=True, exist_ok=True)
    ann_file.write_text(json.dumps(dict(images=images, annotations=annotations,
                                        categories=categories)))
    return ann_file


def coco_config(tmp_path: Path, root: Path, extra: str = '') -> Path:
    """A config of the toy Mask R-CNN on the tiny COCO data under ``root``."""
    path = tmp_path / 'tiny_coco_config.py'
    path.write_text(
        f'_base_ = {str(COCO_CONFIG)!r}\n'
        f'data_root = {str(root) + "/"!r}\n'
        'train_dataloader = dict(dataset=dict(data_root=data_root))\n'
        'val_dataloader = dict(dataset=dict(data_root=data_root))\n'
        'test_dataloader = val_dataloader\n'
        "val_evaluator = dict(ann_file=data_root + "
        "'annotations/instances_val.json')\n"
        'test_evaluator = val_evaluator\n'
        f'work_dir = {str(tmp_path / "work")!r}\n' + extra)
    return path


def write_ade(root: Path, split: str = 'training', num_images: int = 2,
              labels: Optional[Dict[int, np.ndarray]] = None) -> Path:
    """``root/images/<split>/*.jpg`` with ``root/annotations/<split>/*.png``
    label maps (values 0..4, 0 = ignored through reduce_zero_label).

    Args:
        labels: Replaces the label map of image ``i`` (any size, channels
            or values).
    """
    for i in range(num_images):
        write_image(root / 'images' / split / f'img_{i}.jpg', seed=i)
        label = np.zeros(SIZE, np.uint8)
        label[8:24, 8:40] = i % 4 + 1
        if labels and i in labels:
            label = labels[i]
        path = root / 'annotations' / split / f'img_{i}.png'
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), label)
    return root


def ade_config(tmp_path: Path, root: Path) -> Path:
    """A config of the toy UperNet on the tiny ADE data under ``root``."""
    path = tmp_path / 'tiny_ade_config.py'
    path.write_text(
        f'_base_ = {str(ADE_CONFIG)!r}\n'
        f'data_root = {str(root)!r}\n'
        'train_dataloader = dict(num_workers=0, persistent_workers=False, '
        'dataset=dict(data_root=data_root))\n'
        'val_dataloader = dict(num_workers=0, persistent_workers=False, '
        'dataset=dict(data_root=data_root))\n'
        'test_dataloader = val_dataloader\n'
        f'work_dir = {str(tmp_path / "work")!r}\n')
    return path
