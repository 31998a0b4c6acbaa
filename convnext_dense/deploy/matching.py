"""Detections of two runs of one detector matched one to one (numpy only):
how the ONNX export is compared with mmdet's own inference."""
from dataclasses import dataclass

import numpy as np

#: A detection matches one of the same label with at least these IoUs.
MIN_BOX_IOU = 0.99
MIN_MASK_IOU = 0.95


def box_iou(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """(len(boxes), len(others)) IoU of x1 y1 x2 y2 boxes."""
    boxes, others = boxes.astype(np.float64), others.astype(np.float64)
    top_left = np.maximum(boxes[:, None, :2], others[None, :, :2])
    bottom_right = np.minimum(boxes[:, None, 2:], others[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    other_area = np.prod(others[:, 2:] - others[:, :2], axis=1)
    union = area[:, None] + other_area[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0)


def mask_iou(mask: np.ndarray, other: np.ndarray) -> float:
    """IoU of two boolean masks (1 when both are empty)."""
    union = np.logical_or(mask, other).sum()
    return float(np.logical_and(mask, other).sum() / union) if union else 1.0


@dataclass
class Matches:
    """How the expected detections found a match among the others.

    Attributes:
        expected: Expected detections considered.
        got: Detections of the other run.
        matched: Expected detections matched.
        max_score_diff: Largest score difference of a matched pair.
    """
    expected: int
    got: int
    matched: int
    max_score_diff: float

    @property
    def matched_share(self) -> float:
        """``matched / expected`` (1 when nothing was expected)."""
        return self.matched / self.expected if self.expected else 1.0

    def __add__(self, other: 'Matches') -> 'Matches':
        """Both counts together (e.g. over the images of a split)."""
        return Matches(self.expected + other.expected, self.got + other.got,
                       self.matched + other.matched,
                       max(self.max_score_diff, other.max_score_diff))


def match_detections(expected, got, min_score: float = 0.0) -> Matches:
    """Matches each expected detection with score >= ``min_score``, best
    first, to an unmatched one of ``got`` with the same label, box IoU >=
    :data:`MIN_BOX_IOU` and mask IoU >= :data:`MIN_MASK_IOU` (the best box
    IoU among those).

    Args:
        expected: Detections with ``bboxes``, ``scores``, ``labels`` and
            ``masks`` (N x H x W bool) arrays, e.g. mmdet's.
        got: The same of the other run.
        min_score: Expected detections below it are left out.
    """
    order = [i for i in np.argsort(-expected.scores, kind='stable')
             if expected.scores[i] >= min_score]
    ious = (box_iou(expected.bboxes, got.bboxes)
            if len(order) and len(got.scores) else np.zeros(
                (len(expected.scores), 0)))
    free = np.ones(len(got.scores), bool)
    matched, score_diff = 0, 0.0
    for index in order:
        candidates = np.flatnonzero(
            free & (got.labels == expected.labels[index])
            & (ious[index] >= MIN_BOX_IOU))
        for other in candidates[np.argsort(-ious[index, candidates])]:
            if mask_iou(expected.masks[index],
                        got.masks[other]) >= MIN_MASK_IOU:
                free[other] = False
                matched += 1
                score_diff = max(score_diff, abs(
                    float(expected.scores[index]) - float(got.scores[other])))
                break
    return Matches(len(order), len(got.scores), matched, score_diff)
