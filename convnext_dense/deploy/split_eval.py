"""An exported detector against mmdet over a config's whole test split
(``tools/export_onnx.py --eval``): COCO box and mask AP of both, computed by
the config's own evaluator, and how many of mmdet's detections the file
gives too."""
import contextlib
import copy
import io
import time
from dataclasses import dataclass
from typing import Dict, List

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import DATASETS, METRICS, init_default_scope

from convnext_dense.deploy import runtime
from convnext_dense.deploy.detector_export import as_prediction, mmdet_predict
from convnext_dense.deploy.matching import Matches, match_detections

#: mmdet's score threshold of the detections compared one to one.
MATCH_MIN_SCORE = 0.05
#: Largest AP difference accepted (``--eval``).
MAX_AP_DIFF = 0.005
#: The COCO metrics reported.
AP_KEYS = ('coco/bbox_mAP', 'coco/segm_mAP')


@dataclass
class SplitComparison:
    """Both runs over one split.

    Attributes:
        images: Images evaluated.
        pytorch: mmdet's metrics (:data:`AP_KEYS`).
        onnx: The file's, by the same evaluator.
        detections: How mmdet's detections with score >= 0.05 matched the
            file's, over the split.
        pytorch_seconds: mmdet's inference time over the split.
        onnx_seconds: The runtime's (pre- and post-processing included).
    """
    images: int
    pytorch: Dict[str, float]
    onnx: Dict[str, float]
    detections: Matches
    pytorch_seconds: float
    onnx_seconds: float


def _sample(info: dict, prediction: runtime.Prediction) -> dict:
    """What mmdet's ``CocoMetric.process`` reads of one prediction."""
    return dict(img_id=info['img_id'],
                ori_shape=(info['height'], info['width']),
                pred_instances=dict(
                    bboxes=torch.from_numpy(prediction.bboxes),
                    scores=torch.from_numpy(prediction.scores),
                    labels=torch.from_numpy(prediction.labels),
                    masks=torch.from_numpy(prediction.masks)))


def _evaluator(cfg: Config, dataset_meta: dict):
    metric = METRICS.build(copy.deepcopy(cfg.test_evaluator))
    metric.dataset_meta = dataset_meta
    return metric


def compare_on_split(cfg: Config, model: nn.Module,
                     detector: runtime.Detector) -> SplitComparison:
    """Runs mmdet and the file on every image of the config's test split.

    Args:
        cfg: The detector's config (its ``test_dataloader`` and
            ``test_evaluator``).
        model: The detector, as the export loaded it.
        detector: The exported file in the runtime.
    """
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    dataset_cfg = copy.deepcopy(cfg.test_dataloader.dataset)
    dataset_cfg.pipeline = []  # the images' files and ids only
    dataset = DATASETS.build(dataset_cfg)
    metrics = [_evaluator(cfg, dataset.metainfo) for _ in range(2)]
    detections = Matches(0, 0, 0, 0.0)
    seconds = [0.0, 0.0]
    infos: List[dict] = [dataset.get_data_info(i)
                         for i in range(len(dataset))]
    for info in infos:
        start = time.perf_counter()
        reference = as_prediction(mmdet_predict(model, info['img_path'])[0])
        seconds[0] += time.perf_counter() - start
        start = time.perf_counter()
        got = detector.predict(info['img_path'])
        seconds[1] += time.perf_counter() - start
        detections += match_detections(reference, got, MATCH_MIN_SCORE)
        for metric, prediction in zip(metrics, (reference, got)):
            metric.process({}, [_sample(info, prediction)])
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools' tables
        results = [metric.evaluate(len(infos)) for metric in metrics]
    return SplitComparison(
        len(infos), *[{k: float(r[k]) for k in AP_KEYS} for r in results],
        detections, *seconds)


def describe(comparison: SplitComparison) -> List[str]:
    """Lines for the user: AP of both runs and the matched share."""
    matches = comparison.detections
    lines = [f'test split, {comparison.images} images: {matches.matched} of '
             f'{matches.expected} PyTorch detections with score >= '
             f'{MATCH_MIN_SCORE:g} matched ({matches.matched_share:.2%}), '
             f'largest score difference {matches.max_score_diff:.2e}']
    for key in AP_KEYS:
        torch_ap, onnx_ap = comparison.pytorch[key], comparison.onnx[key]
        lines.append(f'  {key}: PyTorch {torch_ap:.4f}, onnxruntime '
                     f'{onnx_ap:.4f} (difference {onnx_ap - torch_ap:+.4f})')
    lines.append(f'  inference over the split: PyTorch '
                 f'{comparison.pytorch_seconds:.1f} s, onnxruntime runtime '
                 f'{comparison.onnx_seconds:.1f} s')
    return lines
