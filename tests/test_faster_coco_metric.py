"""FasterCocoMetric (faster-coco-eval) gives pycocotools' box and mask AP on
the toy COCO set and on synthetic ground truth with crowd regions, for
detections drawn around the ground truth (no model needed)."""
import copy
import json

import numpy as np
import pytest
from mmdet.evaluation import CocoMetric
from mmdet.evaluation.metrics import coco_metric as mmdet_coco_metric
from mmengine.registry import init_default_scope
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from convnext_dense.data.toy import toy_coco
from convnext_dense.errors import ConfigError
from convnext_dense.evaluation import coco_metric
from convnext_dense.evaluation.synthetic import (perturbed_detections,
                                                 synthetic_coco)
from convnext_dense.patches import coco_eval_backend
from convnext_dense.registry import METRICS

faster_coco_eval = pytest.importorskip('faster_coco_eval')

DETECTIONS_PER_IMAGE = 150


@pytest.fixture(scope='module', params=['toy', 'synthetic with crowd'])
def ground_truth(request, tmp_path_factory):
    """(annotation file, its dict) of the toy val split or a synthetic set."""
    root = tmp_path_factory.mktemp('coco')
    if request.param == 'toy':
        path = toy_coco.generate(root / 'toy', num_train=1, num_val=30)['val']
    else:
        path = root / 'synthetic.json'
        path.write_text(json.dumps(synthetic_coco(
            20, seed=3, num_classes=20, crowd_fraction=0.1)))
    return str(path), json.loads(path.read_text())


@pytest.fixture(scope='module')
def detections(ground_truth):
    return perturbed_detections(ground_truth[1], seed=1,
                                detections_per_image=DETECTIONS_PER_IMAGE)


def coco_results(coco: dict, detections: list, iou_type: str) -> list:
    """Detections as COCO result dicts (what CocoMetric writes to JSON)."""
    cat_ids = sorted(c['id'] for c in coco['categories'])
    results = []
    for _, pred in detections:
        for i, label in enumerate(pred['labels']):
            x1, y1, x2, y2 = pred['bboxes'][i].tolist()
            result = dict(image_id=pred['img_id'],
                          category_id=cat_ids[label],
                          score=float(pred['scores'][i]))
            if iou_type == 'bbox':
                result['bbox'] = [x1, y1, x2 - x1, y2 - y1]
            else:
                mask = pred['masks'][i]
                result['segmentation'] = dict(
                    size=mask['size'], counts=mask['counts'].decode()
                    if isinstance(mask['counts'], bytes) else mask['counts'])
            results.append(result)
    return results


def summary_stats(gt_api, eval_cls, results: list, iou_type: str):
    evaluator = eval_cls(gt_api, gt_api.loadRes(copy.deepcopy(results)),
                         iou_type)
    # mmdet's CocoMetric evaluates at 100, 300 and 1000 detections.
    evaluator.params.maxDets = [100, 300, 1000]
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    return np.array(evaluator.stats)


@pytest.mark.parametrize('iou_type', ['bbox', 'segm'])
def test_summary_stats_match_pycocotools(ground_truth, detections, iou_type):
    path, coco = ground_truth
    results = coco_results(coco, detections, iou_type)
    expected = summary_stats(COCO(path), COCOeval, results, iou_type)
    faster_eval = coco_eval_backend.pycocotools_summary_eval(faster_coco_eval)
    got = summary_stats(faster_coco_eval.COCO(path), faster_eval, results,
                        iou_type)
    assert expected.shape == (12, )
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)
    # Detections around the objects: an AP a trained model would get.
    assert 0.2 < expected[0] < 0.9


def test_map_counts_the_best_100_detections_per_image_and_class(tmp_path):
    """pycocotools' mAP (stats[0]) is at 100 detections, not at 1000."""
    coco = synthetic_coco(10, seed=4, num_classes=1)
    path = tmp_path / 'one_class.json'
    path.write_text(json.dumps(coco))
    # 250 detections of the one class per image, true positives among the
    # ones below the 100th score.
    results = coco_results(coco, perturbed_detections(
        coco, seed=5, detections_per_image=250), 'bbox')
    expected = summary_stats(COCO(str(path)), COCOeval, results, 'bbox')
    faster_eval = coco_eval_backend.pycocotools_summary_eval(faster_coco_eval)
    got = summary_stats(faster_coco_eval.COCO(str(path)), faster_eval,
                        results, 'bbox')
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)
    plain = summary_stats(faster_coco_eval.COCO(str(path)),
                          faster_coco_eval.COCOeval_faster, results, 'bbox')
    assert abs(plain[0] - expected[0]) > 1e-3


def test_metric_results_match_cocometric(ground_truth, detections):
    path, coco = ground_truth
    classes = [c['name'] for c in sorted(coco['categories'],
                                         key=lambda c: c['id'])]
    results = {}
    for cls in (CocoMetric, coco_metric.FasterCocoMetric):
        metric = cls(ann_file=path, metric=['bbox', 'segm'], classwise=True)
        metric.dataset_meta = dict(classes=classes)
        results[cls] = metric.compute_metrics(copy.deepcopy(detections))
    expected, got = results[CocoMetric], results[coco_metric.FasterCocoMetric]
    assert set(got) == set(expected)
    assert 'bbox_mAP' in got and 'segm_mAP' in got
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-4, nan_ok=True), key
    # mmdet's module names point to pycocotools again afterwards.
    assert mmdet_coco_metric.COCOeval is COCOeval


def test_config_switch_builds_the_faster_metric(ground_truth):
    init_default_scope('mmdet')
    metric = METRICS.build(dict(type='convnext_dense.FasterCocoMetric',
                                ann_file=ground_truth[0],
                                metric=['bbox', 'segm']))
    assert isinstance(metric, coco_metric.FasterCocoMetric)
    assert isinstance(metric._coco_api, faster_coco_eval.COCO)


def test_use_mp_eval_is_refused(ground_truth):
    with pytest.raises(ConfigError, match='drop use_mp_eval=True'):
        coco_metric.FasterCocoMetric(ann_file=ground_truth[0],
                                     use_mp_eval=True)


def test_missing_package_says_how_to_install(monkeypatch):
    def missing(name):
        raise ImportError(f'No module named {name!r}')

    monkeypatch.setattr(coco_eval_backend.importlib, 'import_module', missing)
    with pytest.raises(ConfigError, match='pip install faster-coco-eval'):
        coco_metric.FasterCocoMetric()
