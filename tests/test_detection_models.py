"""One training step and one prediction of the full ConvNeXt-T Mask R-CNN and
Cascade Mask R-CNN (80 classes, the configs' heads and optimizer) on a tiny
random batch."""
import copy

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from conftest import CONFIGS
from convnext_dense.patches.amp_fallback import fall_back_to_fp32

SIZE = 128
#: Proposals and sampled RoIs per image: the configs' 1000-2000 proposals and
#: 512 RoIs per stage cost a CPU minutes on two images, and the heads see every
#: part of the model with far fewer.
PROPOSALS, ROIS = 100, 64


def shrink_roi_work(model: Config) -> None:
    """Fewer proposals and sampled RoIs, the rest of the model unchanged."""
    model.train_cfg.rpn_proposal.max_per_img = PROPOSALS
    model.test_cfg.rpn.max_per_img = PROPOSALS
    stages = model.train_cfg.rcnn
    for stage in stages if isinstance(stages, list) else [stages]:
        stage.sampler.num = ROIS


def tiny_batch(seed: int = 0, num_images: int = 2) -> dict:
    """Random images with two boxes and their (rectangular) masks each."""
    rng = np.random.default_rng(seed)
    inputs, samples = [], []
    for _ in range(num_images):
        inputs.append(torch.from_numpy(
            rng.integers(0, 256, size=(3, SIZE, SIZE), dtype=np.uint8)))
        boxes = np.array([[10, 12, 60, 70], [50, 40, 120, 110]], np.float32)
        masks = np.zeros((2, SIZE, SIZE), np.uint8)
        for mask, (x1, y1, x2, y2) in zip(masks, boxes.astype(int)):
            mask[y1:y2, x1:x2] = 1
        sample = DetDataSample(metainfo=dict(
            img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE),
            scale_factor=(1.0, 1.0), pad_shape=(SIZE, SIZE), img_id=0))
        sample.gt_instances = InstanceData(
            bboxes=torch.from_numpy(boxes),
            labels=torch.tensor([3, 17]),
            masks=BitmapMasks(masks, SIZE, SIZE))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


@pytest.fixture(params=['mask_rcnn_convnext_t_3x_coco.py',
                        'cascade_mask_rcnn_convnext_t_3x_coco.py'])
def detector(request):
    cfg = Config.fromfile(str(CONFIGS / request.param))
    cfg.model.backbone.init_cfg = None  # no download: random weights
    shrink_roi_work(cfg.model)
    init_default_scope('mmdet')
    from mmdet.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    # What the Runner does outside distributed training.
    return cfg, revert_sync_batchnorm(model)


def test_one_training_step_changes_every_part(detector):
    cfg, model = detector
    cfg.optim_wrapper = fall_back_to_fp32(cfg.optim_wrapper)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    before = copy.deepcopy(model.state_dict())
    model.train()
    losses = model.train_step(tiny_batch(), optim_wrapper)
    assert 'loss_mask' in ''.join(losses) and 'loss_rpn_cls' in losses
    assert all(torch.isfinite(v).all() for v in losses.values())
    after = model.state_dict()
    for part in ('backbone.stages.0.0.pwconv1.weight',
                 'backbone.norm3.weight', 'neck.fpn_convs.0.conv.weight',
                 'rpn_head.rpn_conv.weight'):
        assert not torch.equal(before[part], after[part]), part
    roi_changed = [k for k in after if k.startswith('roi_head.')
                   and after[k].is_floating_point()
                   and not torch.equal(before[k], after[k])]
    assert any('mask_head' in k for k in roi_changed)
    assert any('bbox_head' in k for k in roi_changed)
    # Layer-wise decay: the stem learns slower than the heads.
    # (mmengine appends a group without layer_id that only logs base_lr.)
    lrs = {g['layer_id']: g['lr'] for g in optim_wrapper.param_groups
           if 'layer_id' in g}
    assert lrs[0] < lrs[max(lrs)] == cfg.optim_wrapper.optimizer.lr


def test_prediction_has_boxes_scores_and_masks(detector):
    _, model = detector
    model.eval()
    with torch.no_grad():
        results = model.test_step(tiny_batch(seed=1))
    assert len(results) == 2
    for result in results:
        pred = result.pred_instances
        count = len(pred)
        assert pred.bboxes.shape == (count, 4)
        assert pred.scores.shape == pred.labels.shape == (count, )
        assert pred.masks.shape == (count, SIZE, SIZE)
        assert count <= 100
        if count:
            assert pred.labels.max() < 80
            assert (pred.bboxes >= 0).all() and (pred.bboxes <= SIZE).all()
