"""The plain (single-scale) backbones end to end: a small isotropic ConvNeXt
and a small ConvMixer, each behind the simple feature pyramid, trained from
scratch by tools/train.py on the toy COCO data (Mask R-CNN) and the toy ADE20K
data (UperNet), learn: box and mask AP >= 0.4, mIoU >= 60 on the held-out
split. The isotropic ConvNeXt runs train on 2 processes (tools/dist_train.sh,
gloo). These trainings are ``long`` (make test-long): make test leaves them out
to stay within its 10 minutes."""
import pytest
from mmengine.config import Config

from toy_runs import TOY_SPECS

MIN_AP = 0.4
MIN_MIOU = 60.0  # mmseg reports percent
DETECTORS = ('mask_rcnn_iso', 'mask_rcnn_convmixer')
SEGMENTORS = ('upernet_iso', 'upernet_convmixer')
BACKBONES = {'iso': 'convnext_dense.ConvNeXtIsotropic',
             'convmixer': 'convnext_dense.ConvMixer'}


def backbone_type(name: str) -> str:
    return BACKBONES[name.split('_')[-1]]


@pytest.mark.parametrize('name', DETECTORS + SEGMENTORS)
def test_toy_configs_use_the_plain_backbone_and_pyramid(name):
    cfg = Config.fromfile(str(TOY_SPECS[name].config))
    assert cfg.model.backbone.type == backbone_type(name)
    necks = cfg.model.neck if isinstance(cfg.model.neck, list) else [
        cfg.model.neck]
    assert necks[0].type == 'convnext_dense.SimpleFeaturePyramid'


@pytest.mark.long
@pytest.mark.parametrize('name', DETECTORS)
def test_plain_detector_learns_boxes_and_masks(toy_run, name):
    run = toy_run(name)
    metrics = run.val_metrics()
    print(run.summary())
    assert metrics['coco/bbox_mAP'] >= MIN_AP, run.summary()
    assert metrics['coco/segm_mAP'] >= MIN_AP, run.summary()


@pytest.mark.long
@pytest.mark.parametrize('name', SEGMENTORS)
def test_plain_segmentor_learns(toy_run, name):
    run = toy_run(name)
    print(run.summary())
    assert run.val_metrics()['mIoU'] >= MIN_MIOU, run.summary()
