"""tools/export_onnx.py: what the graphs compute (against mmseg's and mmdet's
own inference, on small random models), the exports of the trained toy
UperNet and toy detector's backbone + neck checked in onnxruntime, and
one-line errors."""
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import MODELS, init_default_scope

from conftest import CONFIGS, ToyRun, check, run_tool
from helpers import run_tool_in_process
from convnext_dense.cli import export_onnx as export_cli
from convnext_dense.deploy import onnx_export
from convnext_dense.errors import InputNotFoundError, UserError
from toy_runs import after_training

SEG_CONFIG = CONFIGS / 'toy/upernet_convnext_toy_ade.py'
DET_CONFIG = CONFIGS / 'toy/mask_rcnn_convnext_toy_coco.py'
#: The brief's bound on logits and features, and the toy images' size.
ATOL = 1e-4
TOY_SIZE = 128


def random_model(config, **model_overrides) -> nn.Module:
    """The toy config's model with random weights, in eval mode."""
    cfg = Config.fromfile(str(config))
    cfg.model.update(model_overrides)
    init_default_scope(cfg.default_scope)
    torch.manual_seed(0)
    return revert_sync_batchnorm(MODELS.build(cfg.model)).eval()


def random_image(height: int, width: int) -> torch.Tensor:
    """A uint8 CHW image, as the pipelines pack them."""
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (3, height, width), dtype=torch.uint8,
                         generator=generator)


@pytest.mark.parametrize('output_size', [1, 2, 3, 6, (2, None)])
def test_matmul_pooling_equals_adaptive_pooling(output_size):
    x = torch.randn(2, 5, 37, 23)
    expected = nn.AdaptiveAvgPool2d(output_size)(x)
    got = onnx_export.MatmulAdaptiveAvgPool2d(output_size)(x)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=1e-6)


def test_swap_replaces_upernet_pyramid_pooling():
    head = random_model(SEG_CONFIG).decode_head
    assert onnx_export.swap_adaptive_pools(head) == 4
    assert not any(isinstance(m, nn.AdaptiveAvgPool2d)
                   for m in head.modules())


def test_segmentor_graph_is_mmseg_whole_inference():
    from mmseg.structures import SegDataSample
    model = random_model(SEG_CONFIG, test_cfg=dict(mode='whole'))
    image = random_image(96, 128)
    meta = dict(img_shape=(96, 128), ori_shape=(96, 128))
    with torch.no_grad():
        (expected, ) = model.test_step(
            dict(inputs=[image], data_samples=[SegDataSample(metainfo=meta)]))
        logits = onnx_export.SegmentorGraph(model)(image[None].float())
        labels = onnx_export.SegmentorGraph(model, 'labels')(
            image[None].float())
    assert torch.allclose(logits[0], expected.seg_logits.data, atol=1e-5)
    assert torch.equal(labels, expected.pred_sem_seg.data)


def test_backbone_neck_graph_is_mmdet_extract_feat():
    model = random_model(DET_CONFIG)
    image = random_image(96, 128)
    with torch.no_grad():
        inputs = model.data_preprocessor(dict(inputs=[image]))['inputs']
        expected = model.extract_feat(inputs)
        got = onnx_export.BackboneNeckGraph(model)(image[None].float())
    assert len(got) == len(expected) == 5
    for feature, reference in zip(got, expected):
        assert torch.allclose(feature, reference, atol=1e-5)


def test_default_shapes():
    det = Config.fromfile(str(DET_CONFIG))
    seg = Config.fromfile(str(SEG_CONFIG))
    assert onnx_export.default_shape(det) == (TOY_SIZE, TOY_SIZE)
    assert onnx_export.default_shape(seg) == (96, 96)  # the crop size
    full = Config.fromfile(str(CONFIGS / 'mask_rcnn_convnext_t_3x_coco.py'))
    assert onnx_export.default_shape(full) == (800, 1344)


@pytest.mark.parametrize('args,error,message', [
    (['--opset', '16'], UserError,
     "--opset 16: ConvNeXt's LayerNorm needs ONNX LayerNormalization, opset "
     '17 or later'),
    (['--shape', '100', '128'], UserError,
     '--shape 100 128: the model sees images padded to multiples of 32 '
     '(data_preprocessor); use sizes such as 128 128'),
    (['--output', 'labels'], UserError,
     '--output labels: the graph of a detector outputs detections or '
     'features'),
    (['--image', 'missing.png'], InputNotFoundError,
     '--image missing.png does not exist'),
])
def test_bad_arguments(tmp_path, args, error, message):
    checkpoint = tmp_path / 'model.pth'
    checkpoint.write_bytes(b'')
    with pytest.raises(error) as raised:
        export_cli.main([str(DET_CONFIG), str(checkpoint), '--out',
                         str(tmp_path / 'x.onnx')] + args)
    assert str(raised.value) == message


def test_missing_checkpoint_is_one_line(tmp_path):
    done = run_tool_in_process('export_onnx.py', SEG_CONFIG,
                               tmp_path / 'missing.pth', '--out',
                               tmp_path / 'x.onnx')
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        f'error: checkpoint {tmp_path / "missing.pth"} does not exist')


def test_missing_packages_say_how_to_install_them(monkeypatch):
    monkeypatch.setitem(sys.modules, 'onnxruntime', None)
    with pytest.raises(UserError, match=r"^ONNX export needs onnxruntime: "
                       r"pip install 'convnext-dense\[onnx\]'$"):
        onnx_export.import_onnx_packages()


def _reported(stdout: str):
    """The differences and label agreements the tool printed."""
    diffs = [float(d) for d in re.findall(
        r'largest difference from PyTorch ([0-9.e+-]+)', stdout)]
    agreement = [float(a) for a in re.findall(
        r'labels identical on ([0-9.]+)% of pixels', stdout)]
    return diffs, agreement


def _toy_val_image(run: ToyRun) -> Path:
    return sorted((run.cwd / 'data/toy_ade/images/validation').glob(
        '*.jpg'))[0]


@after_training('upernet')
def export_upernet(run: ToyRun, folder: Path) -> subprocess.CompletedProcess:
    """The trained toy UperNet exported with a dynamic batch and size."""
    return check(run_tool(
        'export_onnx.py', run.config, run.checkpoint, '--out',
        folder / 'upernet.onnx', '--shape', TOY_SIZE, TOY_SIZE, '--image',
        _toy_val_image(run), '--dynamic-batch', '--dynamic-size',
        cwd=run.cwd))


def test_toy_upernet_export(toy_after):
    pytest.importorskip('onnxruntime')
    import onnxruntime
    from mmseg.apis import inference_model
    from convnext_dense.inference.segmentation import load_segmentor
    after = toy_after('upernet', 'export_upernet')
    run, done = after.run, after.value
    image, out = _toy_val_image(run), after.folder / 'upernet.onnx'
    diffs, agreement = _reported(done.stdout)
    assert len(diffs) == 2 and max(diffs) < ATOL, done.stdout
    assert agreement == [100.0, 100.0], done.stdout
    # Independently: the file against mmseg's own whole-image inference.
    cfg = Config.fromfile(str(run.config))
    cfg.model.test_cfg = dict(mode='whole')
    model = load_segmentor(cfg, str(run.checkpoint))
    expected = inference_model(model, str(image))  # 128 x 128, not resized
    pixels = cv2.imread(str(image)).transpose(2, 0, 1)[None].astype(
        np.float32)
    session = onnxruntime.InferenceSession(str(out))
    (logits, ) = session.run(None, {'image': pixels})
    reference = expected.seg_logits.data.numpy()
    assert np.abs(logits[0] - reference).max() < ATOL
    assert (logits[0].argmax(0) == expected.pred_sem_seg.data[0].numpy()
            ).all()
    # A batch of another size, flipped and padded, runs as well.
    batch = np.concatenate([pixels, pixels[..., ::-1]])
    batch = np.pad(batch, ((0, 0), (0, 0), (0, 32), (0, 0)), mode='edge')
    (logits, ) = session.run(None, {'image': np.ascontiguousarray(batch)})
    assert logits.shape == (2, 4, TOY_SIZE + 32, TOY_SIZE)


@after_training('mask_rcnn')
def export_backbone_neck(run: ToyRun,
                         folder: Path) -> subprocess.CompletedProcess:
    """The trained toy detector's backbone + neck exported."""
    return check(run_tool(
        'export_onnx.py', run.config, run.checkpoint, '--out',
        folder / 'backbone_neck.onnx', '--output', 'features',
        '--dynamic-batch', '--dynamic-size', cwd=run.cwd))


def test_toy_detector_backbone_neck_export(toy_after):
    pytest.importorskip('onnxruntime')
    import onnxruntime
    from mmdet.apis import init_detector
    after = toy_after('mask_rcnn', 'export_backbone_neck')
    run, done = after.run, after.value
    out = after.folder / 'backbone_neck.onnx'
    diffs, _ = _reported(done.stdout)
    assert len(diffs) == 2 and max(diffs) < ATOL, done.stdout
    assert 'outputs feat_s4, feat_s8, feat_s16, feat_s32, feat_s64' in (
        done.stdout)
    # Independently: the file against mmdet's preprocessing + extract_feat,
    # on a batch of another size.
    model = init_detector(str(run.config), str(run.checkpoint), device='cpu')
    images = [random_image(96, 160), random_image(96, 160).flip(2)]
    with torch.no_grad():
        inputs = model.data_preprocessor(dict(inputs=images))['inputs']
        expected = model.extract_feat(inputs)
    session = onnxruntime.InferenceSession(str(out))
    got = session.run(None, {'image': torch.stack(images).float().numpy()})
    for feature, reference in zip(got, expected):
        assert feature.shape == tuple(reference.shape)
        assert np.abs(feature - reference.numpy()).max() < ATOL
