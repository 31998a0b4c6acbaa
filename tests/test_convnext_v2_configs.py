"""The ConvNeXt V2 configs: every one builds (on the meta device) with the
backbone, widths, parameters and recipe it states; Mask R-CNN and UperNet
V2-B and the toys run one training step (random weights; the B backbones with
one block per stage, their widths and heads as they are). L and H differ from
B only by numbers the build test checks; the Cascade config is V1's
Cascade-B (whose step test_detection_models runs on ConvNeXt-T's) with the
backbone Mask R-CNN V2-B steps."""
import copy
from typing import Dict

import pytest
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData

from conftest import CONFIGS
from convnext_dense.model_index import load_model_index
from convnext_dense.models import ARCH_SETTINGS_V2, PRETRAINED_WEIGHTS_V2
from convnext_dense.patches.amp_fallback import fall_back_to_fp32
from test_convnext_v2 import DENSE_PARAMS
from test_detection_models import shrink_roi_work, tiny_batch

# config -> arch (the whole model's parameters are in the model index,
# configs/metafile.yml)
DETECTION: Dict[str, str] = {
    'mask_rcnn_convnextv2_b_fcmae_lsj_3x_coco.py': 'base',
    'mask_rcnn_convnextv2_l_fcmae_lsj_3x_coco.py': 'large',
    'mask_rcnn_convnextv2_h_fcmae_lsj_3x_coco.py': 'huge',
    'cascade_mask_rcnn_convnextv2_b_fcmae_3x_coco.py': 'base',
}
SEGMENTATION: Dict[str, str] = {
    'upernet_convnextv2_b_fcmae_160k_ade20k_512.py': 'base',
    'upernet_convnextv2_l_fcmae_160k_ade20k_512.py': 'large',
    'upernet_convnextv2_h_fcmae_160k_ade20k_512.py': 'huge',
}
TOYS = {'toy/mask_rcnn_convnextv2_toy_coco.py': 'mmdet',
        'toy/upernet_convnextv2_toy_ade.py': 'mmseg'}
SCOPES = {**{name: 'mmdet' for name in DETECTION},
          **{name: 'mmseg' for name in SEGMENTATION}, **TOYS}


def load(name: str) -> Config:
    return Config.fromfile(str(CONFIGS / name))


def build(cfg: Config, device: str = 'cpu') -> torch.nn.Module:
    init_default_scope(cfg.default_scope)
    registry = __import__(f'{cfg.default_scope}.registry',
                          fromlist=['MODELS']).MODELS
    torch.manual_seed(0)
    with torch.device(device):
        return registry.build(cfg.model)


def head_widths(cfg: Config) -> list:
    """What the neck or decode head expects from the backbone."""
    if cfg.default_scope == 'mmdet':
        return list(cfg.model.neck.in_channels)
    return list(cfg.model.decode_head.in_channels)


@pytest.mark.parametrize('name', sorted({**DETECTION, **SEGMENTATION}))
def test_full_configs_build_with_the_v2_backbone(name):
    arch = {**DETECTION, **SEGMENTATION}[name]
    cfg = load(name)
    backbone = cfg.model.backbone
    assert backbone.type == 'convnext_dense.ConvNeXtV2'
    assert backbone.arch == arch
    assert backbone.init_cfg.checkpoint == f'convnextv2_{arch}_1k_224_fcmae'
    assert backbone.init_cfg.checkpoint in PRETRAINED_WEIGHTS_V2
    model = build(cfg, device='meta')
    assert head_widths(cfg) == list(model.backbone.out_channels) == list(
        ARCH_SETTINGS_V2[arch]['dims'])
    if cfg.default_scope == 'mmseg':
        assert cfg.model.auxiliary_head.in_channels == model.backbone.dims[2]
    assert sum(p.numel() for p in model.backbone.parameters()
               ) == DENSE_PARAMS[arch]
    assert sum(p.numel() for p in model.parameters()) == load_model_index(
    ).get(name[:-len('.py')]).params


def test_mask_rcnn_b_follows_mmdets_recipe():
    cfg = load('mask_rcnn_convnextv2_b_fcmae_lsj_3x_coco.py')
    assert cfg.model.backbone.drop_path_rate == 0.4
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.optimizer.lr == 1e-4
    assert cfg.optim_wrapper.optimizer.weight_decay == 0.05
    assert cfg.optim_wrapper.paramwise_cfg == dict(
        decay_rate=0.95, decay_type='layer_wise', num_layers=12)
    assert cfg.train_dataloader.batch_size * 8 == (
        cfg.auto_scale_lr.base_batch_size) == 32
    assert cfg.train_cfg.max_epochs == 36
    warmup, steps = cfg.param_scheduler
    assert warmup.end == 1000 and list(steps.milestones) == [27, 33]
    resize, crop = cfg.train_dataloader.dataset.pipeline[2:4]
    assert resize.type == 'RandomResize' and resize.ratio_range == (0.1, 2.0)
    assert crop.crop_size == (1024, 1024) and crop.allow_negative_crop
    assert cfg.model.test_cfg.rcnn.nms.type == 'soft_nms'


def step_config(name: str) -> Config:
    """The config with random weights, one block per stage for the full
    configs, few RoIs and fp32."""
    cfg = load(name)
    backbone = cfg.model.backbone
    backbone.init_cfg = None  # no download: random weights
    if isinstance(backbone.arch, str):
        backbone.arch = dict(depths=(1, 1, 1, 1),
                             dims=ARCH_SETTINGS_V2[backbone.arch]['dims'])
        # block_wise needs num_layers = blocks; the others stay as they are.
        if cfg.optim_wrapper.paramwise_cfg.decay_type == 'block_wise':
            cfg.optim_wrapper.paramwise_cfg.num_layers = 4
    if cfg.default_scope == 'mmdet':
        shrink_roi_work(cfg.model)
    cfg.optim_wrapper = fall_back_to_fp32(cfg.optim_wrapper)
    return cfg


def segmentation_batch(num_classes: int) -> dict:
    from mmseg.structures import SegDataSample
    generator = torch.Generator().manual_seed(0)
    samples = [SegDataSample(gt_sem_seg=PixelData(data=torch.randint(
        0, num_classes, (1, 64, 64), generator=generator)))
        for _ in range(2)]
    return dict(inputs=[torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8,
                                      generator=generator)
                        for _ in samples], data_samples=samples)


@pytest.mark.parametrize('name',
                         [*sorted({**DETECTION, **SEGMENTATION}), *TOYS])
def test_one_training_step_changes_every_part(name):
    cfg = step_config(name)
    # What the Runner does outside distributed training.
    model = revert_sync_batchnorm(build(cfg))
    model.init_weights()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    if cfg.default_scope == 'mmdet':
        data = tiny_batch()
        bbox_head = cfg.model.roi_head.bbox_head  # a list in a cascade
        num_classes = (bbox_head[0] if isinstance(bbox_head, list) else
                       bbox_head).num_classes
        for sample in data['data_samples']:
            sample.gt_instances.labels %= num_classes
        parts = ('neck.', 'rpn_head.', 'roi_head.')
    else:
        data = segmentation_batch(cfg.model.decode_head.num_classes)
        # Training pads every input to the crop size: keep it tiny here.
        model.data_preprocessor.size = (64, 64)
        parts = ('decode_head.', 'auxiliary_head.')
    before = copy.deepcopy(model.state_dict())
    model.train()
    losses = model.train_step(data, optim_wrapper)
    assert all(torch.isfinite(v).all() for v in losses.values())
    after = model.state_dict()
    # (The first block has no drop path: it always learns.)
    for part in ('backbone.downsample_layers.0.', 'backbone.stages.0.0.grn.',
                 'backbone.norm0.') + parts:
        assert any(not torch.equal(before[k], after[k]) for k in after
                   if k.startswith(part) and after[k].is_floating_point()
                   ), part
    # Layer decay: the stem learns slower than the heads, at the base lr.
    lrs = {g['layer_id']: g['lr'] for g in optim_wrapper.param_groups
           if 'layer_id' in g}
    assert lrs[min(lrs)] < lrs[max(lrs)] == cfg.optim_wrapper.optimizer.lr


#: What the toy V2 models must reach on the held-out split after training
#: from scratch (make test-long), as the other toy backbones.
MIN_AP, MIN_MIOU = 0.4, 60.0  # mmseg reports percent


@pytest.mark.long
def test_toy_v2_mask_rcnn_learns_boxes_and_masks(toy_run):
    run = toy_run('mask_rcnn_v2')
    metrics = run.val_metrics()
    print(run.summary())
    assert metrics['coco/bbox_mAP'] >= MIN_AP, run.summary()
    assert metrics['coco/segm_mAP'] >= MIN_AP, run.summary()


@pytest.mark.long
def test_toy_v2_upernet_learns(toy_run):
    run = toy_run('upernet_v2')
    print(run.summary())
    assert run.val_metrics()['mIoU'] >= MIN_MIOU, run.summary()
