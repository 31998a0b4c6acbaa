"""One training step of the full plain-backbone configs (random weights, two
blocks instead of the arch's depth, tiny random batches): the simple pyramid
feeds FPN, the RPN anchors, RoIAlign and UperNet unchanged, every part learns,
and the plain layer-wise decay holds."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData

from conftest import CONFIGS
from convnext_dense.models import (CONVMIXER_ARCH_SETTINGS,
                                   ISOTROPIC_ARCH_SETTINGS)
from convnext_dense.patches.amp_fallback import fall_back_to_fp32
from test_detection_models import SIZE, shrink_roi_work, tiny_batch

#: Blocks kept of each arch: the configs' widths, pyramid and heads as they
#: are, at a fraction of the cost.
DEPTH = 2


def build(name: str, scope: str):
    cfg = Config.fromfile(str(CONFIGS / name))
    cfg.model.backbone.init_cfg = None  # no download: random weights
    backbone = cfg.model.backbone
    presets = (ISOTROPIC_ARCH_SETTINGS if backbone.type.endswith(
        'ConvNeXtIsotropic') else CONVMIXER_ARCH_SETTINGS)
    backbone.arch = dict(presets[backbone.arch], depth=DEPTH)
    cfg.optim_wrapper.paramwise_cfg.num_layers = DEPTH
    if scope == 'mmdet':
        shrink_roi_work(cfg.model)
    init_default_scope(scope)
    registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
    torch.manual_seed(0)
    model = registry.build(cfg.model)
    model.init_weights()
    cfg.optim_wrapper = fall_back_to_fp32(cfg.optim_wrapper)
    # What the Runner does outside distributed training.
    return cfg, revert_sync_batchnorm(model)


def changed(before: dict, after: dict, prefix: str) -> bool:
    return any(not torch.equal(before[k], after[k]) for k in after
               if k.startswith(prefix) and after[k].is_floating_point())


def check_plain_decay(cfg: Config, optim_wrapper) -> None:
    """Stem = layer 0 at decay ** (depth + 1); heads at the base lr."""
    depth = cfg.optim_wrapper.paramwise_cfg.num_layers
    rate = cfg.optim_wrapper.paramwise_cfg.decay_rate
    base = cfg.optim_wrapper.optimizer.lr
    lrs = {g['layer_id']: g['lr'] for g in optim_wrapper.param_groups
           if 'layer_id' in g}
    assert sorted(lrs) == list(range(depth + 2))
    assert lrs[0] == pytest.approx(base * rate**(depth + 1))
    assert lrs[depth + 1] == pytest.approx(base)


@pytest.mark.parametrize('name', ['mask_rcnn_convnext_iso_s_3x_coco.py',
                                  'mask_rcnn_convmixer_768_32_3x_coco.py'])
def test_detector_training_step(name):
    cfg, model = build(name, 'mmdet')
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    check_plain_decay(cfg, optim_wrapper)
    before = copy.deepcopy(model.state_dict())
    model.train()
    losses = model.train_step(tiny_batch(), optim_wrapper)
    assert {'loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox',
            'loss_mask'} <= set(losses)
    assert all(torch.isfinite(v).all() for v in losses.values())
    after = model.state_dict()
    for part in ('backbone.stem.', 'backbone.blocks.', 'neck.0.levels.0.',
                 'neck.1.', 'rpn_head.', 'roi_head.bbox_head.',
                 'roi_head.mask_head.'):
        assert changed(before, after, part), part
    # The FPN got the pyramid's four levels at strides 4, 8, 16, 32.
    with torch.no_grad():
        levels = model.neck[0](model.backbone(torch.zeros(1, 3, SIZE, SIZE)))
    assert [tuple(x.shape[2:]) for x in levels] == [
        (SIZE // s, SIZE // s) for s in (4, 8, 16, 32)]


def test_segmentor_training_step():
    from mmseg.structures import SegDataSample
    cfg, model = build('upernet_convmixer_768_32_160k_ade20k_512.py', 'mmseg')
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    check_plain_decay(cfg, optim_wrapper)
    generator = torch.Generator().manual_seed(0)
    samples = [SegDataSample(gt_sem_seg=PixelData(
        data=torch.randint(0, 150, (1, 64, 64), generator=generator)))
               for _ in range(2)]
    data = dict(inputs=[torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8)
                        for _ in samples], data_samples=samples)
    # Training pads every input to the crop size (512): keep it tiny here.
    model.data_preprocessor.size = (64, 64)
    before = copy.deepcopy(model.state_dict())
    model.train()
    losses = model.train_step(data, optim_wrapper)
    assert {'decode.loss_ce', 'aux.loss_ce'} <= set(losses)
    assert all(torch.isfinite(v).all() for v in losses.values())
    after = model.state_dict()
    for part in ('backbone.stem.', 'backbone.blocks.', 'neck.levels.0.',
                 'decode_head.', 'auxiliary_head.'):
        assert changed(before, after, part), part
    # norm_eval: the ImageNet BatchNorm statistics are kept while training.
    for key in ('backbone.stem.2.running_mean',
                'backbone.blocks.1.3.running_var'):
        assert torch.equal(before[key], after[key]), key
