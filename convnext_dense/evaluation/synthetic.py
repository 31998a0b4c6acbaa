"""Synthetic COCO ground truth and detections, for checking and timing metrics.

:func:`synthetic_coco` draws a COCO-style annotation dict (polygon objects
and a few crowd regions) of any size; :func:`perturbed_detections` turns a
ground-truth dict into detections in the form mmdet's ``CocoMetric``
collects (boxes, scores, labels, RLE masks per image): jittered copies of
the ground-truth objects, some with the wrong class, and random false
positives, with random scores. Neither needs a model or images.
"""
from typing import Dict, List, Sequence, Tuple

import numpy as np
from pycocotools import mask as mask_utils

Rng = np.random.Generator


def ellipse_polygon(rng: Rng, cx: float, cy: float, rx: float, ry: float,
                    vertices: int = 12) -> List[float]:
    """A jagged ellipse as a flat COCO polygon ``[x0, y0, x1, y1, ...]``."""
    angles = np.sort(rng.uniform(0, 2 * np.pi, vertices))
    radius = rng.uniform(0.7, 1.0, vertices)
    xs = cx + rx * radius * np.cos(angles)
    ys = cy + ry * radius * np.sin(angles)
    return np.stack([xs, ys], axis=1).ravel().round(2).tolist()


def synthetic_coco(num_images: int, seed: int = 0, num_classes: int = 80,
                   objects_per_image: float = 7.3,
                   crowd_fraction: float = 0.01) -> dict:
    """A COCO-format ground truth of ``num_images`` 640x480 or 480x640 images.

    Args:
        num_images: Images to draw.
        seed: Seed of the random generator. Defaults to 0.
        num_classes: Categories, ids 1..num_classes. Defaults to 80.
        objects_per_image: Mean objects per image (Poisson, at least one);
            COCO val2017 has 7.3. Defaults to 7.3.
        crowd_fraction: Share of objects that are crowd regions (an RLE box,
            ``iscrowd=1``). Defaults to 0.01.

    Returns:
        dict: ``images``, ``annotations`` and ``categories``.
    """
    rng = np.random.default_rng(seed)
    images, annotations = [], []
    for image_id in range(1, num_images + 1):
        width, height = (640, 480) if rng.random() < 0.7 else (480, 640)
        images.append(dict(id=image_id, width=width, height=height,
                           file_name=f'{image_id:012d}.jpg'))
        for _ in range(max(1, rng.poisson(objects_per_image))):
            annotations.append(
                _object(rng, image_id, width, height, num_classes,
                        crowd=rng.random() < crowd_fraction,
                        ann_id=len(annotations) + 1))
    categories = [dict(id=i, name=f'class_{i}', supercategory='thing')
                  for i in range(1, num_classes + 1)]
    return dict(images=images, annotations=annotations,
                categories=categories)


def _object(rng: Rng, image_id: int, width: int, height: int,
            num_classes: int, crowd: bool, ann_id: int) -> dict:
    # Log-uniform sizes: small, medium and large objects all occur.
    rx, ry = np.exp(rng.uniform(np.log(3), np.log(min(width, height) / 3),
                                2))
    cx, cy = rng.uniform(rx, width - rx), rng.uniform(ry, height - ry)
    if crowd:
        box = [cx - rx, cy - ry, 2 * rx, 2 * ry]
        rle = mask_utils.frPyObjects(np.array([box]), height, width)[0]
        segmentation = dict(size=rle['size'], counts=rle['counts'].decode())
    else:
        segmentation = [ellipse_polygon(rng, cx, cy, rx, ry)]
        rle = mask_utils.merge(
            mask_utils.frPyObjects(segmentation, height, width))
    return dict(id=ann_id, image_id=image_id,
                category_id=int(rng.integers(1, num_classes + 1)),
                segmentation=segmentation, iscrowd=int(crowd),
                area=float(mask_utils.area(rle)),
                bbox=[float(v) for v in mask_utils.toBbox(rle)])


def perturbed_detections(coco: dict, seed: int = 0,
                         detections_per_image: int = 100,
                         copies_per_object: int = 3,
                         wrong_class: float = 0.1
                         ) -> List[Tuple[dict, dict]]:
    """Detections of ``coco``'s objects, as mmdet's ``CocoMetric`` collects them.

    Each non-crowd object gets ``copies_per_object`` jittered copies (box and
    polygon vertices moved by up to a tenth of its size; a ``wrong_class``
    share of them with another category) scored uniformly in (0.2, 1); random
    boxes, scored in (0, 0.6), fill each image up to ``detections_per_image``.

    Args:
        coco: A COCO-format ground truth dict.
        seed: Seed of the random generator. Defaults to 0.
        detections_per_image: Detections per image (more if the copies
            alone exceed it). Defaults to 100.
        copies_per_object: Detections drawn around each object. Defaults
            to 3.
        wrong_class: Share of copies with a wrong category. Defaults to 0.1.

    Returns:
        list: ``(ground truth, prediction)`` pairs in the order of
        ``coco['images']``; the ground truth dict is empty (give the metric
        an ``ann_file``), the prediction holds ``img_id``, ``bboxes``
        (x1, y1, x2, y2), ``scores``, ``labels`` (indices into the sorted
        category ids) and ``masks`` (RLE dicts).
    """
    rng = np.random.default_rng(seed)
    cat_ids = sorted(c['id'] for c in coco['categories'])
    by_image: Dict[int, List[dict]] = {im['id']: [] for im in coco['images']}
    for ann in coco['annotations']:
        if not ann['iscrowd']:
            by_image[ann['image_id']].append(ann)
    results = []
    for image in coco['images']:
        polygons, categories, scores = [], [], []
        for ann in by_image[image['id']]:
            for _ in range(copies_per_object):
                polygons.append(_jitter(rng, ann['segmentation'][0],
                                        ann['bbox']))
                categories.append(ann['category_id'] if rng.random() >
                                  wrong_class else int(rng.choice(cat_ids)))
                scores.append(rng.uniform(0.2, 1.0))
        while len(polygons) < detections_per_image:
            polygons.append(_random_box_polygon(rng, image))
            categories.append(int(rng.choice(cat_ids)))
            scores.append(rng.uniform(0.0, 0.6))
        results.append(({}, _prediction(image, polygons, categories,
                                        np.array(scores), cat_ids)))
    return results


def _jitter(rng: Rng, polygon: Sequence[float],
            bbox: Sequence[float]) -> List[float]:
    size = np.array(bbox[2:])
    points = np.array(polygon).reshape(-1, 2)
    shift = rng.uniform(-0.1, 0.1, 2) * size
    noise = rng.uniform(-0.05, 0.05, points.shape) * size
    return (points + shift + noise).ravel().round(2).tolist()


def _random_box_polygon(rng: Rng, image: dict) -> List[float]:
    width, height = image['width'], image['height']
    x1, y1 = rng.uniform(0, width - 4), rng.uniform(0, height - 4)
    x2 = rng.uniform(x1 + 2, min(width, x1 + width / 2))
    y2 = rng.uniform(y1 + 2, min(height, y1 + height / 2))
    return [x1, y1, x2, y1, x2, y2, x1, y2]


def _prediction(image: dict, polygons: List[List[float]],
                categories: List[int], scores: np.ndarray,
                cat_ids: List[int]) -> dict:
    height, width = image['height'], image['width']
    masks = mask_utils.frPyObjects(polygons, height, width)
    boxes = mask_utils.toBbox(masks)
    boxes[:, 2:] += boxes[:, :2]
    label_of = {cat_id: i for i, cat_id in enumerate(cat_ids)}
    return dict(img_id=image['id'], bboxes=boxes.astype(np.float32),
                scores=scores.astype(np.float32),
                labels=np.array([label_of[c] for c in categories]),
                masks=masks)
