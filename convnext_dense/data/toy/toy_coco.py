"""A small synthetic COCO-format instance-segmentation dataset.

Three shape classes (:data:`CLASSES`) on noisy backgrounds. Every object takes
a random colour, whatever its class, so only the shape tells the classes
apart; shapes stand upright, tilted by at most :data:`MAX_TILT_DEGREES`;
sizes vary from small to large (about 14 to 56 pixels across), and objects
never overlap, so each instance mask is exactly its visible pixels.

Layout under ``root``::

    train/000001.png ...    val/000001.png ...
    annotations/instances_train.json    annotations/instances_val.json

Masks are stored as COCO polygons; the image is painted from the mask that
pycocotools rasterises from that polygon, and the box is that mask's tight
box, so images, masks and boxes agree pixel for pixel with what mmdet's
``LoadAnnotations`` and COCO evaluation read back.

Every image is drawn from its own random stream seeded by ``(seed, split,
index)``: the same arguments give byte-identical files, and the validation
split does not depend on the size of the training split. :data:`META_FILE`
records the arguments; an existing folder is handled as
:mod:`convnext_dense.data.toy.folder` says (kept if the same, else refused
unless ``overwrite``; written atomically).

Generate with ``python tools/make_toy_data.py coco`` or :func:`generate`.
"""
import json
import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from convnext_dense.data.toy import folder
from convnext_dense.errors import ConfigError

#: Class names, category ids 1..3 in this order.
CLASSES: Tuple[str, ...] = ('square', 'circle', 'triangle')
#: Display colours (RGB) of the classes in painted predictions.
PALETTE: Tuple[Tuple[int, int, int], ...] = ((230, 25, 75), (60, 180, 75),
                                             (0, 130, 200))
#: Split names, in the order their random streams are numbered.
SPLITS: Tuple[str, ...] = ('train', 'val')
#: Most rotation of a shape away from upright (squares axis-aligned,
#: triangles pointing up).
MAX_TILT_DEGREES = 15.0
DEFAULT_ROOT = 'data/toy_coco'
#: Records the generator's arguments inside the dataset root.
META_FILE = 'toy_coco_meta.json'
#: Bumped whenever the files change, so that stale copies are not kept.
VERSION = 1

Rng = np.random.Generator
Polygon = np.ndarray  # (N, 2) float vertices, x then y


def ann_file(root: Union[str, Path], split: str) -> Path:
    """Path of a split's COCO annotation file under ``root``."""
    return Path(root) / 'annotations' / f'instances_{split}.json'


def exists(root: Union[str, Path]) -> bool:
    """Whether ``root`` holds every file of a generated dataset."""
    for split in SPLITS:
        path = ann_file(root, split)
        if not path.is_file() or not (Path(root) / split).is_dir():
            return False
        try:
            images = json.loads(path.read_text())['images']
        except (ValueError, KeyError, TypeError):
            return False
        if not all((Path(root) / split / im['file_name']).is_file()
                   for im in images):
            return False
    return True


def _meta(num_train: int, num_val: int, seed: int, image_size: int,
          max_objects: int) -> dict:
    """What :data:`META_FILE` records."""
    return dict(version=VERSION, classes=list(CLASSES), num_train=num_train,
                num_val=num_val, seed=seed, image_size=image_size,
                max_objects=max_objects)


def is_generated(root: Union[str, Path] = DEFAULT_ROOT,
                 num_train: int = 200,
                 num_val: int = 50,
                 seed: int = 0,
                 image_size: int = 128,
                 max_objects: int = 4) -> bool:
    """Whether ``root`` holds, complete, what :func:`generate` would write
    with these arguments (its defaults are the same)."""
    meta = _meta(num_train, num_val, seed, image_size, max_objects)
    return folder.mismatch(Path(root), META_FILE, meta, exists) is None


def shape_polygon(kind: str, cx: float, cy: float, size: float,
                  angle: float) -> Polygon:
    """Vertices of a ``square``, ``circle`` or ``triangle`` of width ``size``.

    ``size`` is the side of the square, the diameter of the circle and the
    side of the equilateral triangle; ``angle`` (radians) rotates the shape
    clockwise on the image from upright (axis-aligned square, triangle
    pointing up).
    """
    if kind == 'square':
        corners = np.arange(4) * math.pi / 2 + math.pi / 4 + angle
        radius = size / math.sqrt(2)
    elif kind == 'circle':
        corners = np.linspace(0, 2 * math.pi, 32, endpoint=False)
        radius = size / 2
    elif kind == 'triangle':
        corners = np.arange(3) * 2 * math.pi / 3 - math.pi / 2 + angle
        radius = size / math.sqrt(3)
    else:
        raise ValueError(f'unknown shape {kind!r}: use one of {CLASSES}')
    return np.stack(
        [cx + radius * np.cos(corners), cy + radius * np.sin(corners)], 1)


def _rle(polygon: Polygon, height: int, width: int) -> dict:
    return mask_utils.merge(
        mask_utils.frPyObjects([polygon.ravel().tolist()], height, width))


def _overlaps(box: np.ndarray, boxes: List[np.ndarray], margin: float) -> bool:
    return any(
        box[0] < other[2] + margin and other[0] < box[2] + margin
        and box[1] < other[3] + margin and other[1] < box[3] + margin
        for other in boxes)


def _place_shapes(rng: Rng, size: int, max_objects: int,
                  min_size: float, max_size: float
                  ) -> List[Tuple[int, Polygon]]:
    """Up to ``max_objects`` non-overlapping shapes inside the image."""
    placed: List[Tuple[int, Polygon]] = []
    boxes: List[np.ndarray] = []
    wanted = int(rng.integers(1, max_objects + 1))
    for _ in range(wanted * 20):
        if len(placed) == wanted:
            break
        label = int(rng.integers(len(CLASSES)))
        width = float(rng.uniform(min_size, max_size))
        cx, cy = rng.uniform(width / 2 + 1, size - width / 2 - 1, size=2)
        tilt = math.radians(MAX_TILT_DEGREES)
        polygon = shape_polygon(CLASSES[label], cx, cy, width,
                                float(rng.uniform(-tilt, tilt)))
        box = np.concatenate([polygon.min(0), polygon.max(0)])
        if box.min() < 0 or box.max() > size - 1 or _overlaps(box, boxes, 3):
            continue
        placed.append((label, np.round(polygon, 1)))
        boxes.append(box)
    return placed


def _background(rng: Rng, size: int) -> np.ndarray:
    """A random colour with a linear gradient across the image (float RGB)."""
    base = rng.uniform(40, 215, size=3)
    ramp = np.linspace(-1, 1, size)
    direction = rng.uniform(-30, 30, size=(2, 3))
    return (base + ramp[:, None, None] * direction[0] +
            ramp[None, :, None] * direction[1])


def _object_colour(rng: Rng, background: np.ndarray) -> np.ndarray:
    """A random colour that stands out from the background's mean colour."""
    mean = background.reshape(-1, 3).mean(0)
    while True:
        colour = rng.uniform(0, 255, size=3)
        if np.abs(colour - mean).sum() > 150:
            return colour


def make_sample(rng: Rng, size: int = 128, max_objects: int = 4,
                min_size: float = 14, max_size: float = 56
                ) -> Tuple[np.ndarray, List[dict]]:
    """Draws one image (uint8 RGB) and its instances.

    Returns:
        tuple: The image and one dict per object with ``category_id``
        (1-based), ``segmentation`` (one COCO polygon), ``bbox`` (x, y, w, h
        of the rasterised mask) and ``area`` (its pixel count).
    """
    image = _background(rng, size)
    instances = []
    for label, polygon in _place_shapes(rng, size, max_objects, min_size,
                                        max_size):
        rle = _rle(polygon, size, size)
        mask = mask_utils.decode(rle).astype(bool)
        image[mask] = _object_colour(rng, image)
        instances.append(
            dict(
                category_id=label + 1,
                segmentation=[polygon.ravel().tolist()],
                bbox=[float(v) for v in mask_utils.toBbox(rle)],
                area=float(mask_utils.area(rle))))
    image += rng.normal(0, 8, size=image.shape)
    return np.clip(np.round(image), 0, 255).astype(np.uint8), instances


def _write_split(root: Path, split: str, num_images: int, seed: int,
                 size: int, max_objects: int) -> Path:
    image_dir = root / split
    image_dir.mkdir(parents=True)
    images, annotations = [], []
    split_index = SPLITS.index(split)
    for index in range(num_images):
        rng = np.random.default_rng([seed, split_index, index])
        image, instances = make_sample(rng, size, max_objects)
        file_name = f'{index + 1:06d}.png'
        cv2.imwrite(str(image_dir / file_name), image[..., ::-1])
        images.append(
            dict(id=index + 1, file_name=file_name, height=size, width=size))
        for instance in instances:
            annotations.append(
                dict(instance, id=len(annotations) + 1, image_id=index + 1,
                     iscrowd=0))
    coco = dict(
        info=dict(description=f'convnext-dense toy COCO ({split}, seed '
                  f'{seed})'),
        licenses=[],
        images=images,
        annotations=annotations,
        categories=[
            dict(id=i + 1, name=name, supercategory='shape')
            for i, name in enumerate(CLASSES)
        ])
    path = ann_file(root, split)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(coco))
    return path


def generate(root: Union[str, Path] = DEFAULT_ROOT,
             num_train: int = 200,
             num_val: int = 50,
             seed: int = 0,
             image_size: int = 128,
             max_objects: int = 4,
             overwrite: bool = False) -> Dict[str, Path]:
    """Writes the toy dataset under ``root`` unless the same one is there.

    An existing ``root`` holding the dataset of the same arguments is kept;
    one holding anything else is refused unless ``overwrite``. The files are
    written into a temporary sibling folder that is renamed to ``root`` at the
    end, so an interrupted run leaves no half dataset behind (see
    :mod:`convnext_dense.data.toy.folder`).

    Args:
        root: Output folder. Defaults to :data:`DEFAULT_ROOT`.
        num_train: Number of training images. Defaults to 200.
        num_val: Number of held-out validation images. Defaults to 50.
        seed: Seed of the random streams. Defaults to 0.
        image_size: Height and width of the square images. Defaults to 128.
        max_objects: Most objects in one image (at least one each).
            Defaults to 4.
        overwrite: Replace whatever else ``root`` holds. Defaults to False.

    Returns:
        dict: The annotation file of each split.

    Raises:
        OutputExistsError: ``root`` holds something else and ``overwrite``
            is False (a ``FileExistsError``).
        ConfigError: A count or size is out of range (a ``ValueError``).
    """
    root = Path(root)
    if min(num_train, num_val) < 1 or image_size < 64 or max_objects < 1:
        raise ConfigError(
            f'toy COCO needs num_train, num_val, max_objects >= 1 and '
            f'image_size >= 64, got num_train={num_train}, num_val={num_val}, '
            f'max_objects={max_objects}, image_size={image_size}')
    counts = dict(train=num_train, val=num_val)

    def write(tmp: Path) -> None:
        for split in SPLITS:
            _write_split(tmp, split, counts[split], seed, image_size,
                         max_objects)

    folder.write_dataset(
        root, META_FILE,
        _meta(num_train, num_val, seed, image_size, max_objects),
        write, exists, overwrite=overwrite)
    return {split: ann_file(root, split) for split in SPLITS}


def summary(root: Union[str, Path],
            splits: Optional[Sequence[str]] = None) -> str:
    """One line per split: images, instances and instances per class."""
    lines = []
    for split in splits or SPLITS:
        coco = json.loads(ann_file(root, split).read_text())
        per_class = np.bincount(
            [a['category_id'] - 1 for a in coco['annotations']],
            minlength=len(CLASSES))
        classes = ', '.join(
            f'{n} {name}' for name, n in zip(CLASSES, per_class))
        lines.append(f'{split}: {len(coco["images"])} images, '
                     f'{len(coco["annotations"])} instances ({classes})')
    return '\n'.join(lines)
