"""The Mask R-CNN and UperNet configs of the plain backbones (isotropic
ConvNeXt-S/B, ConvMixer-768/32 and -1536/20): settings, official checkpoints,
and parameter counts built on the meta device (backbones: the facts sheet's,
section 7; whole models: the model index's)."""
from typing import Dict, Tuple

import pytest
from mmengine.config import Config

from conftest import CONFIGS
from helpers import build_on_meta

from convnext_dense.model_index import load_model_index

FB = 'https://dl.fbaipublicfiles.com/convnext/'
MIXER = 'https://github.com/tmp-iclr/convmixer/releases/download/v1.0/'

# variant -> (backbone type, arch, checkpoint, depth, width, patch,
#             drop path (ConvNeXt), layer-wise decay rate, backbone params)
VARIANTS = {
    'convnext_iso_s': ('ConvNeXtIsotropic', 'small',
                       FB + 'convnext_iso_small_1k_224_ema.pth', 18, 384, 16,
                       0.1, 0.75, 21_922_944),
    'convnext_iso_b': ('ConvNeXtIsotropic', 'base',
                       FB + 'convnext_iso_base_1k_224_ema.pth', 18, 768, 16,
                       0.1, 0.75, 86_313_216),
    'convmixer_768_32': ('ConvMixer', '768/32',
                         MIXER + 'convmixer_768_32_ks7_p7_relu.pth.tar', 32,
                         768, 7, None, 0.9, 20_341_248),
    'convmixer_1536_20': ('ConvMixer', '1536/20',
                          MIXER + 'convmixer_1536_20_ks9_p7.pth.tar', 20,
                          1536, 7, None, 0.8, 50_088_960),
}

# config -> (variant, whole-model parameters as measured on the meta device)
# config -> backbone variant (the whole model's parameters are in the model
# index, configs/metafile.yml)
DETECTION = {
    'mask_rcnn_convnext_iso_s_3x_coco.py': 'convnext_iso_s',
    'mask_rcnn_convnext_iso_b_3x_coco.py': 'convnext_iso_b',
    'mask_rcnn_convmixer_768_32_3x_coco.py': 'convmixer_768_32',
    'mask_rcnn_convmixer_1536_20_3x_coco.py': 'convmixer_1536_20',
}
SEGMENTATION = {
    'upernet_convnext_iso_s_160k_ade20k_512.py': 'convnext_iso_s',
    'upernet_convnext_iso_b_160k_ade20k_512.py': 'convnext_iso_b',
    'upernet_convmixer_768_32_160k_ade20k_512.py': 'convmixer_768_32',
    'upernet_convmixer_1536_20_160k_ade20k_512.py': 'convmixer_1536_20',
}
ALL = {**DETECTION, **SEGMENTATION}


def load(name: str) -> Config:
    return Config.fromfile(str(CONFIGS / name))


def pyramid_channels(width: int, patch: int) -> list:
    """The simple pyramid's widths: halved per 2x upsampling from stride
    16 (patch 16) or 8 (patch 7)."""
    return ([width // 4, width // 2, width, width] if patch == 16 else
            [width // 2, width, width, width])


@pytest.fixture(scope='module')
def param_counts() -> Dict[str, Tuple[int, int]]:
    """config -> (backbone, whole model) parameters."""
    counts = {}
    for name in ALL:
        model = build_on_meta(load(name))
        counts[name] = (sum(p.numel() for p in model.backbone.parameters()),
                        sum(p.numel() for p in model.parameters()))
    return counts


@pytest.mark.parametrize('name', sorted(ALL))
def test_backbone_pyramid_and_decay(name):
    variant = ALL[name]
    kind, arch, url, depth, width, patch, drop_path, decay, _ = \
        VARIANTS[variant]
    cfg = load(name)
    backbone = cfg.model.backbone
    assert backbone.type == f'convnext_dense.{kind}'
    assert backbone.arch == arch
    assert backbone.init_cfg == dict(type='Pretrained', checkpoint=url)
    assert backbone.get('drop_path_rate') == drop_path
    # BatchNorm backbones keep ImageNet's statistics at 2 images per GPU.
    assert backbone.get('norm_eval', False) is (kind == 'ConvMixer')
    assert 'convnext_dense' in cfg.custom_imports.imports

    pyramid = (cfg.model.neck[0] if name in DETECTION else cfg.model.neck)
    assert pyramid.type == 'convnext_dense.SimpleFeaturePyramid'
    assert (pyramid.in_channels, pyramid.in_stride) == (width, patch)
    channels = pyramid_channels(width, patch)
    if name in DETECTION:
        fpn = cfg.model.neck[1]
        assert fpn.type == 'FPN' and list(fpn.in_channels) == channels
        assert (fpn.out_channels, fpn.num_outs) == (256, 5)
    else:
        assert list(cfg.model.decode_head.in_channels) == channels
        assert cfg.model.decode_head.in_index == [0, 1, 2, 3]
        assert cfg.model.auxiliary_head.in_channels == channels[2]
        assert cfg.model.auxiliary_head.in_index == 2

    optim = cfg.optim_wrapper
    assert optim.type == 'AmpOptimWrapper'
    assert optim.constructor == 'convnext_dense.LayerDecayOptimizerConstructor'
    assert optim.paramwise_cfg == dict(
        decay_rate=decay, decay_type='layer_wise', num_layers=depth)
    assert (optim.optimizer.type, optim.optimizer.lr,
            optim.optimizer.weight_decay) == ('AdamW', 1e-4, 0.05)


@pytest.mark.parametrize('name', sorted(DETECTION))
def test_detection_keeps_the_paper_schedule_and_data(name):
    cfg = load(name)
    assert cfg.default_scope == 'mmdet'
    assert (cfg.train_cfg.type, cfg.train_cfg.max_epochs) == (
        'EpochBasedTrainLoop', 36)
    assert cfg.param_scheduler[1].milestones == [27, 33]
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.auto_scale_lr.base_batch_size == 16
    assert cfg.model.data_preprocessor.pad_size_divisor == 32
    assert cfg.train_dataloader.dataset.data_root == 'data/coco/'
    assert cfg.model.roi_head.bbox_roi_extractor.featmap_strides == [
        4, 8, 16, 32]


@pytest.mark.parametrize('name', sorted(SEGMENTATION))
def test_segmentation_keeps_the_paper_schedule_and_data(name):
    cfg = load(name)
    assert cfg.default_scope == 'mmseg'
    assert cfg.train_cfg.max_iters == 160000
    warmup, poly = cfg.param_scheduler
    assert (warmup.end, poly.begin, poly.end) == (1500, 1500, 160000)
    assert cfg.model.data_preprocessor.size == (512, 512)
    assert cfg.model.test_cfg == dict(mode='slide', crop_size=(512, 512),
                                      stride=(341, 341))
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.train_dataloader.dataset.data_root == \
        'data/ade/ADEChallengeData2016'


@pytest.mark.parametrize('name', sorted(ALL))
def test_parameter_counts(name, param_counts):
    backbone, whole = param_counts[name]
    assert backbone == VARIANTS[ALL[name]][-1]
    indexed = load_model_index().get(name[:-len('.py')]).params
    assert whole == indexed, f'{name}: {whole:,} parameters'


@pytest.mark.parametrize('name', sorted(ALL))
def test_pyramid_output_widths_match_the_heads(name):
    """The widths the configs spell out are those the pyramid builds."""
    model = build_on_meta(load(name))
    pyramid = model.neck[0] if name in DETECTION else model.neck
    heads = (model.neck[1].lateral_convs if name in DETECTION else
             model.decode_head.lateral_convs)
    if name in DETECTION:
        assert [c.conv.in_channels for c in heads] == list(
            pyramid.out_channels)
    else:
        # UPerHead: lateral convs for levels 0..2, the PPM on level 3.
        assert [c.conv.in_channels for c in heads] == list(
            pyramid.out_channels[:3])
    assert pyramid.out_strides == (4, 8, 16, 32)
    assert pyramid.in_stride == model.backbone.patch_size


# toy config -> (backbone type, patch, backbone params, model params)
TOYS = {
    'toy/mask_rcnn_convnext_iso_toy_coco.py':
    ('ConvNeXtIsotropic', 16, 651_904, 1_972_354),
    'toy/mask_rcnn_convmixer_toy_coco.py':
    ('ConvMixer', 3, 32_384, 1_272_482),
    'toy/upernet_convnext_iso_toy_ade.py':
    ('ConvNeXtIsotropic', 4, 148_800, 640_776),
    'toy/upernet_convmixer_toy_ade.py': ('ConvMixer', 3, 32_384, 524_360),
}


@pytest.mark.parametrize('name', sorted(TOYS))
def test_toy_configs_build_small_seeded_and_consistent(name):
    kind, patch, backbone_params, model_params = TOYS[name]
    cfg = load(name)
    backbone = cfg.model.backbone
    assert backbone.type == f'convnext_dense.{kind}'
    assert backbone.get('init_cfg') is None  # from scratch
    assert cfg.randomness.seed == 0
    detection = 'coco' in name
    data_root = cfg.train_dataloader.dataset.data_root
    assert data_root.rstrip('/') == ('data/toy_coco' if detection else
                                     'data/toy_ade')
    model = build_on_meta(cfg)
    assert model.backbone.patch_size == patch
    pyramid = model.neck[0] if detection else model.neck
    assert pyramid.in_stride == patch
    heads = (model.neck[1].lateral_convs if detection else
             model.decode_head.lateral_convs)
    assert [c.conv.in_channels for c in heads] == list(
        pyramid.out_channels[:len(heads)])
    assert cfg.optim_wrapper.paramwise_cfg.decay_type == 'layer_wise'
    assert cfg.optim_wrapper.paramwise_cfg.num_layers == model.backbone.depth
    assert sum(p.numel() for p in model.backbone.parameters()
               ) == backbone_params
    assert sum(p.numel() for p in model.parameters()) == model_params
