"""The six ADE20K UperNet configs: hyperparameters of the facts sheet (section
5), parameter counts of the paper, a training step, a sliding-window
prediction, the pipelines on ADE20K-layout data and the missing-data error."""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData

from conftest import CONFIGS
from convnext_dense.data.toy import toy_ade
from convnext_dense.model_index import load_model_index
from convnext_dense.models.convnext import PRETRAINED_WEIGHTS
from convnext_dense.patches.amp_fallback import fall_back_to_fp32

URL = 'https://dl.fbaipublicfiles.com/convnext/'
DIMS = {
    'tiny': [96, 192, 384, 768],
    'small': [96, 192, 384, 768],
    'base': [128, 256, 512, 1024],
    'large': [192, 384, 768, 1536],
    'xlarge': [256, 512, 1024, 2048],
}

# Section 5 of the facts sheet: arch, pretrain file, crop, drop path, lr,
# num_layers, fp16 (the paper's params are in the model index).
TABLE = {
    'upernet_convnext_t_160k_ade20k_512.py':
    ('tiny', 'convnext_tiny_1k_224.pth', 512, 0.4, 1e-4, 6, True),
    'upernet_convnext_s_160k_ade20k_512.py':
    ('small', 'convnext_small_1k_224.pth', 512, 0.3, 1e-4, 12, True),
    'upernet_convnext_b_160k_ade20k_512.py':
    ('base', 'convnext_base_1k_224.pth', 512, 0.4, 1e-4, 12, True),
    'upernet_convnext_b_160k_ade20k_640_in22k.py':
    ('base', 'convnext_base_22k_224.pth', 640, 0.4, 1e-4, 12, True),
    'upernet_convnext_l_160k_ade20k_640_in22k.py':
    ('large', 'convnext_large_22k_224.pth', 640, 0.4, 1e-4, 12, False),
    'upernet_convnext_xl_160k_ade20k_640_in22k.py':
    ('xlarge', 'convnext_xlarge_22k_224.pth', 640, 0.4, 8e-5, 12, False),
}
STRIDES = {512: 341, 640: 426}
TINY = 'upernet_convnext_t_160k_ade20k_512.py'


def load(name: str) -> Config:
    return Config.fromfile(str(CONFIGS / name))


def _by_type(pipeline: list, type_name: str) -> dict:
    return next(t for t in pipeline if t['type'] == type_name)


@pytest.mark.parametrize('name', sorted(TABLE))
def test_model_and_schedule_follow_the_facts(name: str) -> None:
    arch, ckpt, crop, drop_path, lr, num_layers, fp16 = TABLE[name]
    cfg = load(name)
    assert cfg.default_scope == 'mmseg'
    backbone = cfg.model.backbone
    assert (backbone.type, backbone.arch) == ('convnext_dense.ConvNeXt', arch)
    assert backbone.drop_path_rate == drop_path
    assert backbone.layer_scale_init_value == 1.0
    assert tuple(backbone.out_indices) == (0, 1, 2, 3)
    # The official checkpoint by name, resolved by the backbone.
    weights = ckpt[:-len('.pth')]
    assert backbone.init_cfg == dict(type='Pretrained', checkpoint=weights)
    assert PRETRAINED_WEIGHTS[weights] == URL + ckpt

    head, aux = cfg.model.decode_head, cfg.model.auxiliary_head
    assert head.type == 'UPerHead' and head.in_channels == DIMS[arch]
    assert (head.channels, tuple(head.pool_scales), head.dropout_ratio,
            head.num_classes) == (512, (1, 2, 3, 6), 0.1, 150)
    assert aux.type == 'FCNHead' and aux.in_channels == DIMS[arch][2]
    assert (aux.in_index, aux.channels, aux.num_convs, aux.num_classes,
            aux.loss_decode.loss_weight) == (2, 256, 1, 150, 0.4)
    assert head.norm_cfg.type == aux.norm_cfg.type == 'SyncBN'

    optim = cfg.optim_wrapper
    assert optim.type == ('AmpOptimWrapper' if fp16 else 'OptimWrapper')
    assert optim.constructor == 'convnext_dense.LayerDecayOptimizerConstructor'
    assert (optim.optimizer.type, optim.optimizer.lr,
            tuple(optim.optimizer.betas),
            optim.optimizer.weight_decay) == ('AdamW', lr, (0.9, 0.999), 0.05)
    assert optim.paramwise_cfg == dict(
        decay_rate=0.9, decay_type='stage_wise', num_layers=num_layers)
    warmup, poly = cfg.param_scheduler
    assert (warmup.type, warmup.start_factor, warmup.begin,
            warmup.end, warmup.by_epoch) == ('LinearLR', 1e-6, 0, 1500, False)
    assert (poly.type, poly.power, poly.eta_min, poly.begin, poly.end,
            poly.by_epoch) == ('PolyLR', 1.0, 0.0, 1500, 160000, False)
    assert cfg.train_cfg.max_iters == 160000
    # 16 images per iteration: 8 GPUs x 2.
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.auto_scale_lr.base_batch_size == 16


@pytest.mark.parametrize('name', sorted(TABLE))
def test_data_and_test_settings_follow_the_facts(name: str) -> None:
    crop = TABLE[name][2]
    cfg = load(name)
    scale = (4 * crop, crop)
    assert cfg.model.data_preprocessor.size == (crop, crop)
    assert cfg.model.test_cfg == dict(
        mode='slide', crop_size=(crop, crop),
        stride=(STRIDES[crop], STRIDES[crop]))
    train = cfg.train_dataloader.dataset
    assert train.type == 'ADE20KDataset' and train.reduce_zero_label
    assert train.data_root == 'data/ade/ADEChallengeData2016'
    assert 'data/ade/' in cfg.data_hint
    assert _by_type(train.pipeline, 'RandomResize').scale == scale
    assert _by_type(train.pipeline, 'RandomCrop').crop_size == (crop, crop)
    test = cfg.test_dataloader.dataset
    assert _by_type(test.pipeline, 'Resize').scale == scale
    assert cfg.test_evaluator.type == 'convnext_dense.PerClassIoUMetric'

    assert cfg.tta_model.type == 'SegTTAModel'
    resizes, flips, _, _ = _by_type(cfg.tta_pipeline, 'TestTimeAug').transforms
    ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
    assert [r.scale for r in resizes] == [
        (int(scale[0] * r), int(scale[1] * r)) for r in ratios]
    assert sorted(f.prob for f in flips) == [0.0, 1.0]


@pytest.mark.parametrize('name', sorted(TABLE))
def test_parameter_count_matches_the_paper(name: str, official_keys) -> None:
    from mmseg.registry import MODELS
    cfg = load(name)
    init_default_scope('mmseg')
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    total = sum(p.numel() for p in model.parameters())
    backbone = sum(p.numel() for p in model.backbone.parameters())
    arch = TABLE[name][0]
    assert backbone == official_keys[arch]['num_params']
    paper = load_model_index().get(name[:-len('.py')]).paper
    assert round(total / 1e6) == paper.params_m, f'{total:,} parameters'


@pytest.fixture(scope='module')
def tiny_segmentor():
    """The ConvNeXt-T config's segmentor, random init, SyncBN turned to BN."""
    from mmseg.registry import MODELS
    cfg = load(TINY)
    cfg.model.backbone.init_cfg = None
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    model.init_weights()
    return cfg, model


def test_one_training_step(tiny_segmentor) -> None:
    from mmseg.structures import SegDataSample
    cfg, model = tiny_segmentor
    cfg.optim_wrapper = fall_back_to_fp32(cfg.optim_wrapper)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    stage0 = next(g for g in optim_wrapper.param_groups
                  if g['layer_id'] == 1)
    # stage_wise, num_layers 6: L = 8, stage 0 has id 1 -> 0.9 ** 6.
    assert stage0['lr'] == pytest.approx(1e-4 * 0.9**6)

    generator = torch.Generator().manual_seed(0)
    samples = []
    for _ in range(2):
        labels = torch.randint(0, 150, (1, 64, 64), generator=generator)
        labels[:, :8] = 255
        samples.append(SegDataSample(gt_sem_seg=PixelData(data=labels)))
    data = dict(
        inputs=[torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8)
                for _ in samples],
        data_samples=samples)
    # Training pads every input to the crop size (512): keep it tiny here.
    model.data_preprocessor.size = (64, 64)
    before = model.decode_head.conv_seg.weight.detach().clone()
    stem = model.backbone.downsample_layers[0][0].weight
    stem_before = stem.detach().clone()
    model.train()
    losses = model.train_step(data, optim_wrapper)
    assert {'decode.loss_ce', 'aux.loss_ce'} <= set(losses)
    assert all(torch.isfinite(v).all() for v in losses.values())
    assert not torch.equal(before, model.decode_head.conv_seg.weight)
    assert not torch.equal(stem_before, stem)


def test_sliding_window_prediction(tiny_segmentor, monkeypatch) -> None:
    from mmseg.structures import SegDataSample
    _, model = tiny_segmentor
    model.eval()
    # The config's window (512, stride 341) scaled down to a tiny input:
    # a 64x107 image is covered by two overlapping 64x64 windows.
    monkeypatch.setattr(model, 'test_cfg', Config(
        dict(mode='slide', crop_size=(64, 64), stride=(43, 43))))
    windows = []
    encode_decode = model.encode_decode
    monkeypatch.setattr(
        model, 'encode_decode',
        lambda x, metas: windows.append(x.shape) or encode_decode(x, metas))
    sample = SegDataSample(metainfo=dict(
        ori_shape=(64, 107), img_shape=(64, 107), pad_shape=(64, 107)))
    data = dict(inputs=[torch.randint(0, 256, (3, 64, 107),
                                      dtype=torch.uint8)],
                data_samples=[sample])
    with torch.no_grad():
        result, = model.test_step(data)
    assert windows == [torch.Size([1, 3, 64, 64])] * 2
    assert result.seg_logits.data.shape == (150, 64, 107)
    prediction = result.pred_sem_seg.data
    assert prediction.shape == (1, 64, 107)
    assert 0 <= int(prediction.min()) and int(prediction.max()) < 150


@pytest.fixture(scope='module')
def ade_layout(tmp_path_factory) -> Path:
    return toy_ade.generate(
        tmp_path_factory.mktemp('ade_layout'), num_train=2, num_val=1)


@pytest.mark.parametrize(
    'name', [TINY, 'upernet_convnext_b_160k_ade20k_640_in22k.py'])
def test_pipelines_on_ade20k_layout(name: str, ade_layout: Path) -> None:
    from mmseg.registry import DATASETS
    crop = TABLE[name][2]
    cfg = load(name)
    init_default_scope('mmseg')
    for loader in ('train_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = str(ade_layout)
    train = DATASETS.build(cfg.train_dataloader.dataset)
    sample = train[0]
    assert max(sample['inputs'].shape[1:]) <= crop
    labels = np.unique(sample['data_samples'].gt_sem_seg.data.numpy())
    assert set(labels.tolist()) <= set(range(len(toy_ade.CLASSES))) | {255}

    test = DATASETS.build(cfg.test_dataloader.dataset)
    sample = test[0]
    assert tuple(sample['inputs'].shape[1:]) == (crop, crop)
    assert tuple(sample['data_samples'].gt_sem_seg.data.shape[1:]) == (128,
                                                                       128)
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    views = DATASETS.build(cfg.test_dataloader.dataset)[0]
    assert sorted(tuple(x.shape[1:]) for x in views['inputs'])[::2] == [
        (int(crop * r), int(crop * r)) for r in (0.5, 0.75, 1, 1.25, 1.5, 1.75)
    ]
