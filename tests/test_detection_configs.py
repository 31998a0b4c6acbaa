"""The COCO detection configs against the paper (facts sheet, section 4):
hyperparameters, pretrained checkpoints, and parameter counts of every full
model (built on the meta device) against the paper's in the model index."""
import math
import re
from typing import Dict, List

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from conftest import CONFIGS
from convnext_dense.model_index import load_model_index
from convnext_dense.models import ARCH_SETTINGS
from convnext_dense.models.convnext import PRETRAINED_WEIGHTS

URL = 'https://dl.fbaipublicfiles.com/convnext/'

# config -> (arch, checkpoint, drop_path, lr, decay_rate, num_layers, fp16)
PAPER = {
    'mask_rcnn_convnext_t_3x_coco.py':
    ('tiny', 'convnext_tiny_1k_224.pth', 0.4, 1e-4, 0.95, 6, True),
    'cascade_mask_rcnn_convnext_t_3x_coco.py':
    ('tiny', 'convnext_tiny_1k_224.pth', 0.4, 2e-4, 0.7, 6, True),
    'cascade_mask_rcnn_convnext_s_3x_coco.py':
    ('small', 'convnext_small_1k_224.pth', 0.6, 2e-4, 0.7, 12, True),
    'cascade_mask_rcnn_convnext_b_3x_coco.py':
    ('base', 'convnext_base_1k_224.pth', 0.7, 2e-4, 0.8, 12, True),
    'cascade_mask_rcnn_convnext_b_3x_coco_in22k.py':
    ('base', 'convnext_base_22k_224.pth', 0.6, 1e-4, 0.8, 12, True),
    'cascade_mask_rcnn_convnext_l_3x_coco_in22k.py':
    ('large', 'convnext_large_22k_224.pth', 0.7, 1e-4, 0.7, 12, False),
    'cascade_mask_rcnn_convnext_xl_3x_coco_in22k.py':
    ('xlarge', 'convnext_xlarge_22k_224.pth', 0.8, 1e-4, 0.7, 12, False),
}
TOY_CONFIGS = ['toy/mask_rcnn_convnext_toy_coco.py',
               'toy/cascade_mask_rcnn_convnext_toy_coco.py']
CASCADE_STDS = [[0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1],
                [0.033, 0.033, 0.067, 0.067]]


def detection_configs() -> List[str]:
    """Every COCO config of the hierarchical ConvNeXt under configs/."""
    return sorted(
        str(p.relative_to(CONFIGS)) for p in CONFIGS.rglob('*coco*.py')
        if '_base_' not in p.parts
        and re.search(r'_convnext_(t|s|b|l|xl|toy)_', p.name))


def load(name: str) -> Config:
    return Config.fromfile(str(CONFIGS / name))


def count_params(cfg: Config) -> int:
    init_default_scope('mmdet')
    from mmdet.registry import MODELS
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    return sum(p.numel() for p in model.parameters())


def test_the_issue_lists_exactly_these_configs():
    assert detection_configs() == sorted(list(PAPER) + TOY_CONFIGS)


@pytest.mark.parametrize('name', sorted(PAPER))
def test_hyperparameters_match_the_paper(name):
    arch, ckpt, drop_path, lr, decay_rate, num_layers, fp16 = PAPER[name]
    cfg = load(name)
    backbone = cfg.model.backbone
    assert backbone.type == 'convnext_dense.ConvNeXt'
    assert backbone.arch == arch
    assert backbone.drop_path_rate == drop_path
    assert backbone.layer_scale_init_value == 1.0
    assert tuple(backbone.out_indices) == (0, 1, 2, 3)
    # The official checkpoint by name, resolved by the backbone.
    weights = ckpt[:-len('.pth')]
    assert backbone.init_cfg == dict(type='Pretrained', checkpoint=weights)
    assert PRETRAINED_WEIGHTS[weights] == URL + ckpt
    assert list(cfg.model.neck.in_channels) == list(
        ARCH_SETTINGS[arch]['dims'])
    assert (cfg.model.neck.out_channels, cfg.model.neck.num_outs) == (256, 5)
    assert 'convnext_dense' in cfg.custom_imports.imports

    optim = cfg.optim_wrapper
    assert optim.type == ('AmpOptimWrapper' if fp16 else 'OptimWrapper')
    assert 'loss_scale' not in optim or fp16
    assert optim.constructor == 'convnext_dense.LayerDecayOptimizerConstructor'
    assert optim.optimizer == dict(
        type='AdamW', lr=lr, betas=(0.9, 0.999), weight_decay=0.05)
    assert optim.paramwise_cfg == dict(
        decay_rate=decay_rate, decay_type='layer_wise', num_layers=num_layers)

    assert cfg.train_cfg.type == 'EpochBasedTrainLoop'
    assert cfg.train_cfg.max_epochs == 36
    warmup, steps = cfg.param_scheduler
    assert (warmup.type, warmup.start_factor, warmup.by_epoch, warmup.end) == (
        'LinearLR', 0.001, False, 500)
    assert (steps.type, steps.by_epoch, steps.milestones, steps.gamma) == (
        'MultiStepLR', True, [27, 33], 0.1)
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.auto_scale_lr.base_batch_size == 16


@pytest.mark.parametrize('name', sorted(PAPER))
def test_coco_data_augmentation_and_test_scale(name):
    cfg = load(name)
    train = cfg.train_dataloader.dataset
    assert (train.type, train.data_root) == ('CocoDataset', 'data/coco/')
    assert train.ann_file == 'annotations/instances_train2017.json'
    assert 'data/coco/' in cfg.data_hint
    steps = {step.type: step for step in train.pipeline}
    assert steps['LoadAnnotations'].with_mask
    assert steps['RandomFlip'].prob == 0.5
    branch_a, branch_b = steps['RandomChoice'].transforms
    short_sides = list(range(480, 801, 32))
    assert [min(s) for s in branch_a[0].scales] == short_sides
    assert all(max(s) == 1333 for s in branch_a[0].scales)
    resize, crop, resize_again = branch_b
    assert sorted(min(s) for s in resize.scales) == [400, 500, 600]
    assert (crop.type, crop.crop_type, tuple(crop.crop_size),
            crop.allow_negative_crop) == ('RandomCrop', 'absolute_range',
                                          (384, 600), True)
    assert resize_again.scales == branch_a[0].scales
    test_resize = [s for s in cfg.test_dataloader.dataset.pipeline
                   if s.type == 'Resize'][0]
    assert (tuple(test_resize.scale), test_resize.keep_ratio) == (
        (1333, 800), True)
    assert cfg.test_evaluator.type == 'CocoMetric'
    assert cfg.test_evaluator.metric == ['bbox', 'segm']


@pytest.mark.parametrize(
    'name', [n for n in sorted(PAPER) if n.startswith('cascade')])
def test_cascade_heads(name):
    roi_head = load(name).model.roi_head
    assert roi_head.type == 'CascadeRoIHead'
    assert roi_head.stage_loss_weights == [1, 0.5, 0.25]
    assert len(roi_head.bbox_head) == 3
    for head, stds in zip(roi_head.bbox_head, CASCADE_STDS):
        assert head.type == 'ConvFCBBoxHead'
        assert (head.num_shared_convs, head.num_shared_fcs,
                head.fc_out_channels) == (4, 1, 1024)
        assert head.norm_cfg == dict(type='SyncBN', requires_grad=True)
        assert head.reg_decoded_bbox and not head.reg_class_agnostic
        assert head.loss_bbox == dict(type='GIoULoss', loss_weight=10.0)
        assert head.bbox_coder.target_stds == stds
    thresholds = [s.assigner.pos_iou_thr
                  for s in load(name).model.train_cfg.rcnn]
    assert thresholds == [0.5, 0.6, 0.7]


def test_mask_rcnn_uses_the_standard_heads():
    roi_head = load('mask_rcnn_convnext_t_3x_coco.py').model.roi_head
    assert roi_head.type == 'StandardRoIHead'
    assert roi_head.bbox_head.type == 'Shared2FCBBoxHead'
    assert roi_head.mask_head.type == 'FCNMaskHead'


@pytest.fixture(scope='module')
def param_table() -> Dict[str, int]:
    return {name: count_params(load(name)) for name in sorted(PAPER)}


@pytest.mark.parametrize('name', sorted(PAPER))
def test_parameter_count_matches_the_paper(name, param_table):
    millions = param_table[name] / 1e6
    paper = load_model_index().get(name[:-len('.py')]).paper
    assert round(millions) == paper.params_m, f'{name}: {millions:.2f}M'


@pytest.mark.parametrize('name', TOY_CONFIGS)
def test_toy_configs_build_and_stay_small(name):
    cfg = load(name)
    assert cfg.model.backbone.get('init_cfg') is None
    assert cfg.train_dataloader.dataset.data_root == 'data/toy_coco/'
    assert 'make_toy_data.py' in cfg.data_hint
    params = count_params(cfg)
    assert params < 6e6, f'{name}: {params / 1e6:.1f}M parameters'


def test_toy_cascade_keeps_the_full_heads_but_narrow():
    full = load('cascade_mask_rcnn_convnext_t_3x_coco.py').model
    toy = load('toy/cascade_mask_rcnn_convnext_toy_coco.py').model
    for full_head, toy_head in zip(full.roi_head.bbox_head,
                                   toy.roi_head.bbox_head):
        differs = {k for k in full_head if full_head[k] != toy_head[k]}
        assert differs == {'in_channels', 'conv_out_channels',
                           'fc_out_channels', 'num_classes'}
    assert [s.sampler.num for s in toy.train_cfg.rcnn] == [32, 32, 32]


def test_a_local_checkpoint_path_replaces_the_url(tmp_path):
    """--cfg-options model.backbone.init_cfg.checkpoint=PATH loads it."""
    from mmdet.registry import MODELS
    from convnext_dense.models import ConvNeXt
    reference = ConvNeXt(arch='tiny')
    # The official ImageNet layout: {'model': ...} with a classifier head.
    state = {k: torch.randn_like(v) for k, v in reference.state_dict().items()
             if not k.startswith('norm')}
    state.update({'norm.weight': torch.ones(768),
                  'norm.bias': torch.zeros(768),
                  'head.weight': torch.zeros(1000, 768),
                  'head.bias': torch.zeros(1000)})
    path = tmp_path / 'convnext_tiny_1k_224.pth'
    torch.save({'model': state}, path)

    cfg = load('mask_rcnn_convnext_t_3x_coco.py')
    cfg.merge_from_dict({'model.backbone.init_cfg.checkpoint': str(path)})
    init_default_scope('mmdet')
    backbone = MODELS.build(cfg.model.backbone)
    backbone.init_weights()
    loaded = backbone.state_dict()
    for key in ('downsample_layers.0.0.weight', 'stages.2.8.gamma',
                'stages.3.2.pwconv2.weight'):
        assert torch.equal(loaded[key], state[key]), key
    assert not math.isclose(loaded['stages.2.8.gamma'].mean().item(), 1.0)
