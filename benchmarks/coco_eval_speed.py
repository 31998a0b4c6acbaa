#!/usr/bin/env python
"""COCO box and mask evaluation: pycocotools against faster-coco-eval, in one run.

Draws a synthetic ground truth of COCO val2017's size (5000 images, about 7
objects each, 80 classes) and detections of a trained detector's size (100
per image, with RLE masks: jittered copies of the objects and random false
positives, see :mod:`convnext_dense.evaluation.synthetic`), then evaluates
them with mmdet's ``CocoMetric`` (pycocotools) and the toolkit's
``FasterCocoMetric`` (faster-coco-eval), timing each metric's index of the
ground truth and its ``compute_metrics`` (results to JSON, loading them, and
the box and mask evaluations), and checks that the metrics agree.

    python benchmarks/coco_eval_speed.py [--images 5000] [--detections 100]
"""
import argparse
import contextlib
import copy
import io
import json
import os
import os.path as osp
import tempfile
import time
from typing import Dict, List, Tuple

from mmdet.evaluation import CocoMetric
from mmengine.logging import MMLogger

from convnext_dense.evaluation import FasterCocoMetric
from convnext_dense.evaluation.synthetic import (perturbed_detections,
                                                 synthetic_coco)


def timed_metric(metric_cls: type, ann_file: str, classes: List[str],
                 results: list) -> Tuple[Dict[str, float], float, float]:
    """The metrics, the seconds to index the ground truth and to evaluate."""
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        metric = metric_cls(ann_file=ann_file, metric=['bbox', 'segm'])
    metric.dataset_meta = dict(classes=classes)
    index_s = time.perf_counter() - start
    start = time.perf_counter()
    # pycocotools prints its progress; faster-coco-eval logs it.
    with contextlib.redirect_stdout(io.StringIO()):
        metrics = metric.compute_metrics(results)
    return metrics, index_s, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--images', type=int, default=5000)
    parser.add_argument('--detections', type=int, default=100,
                        help='detections per image')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    # The evaluators log their progress at INFO.
    MMLogger.get_instance('coco_eval_speed', log_level='WARNING')
    start = time.perf_counter()
    coco = synthetic_coco(args.images, seed=args.seed)
    results = perturbed_detections(coco, seed=args.seed + 1,
                                   detections_per_image=args.detections)
    num_dets = sum(len(pred['scores']) for _, pred in results)
    print(f'{args.images} images, {len(coco["annotations"])} objects, '
          f'{num_dets} detections with masks (drawn in '
          f'{time.perf_counter() - start:.0f} s); load average '
          f'{os.getloadavg()[0]:.2f}', flush=True)
    classes = [c['name'] for c in coco['categories']]
    timings = {}
    with tempfile.TemporaryDirectory() as tmp:
        ann_file = osp.join(tmp, 'instances_val.json')
        with open(ann_file, 'w') as f:
            json.dump(coco, f)
        for name, metric_cls in (('pycocotools', CocoMetric),
                                 ('faster-coco-eval', FasterCocoMetric)):
            metrics, index_s, eval_s = timed_metric(
                metric_cls, ann_file, classes, copy.deepcopy(results))
            timings[name] = (metrics, index_s, eval_s)
            print(f'  {name:<17} index {index_s:6.1f} s   compute_metrics '
                  f'{eval_s:7.1f} s   box AP {metrics["bbox_mAP"]:.3f}   '
                  f'mask AP {metrics["segm_mAP"]:.3f}', flush=True)
    reference, faster = timings['pycocotools'], timings['faster-coco-eval']
    largest = max(abs(reference[0][k] - faster[0][k]) for k in reference[0])
    print(f'  largest metric difference: {largest:.4f} (metrics are rounded '
          'to 3 decimals)')
    print(f'  faster-coco-eval is {reference[2] / faster[2]:.1f}x faster '
          f'(compute_metrics; {(reference[1] + reference[2]) / (faster[1] + faster[2]):.1f}x '
          f'with the index); load average {os.getloadavg()[0]:.2f}')


if __name__ == '__main__':
    main()
