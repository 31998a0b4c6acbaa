"""tools/test.py --classwise: per-class box and mask AP of mmdet's COCO metric,
as tables in the log and as coco/per_class in the metrics JSON (tools/test.py
--classwise on the trained toy detectors: test_detection_tools.py)."""
import numpy as np
import pytest
import torch
from mmdet.evaluation import CocoMetric
from mmengine.evaluator import Evaluator
from pycocotools.coco import COCO

from convnext_dense.data.toy import toy_coco
from convnext_dense.errors import UserError
from convnext_dense.evaluation.classwise import (ClasswiseCocoMetric,
                                                 enable_classwise)

MISSED = 'circle'


@pytest.fixture(scope='module')
def toy_val(tmp_path_factory):
    root = tmp_path_factory.mktemp('classwise') / 'toy_coco'
    toy_coco.generate(root, num_train=1, num_val=8)
    return toy_coco.ann_file(root, 'val')


def ground_truth_predictions(ann_file, skip: str):
    """Every object as a perfect detection (box, mask, score 1), except
    those of class ``skip``: one data sample per image, as mmdet's models
    give them to the metric."""
    coco = COCO(str(ann_file))
    names = {c['id']: c['name'] for c in coco.loadCats(coco.getCatIds())}
    samples = []
    for image in coco.loadImgs(coco.getImgIds()):
        anns = [a for a in coco.loadAnns(coco.getAnnIds(imgIds=image['id']))
                if names[a['category_id']] != skip]
        boxes = [[x, y, x + w, y + h] for x, y, w, h in
                 (a['bbox'] for a in anns)]
        masks = np.zeros((len(anns), image['height'], image['width']), bool)
        for mask, ann in zip(masks, anns):
            mask[:] = coco.annToMask(ann)
        samples.append(dict(
            img_id=image['id'], ori_shape=(image['height'], image['width']),
            pred_instances=dict(
                bboxes=torch.tensor(boxes, dtype=torch.float32).view(-1, 4),
                scores=torch.ones(len(anns)),
                labels=torch.tensor([toy_coco.CLASSES.index(
                    names[a['category_id']]) for a in anns],
                    dtype=torch.int64),
                masks=torch.from_numpy(masks))))
    assert any(n == skip for n in names.values())
    return samples


def test_per_class_ap_of_boxes_and_masks(toy_val, log_lines):
    metric = CocoMetric(ann_file=str(toy_val), metric=['bbox', 'segm'])
    metric.dataset_meta = dict(classes=toy_coco.CLASSES)
    evaluator = Evaluator([metric])
    enable_classwise(evaluator, 'the test config')
    assert isinstance(evaluator.metrics[0], ClasswiseCocoMetric)
    samples = ground_truth_predictions(toy_val, skip=MISSED)
    evaluator.process(samples)
    results = evaluator.evaluate(len(samples))
    assert results['coco/per_class'] == {
        'square': {'bbox_mAP': 1.0, 'segm_mAP': 1.0},
        'circle': {'bbox_mAP': 0.0, 'segm_mAP': 0.0},
        'triangle': {'bbox_mAP': 1.0, 'segm_mAP': 1.0},
    }
    assert results['coco/bbox_mAP'] == results['coco/segm_mAP'] == 0.667
    # mmdet's own per-class key holds the masks' value only: not returned.
    assert not [key for key in results if key.endswith('_precision')]
    # mmdet logged its table (AP, AP50, AP75, AP s/m/l) for each IoU type.
    tables = [line for line in log_lines if '| category |' in line]
    assert len(tables) == 2 and all('mAP_50' in t for t in tables)
    assert metric.metrics == ['bbox', 'segm']  # restored after evaluation


def test_without_a_coco_metric_it_is_one_line():
    with pytest.raises(UserError, match=r'^--classwise: the test_evaluator '
                       r'of cfg\.py has no CocoMetric computing AP, whose '
                       r'per-class AP it reports$'):
        enable_classwise(Evaluator([]), 'cfg.py')
