"""A small synthetic dataset in the ADE20K layout, where shape and texture
(not colour) tell the classes apart.

Layout under ``root`` (the same as ``ADEChallengeData2016``)::

    images/{training,validation}/toy_XXXXX.jpg
    annotations/{training,validation}/toy_XXXXX.png   # uint8, 0 = "other"

Label 0 is the unlabelled "other" class, ignored in training and evaluation
through ``reduce_zero_label=True`` exactly as in ADE20K; labels 1..4 are the
classes of :data:`CLASSES` in that order. Every object, whatever its class,
takes its colours from the same :data:`IMAGE_COLOURS`, so a pixel's colour
says nothing about its class: solid discs and thin rings differ only by
shape, striped and checkered regions (ellipses or rectangles at random) only
by texture.

:data:`META_FILE` records the arguments; an existing folder is handled as
:mod:`convnext_dense.data.toy.folder` says (kept if the same, else refused
unless ``overwrite``; written atomically).

Generate with ``python tools/make_toy_data.py ade`` or :func:`generate`.
"""
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple, Union

import cv2
import numpy as np

from convnext_dense.data.toy import folder
from convnext_dense.errors import ConfigError

#: Class names of labels 1..4 (after ``reduce_zero_label``: 0..3).
CLASSES: Tuple[str, ...] = ('disc', 'ring', 'stripes', 'checker')
#: Display colours (RGB) of the classes in painted predictions.
PALETTE: Tuple[Tuple[int, int, int], ...] = ((230, 25, 75), (60, 180, 75),
                                             (0, 130, 200), (245, 130, 48))
#: The colours (RGB) every object and background draws from.
IMAGE_COLOURS = np.array(
    [(200, 60, 60), (60, 170, 70), (60, 90, 200), (220, 200, 60),
     (150, 70, 180), (60, 190, 190), (230, 230, 230), (40, 40, 40)],
    dtype=np.float32)

SPLITS: Dict[str, str] = {'training': 'train', 'validation': 'val'}
META_FILE = 'toy_ade_meta.json'
DEFAULT_ROOT = 'data/toy_ade'
#: Bumped whenever the images change, so that stale copies are rewritten.
VERSION = 1

Mask = np.ndarray
Rng = np.random.Generator


def _ellipse(h: int, w: int, rng: Rng, min_r: int, max_r: int) -> Mask:
    ry, rx = rng.integers(min_r, max_r + 1, size=2)
    cy, cx = rng.integers(0, h), rng.integers(0, w)
    yy, xx = np.ogrid[:h, :w]
    return ((yy - cy) / ry)**2 + ((xx - cx) / rx)**2 <= 1.0


def _disc(h: int, w: int, rng: Rng) -> Mask:
    radius = int(rng.integers(12, 33))
    cy, cx = rng.integers(0, h), rng.integers(0, w)
    yy, xx = np.ogrid[:h, :w]
    return (yy - cy)**2 + (xx - cx)**2 <= radius**2


def _ring(h: int, w: int, rng: Rng) -> Mask:
    radius, width = int(rng.integers(16, 33)), int(rng.integers(6, 11))
    cy, cx = rng.integers(0, h), rng.integers(0, w)
    yy, xx = np.ogrid[:h, :w]
    distance = np.sqrt((yy - cy)**2 + (xx - cx)**2)
    return (distance <= radius) & (distance > radius - width)


def _rectangle(h: int, w: int, rng: Rng, min_side: int,
               max_side: int) -> Mask:
    sh, sw = rng.integers(min_side, max_side + 1, size=2)
    y0 = rng.integers(-sh // 2, h - sh // 2)
    x0 = rng.integers(-sw // 2, w - sw // 2)
    mask = np.zeros((h, w), dtype=bool)
    mask[max(y0, 0):max(y0 + sh, 0), max(x0, 0):max(x0 + sw, 0)] = True
    return mask


def _region(h: int, w: int, rng: Rng) -> Mask:
    """An ellipse or a rectangle: the textured classes' shape says nothing."""
    if rng.random() < 0.5:
        return _ellipse(h, w, rng, 16, 40)
    return _rectangle(h, w, rng, 24, 64)


def _stripes(h: int, w: int, rng: Rng) -> Mask:
    period = int(rng.integers(8, 15))
    angle = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[:h, :w]
    phase = xx * np.cos(angle) + yy * np.sin(angle)
    return (phase % period) < period / 2


def _checker(h: int, w: int, rng: Rng) -> Mask:
    cell = int(rng.integers(6, 12))
    yy, xx = np.mgrid[:h, :w]
    return ((yy // cell + xx // cell) % 2).astype(bool)


def _two_colours(rng: Rng, avoid: int) -> Tuple[int, int]:
    """Two different colour indices, the first one not ``avoid``."""
    colours = range(len(IMAGE_COLOURS))
    first = int(rng.choice([c for c in colours if c != avoid]))
    second = int(rng.choice([c for c in colours if c != first]))
    return first, second


#: Per class: (shape of the region, pattern picking the second colour or None).
_CLASS_DRAWERS: Dict[int, Tuple[Callable[[int, int, Rng], Mask],
                                Optional[Callable[[int, int, Rng], Mask]]]] = {
    1: (_disc, None),
    2: (_ring, None),
    3: (_region, _stripes),
    4: (_region, _checker),
}


def make_sample(rng: Rng, size: int = 128) -> Tuple[np.ndarray, np.ndarray]:
    """One image (RGB uint8) and its label map (uint8, 0 = other)."""
    h = w = size
    background = int(rng.integers(len(IMAGE_COLOURS)))
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    # A gentle brightness gradient so that "other" is not one flat colour.
    gradient = 1.0 + 0.25 * ((yy / h - 0.5) * rng.uniform(-1, 1) +
                             (xx / w - 0.5) * rng.uniform(-1, 1))
    image = IMAGE_COLOURS[background] * gradient[..., None]
    labels = np.zeros((h, w), dtype=np.uint8)
    for _ in range(int(rng.integers(5, 9))):
        label = int(rng.integers(1, len(CLASSES) + 1))
        shape, pattern = _CLASS_DRAWERS[label]
        mask = shape(h, w, rng)
        first, second = _two_colours(rng, avoid=background)
        colour = np.broadcast_to(IMAGE_COLOURS[first], (h, w, 3))
        if pattern is not None:
            colour = np.where(pattern(h, w, rng)[..., None],
                              IMAGE_COLOURS[second], colour)
        image[mask] = colour[mask]
        labels[mask] = label
    image += rng.normal(0, 8, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), labels


def _meta(num_train: int, num_val: int, size: int, seed: int) -> dict:
    """What :data:`META_FILE` records."""
    return dict(version=VERSION, classes=list(CLASSES), num_train=num_train,
                num_val=num_val, size=size, seed=seed)


def _has_files(root: Path, num_train: int, num_val: int) -> bool:
    """Whether ``root`` holds every image and label map of the splits."""
    counts = {'train': num_train, 'val': num_val}
    return all(
        len(list((root / kind / split).glob(f'*{ext}'))) == counts[key]
        for split, key in SPLITS.items()
        for kind, ext in (('images', '.jpg'), ('annotations', '.png')))


def is_generated(root: Union[str, Path] = DEFAULT_ROOT,
                 num_train: int = 200,
                 num_val: int = 50,
                 size: int = 128,
                 seed: int = 0) -> bool:
    """Whether ``root`` holds, complete, what :func:`generate` would write
    with these arguments (its defaults are the same)."""
    return folder.mismatch(
        Path(root), META_FILE, _meta(num_train, num_val, size, seed),
        lambda path: _has_files(path, num_train, num_val)) is None


def _write(root: Path, num_train: int, num_val: int, size: int,
           seed: int) -> None:
    counts = {'train': num_train, 'val': num_val}
    for split_id, (split, key) in enumerate(SPLITS.items()):
        image_dir = root / 'images' / split
        label_dir = root / 'annotations' / split
        image_dir.mkdir(parents=True)
        label_dir.mkdir(parents=True)
        for index in range(counts[key]):
            image, labels = make_sample(
                np.random.default_rng([seed, split_id, index]), size)
            name = f'toy_{index:05d}'
            cv2.imwrite(str(image_dir / f'{name}.jpg'),
                        cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                        [cv2.IMWRITE_JPEG_QUALITY, 95])
            cv2.imwrite(str(label_dir / f'{name}.png'), labels)


def generate(root: Union[str, Path] = DEFAULT_ROOT,
             num_train: int = 200,
             num_val: int = 50,
             size: int = 128,
             seed: int = 0,
             overwrite: bool = False) -> Path:
    """Writes the toy dataset under ``root`` unless the same one is there.

    Each sample depends only on ``(seed, split, index)``, so the output is
    byte-for-byte reproducible. About a second for the defaults. An existing
    ``root`` holding the dataset of the same arguments is kept; one holding
    anything else is refused unless ``overwrite``. The files are written into
    a temporary sibling folder that is renamed to ``root`` at the end (see
    :mod:`convnext_dense.data.toy.folder`).

    Args:
        root: Dataset root (ADE20K's ``ADEChallengeData2016`` level).
            Defaults to :data:`DEFAULT_ROOT`.
        num_train: Images in ``training``. Defaults to 200.
        num_val: Images in ``validation``. Defaults to 50.
        size: Side of the square images. Defaults to 128.
        seed: Seed of the whole dataset. Defaults to 0.
        overwrite: Replace whatever else ``root`` holds. Defaults to False.

    Returns:
        The dataset root.

    Raises:
        OutputExistsError: ``root`` holds something else and ``overwrite``
            is False (a ``FileExistsError``).
        ConfigError: A count or size is out of range (a ``ValueError``).
    """
    root = Path(root)
    if min(num_train, num_val) < 1 or size < 32:
        raise ConfigError(
            f'toy ADE20K needs num_train, num_val >= 1 and size >= 32, got '
            f'num_train={num_train}, num_val={num_val}, size={size}')
    folder.write_dataset(
        root, META_FILE, _meta(num_train, num_val, size, seed),
        lambda tmp: _write(tmp, num_train, num_val, size, seed),
        lambda path: _has_files(path, num_train, num_val),
        overwrite=overwrite)
    return root


def summary(root: Union[str, Path]) -> str:
    """One line per split: images and the share of labelled pixels per class."""
    lines = []
    for split in SPLITS:
        labels = sorted((Path(root) / 'annotations' / split).glob('*.png'))
        counts = np.zeros(len(CLASSES) + 1)
        for path in labels:
            label_map = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            counts += np.bincount(label_map.ravel(),
                                  minlength=len(CLASSES) + 1)[:len(CLASSES) + 1]
        shares = counts / max(counts.sum(), 1)
        classes = ', '.join(f'{name} {share:.0%}'
                            for name, share in zip(CLASSES, shares[1:]))
        lines.append(f'{split}: {len(labels)} images ({classes} of the '
                     f'pixels; other {shares[0]:.0%})')
    return '\n'.join(lines)
