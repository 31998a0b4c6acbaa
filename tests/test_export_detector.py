"""Whole detectors to ONNX (``tools/export_onnx.py``, the default for Mask
R-CNN and Cascade Mask R-CNN) and the torch-free runtime
(``convnext_dense/deploy/runtime.py``, ``tools/infer.py --onnx``): the graph
against mmdet's inference on small random models, the trained toy models'
exports over their whole validation split, and one-line errors."""
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import MODELS, init_default_scope

from conftest import CONFIGS, REPO, ToyRun, check, run_tool
from helpers import run_tool_in_process, tool_env
from convnext_dense.cli import export_onnx as export_cli
from convnext_dense.deploy import runtime
from convnext_dense.deploy.detector_export import (export_detector,
                                                   runtime_metadata)
from convnext_dense.deploy.detector_graph import DetectorGraph
from convnext_dense.deploy.onnx_export import Preprocess
from convnext_dense.errors import UserError
from toy_runs import after_training

MASK_RCNN = CONFIGS / 'toy/mask_rcnn_convnext_toy_coco.py'
CASCADE = CONFIGS / 'toy/cascade_mask_rcnn_convnext_toy_coco.py'
RUNTIME = REPO / 'convnext_dense/deploy/runtime.py'
#: What the issue asks of the export over the validation split.
MAX_AP_DIFF = 0.005
MIN_MATCHED = 0.99
#: What the runtime must run without.
BLOCKED = ('torch', 'mmcv', 'mmengine', 'mmdet', 'mmseg', 'convnext_dense')


def random_detector(config: Path, **model_overrides) -> torch.nn.Module:
    """The toy config's detector with random weights, in eval mode."""
    cfg = Config.fromfile(str(config))
    cfg.model.update(model_overrides)
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = revert_sync_batchnorm(MODELS.build(cfg.model)).eval()
    model.cfg = cfg
    return model


def graph_of(model: torch.nn.Module) -> DetectorGraph:
    return DetectorGraph(model, Preprocess(model.data_preprocessor),
                         32).eval()


@pytest.mark.parametrize('config', [MASK_RCNN, CASCADE],
                         ids=['mask_rcnn', 'cascade'])
def test_graph_is_mmdet_inference(config):
    """Eager, the graph gives mmdet's proposals and detections exactly, on
    an image whose size is no multiple of 32 (the graph pads it)."""
    from mmdet.structures import DetDataSample
    model = random_detector(config)
    generator = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (3, 90, 117), dtype=torch.uint8,
                          generator=generator)
    meta = dict(img_shape=(90, 117), ori_shape=(90, 117),
                scale_factor=(1.0, 1.0))
    with torch.no_grad():
        data = model.data_preprocessor(
            dict(inputs=[image], data_samples=[DetDataSample(metainfo=meta)]))
        features = model.extract_feat(data['inputs'])
        samples = data['data_samples']
        proposals = model.rpn_head.predict(features, samples, rescale=False)
        expected = model.roi_head.predict(features, proposals, samples,
                                          rescale=False)[0]
        boxes, scores, labels, masks, got_proposals, _ = graph_of(model)(
            image[None].float())
    assert len(boxes) > 0
    assert torch.allclose(got_proposals, proposals[0].bboxes, atol=1e-4)
    assert torch.allclose(boxes, expected.bboxes, atol=1e-4)
    assert torch.allclose(scores, expected.scores, atol=1e-6)
    assert torch.equal(labels, expected.labels)
    assert masks.shape == (len(boxes), 28, 28)
    assert float(masks.min()) >= 0 and float(masks.max()) <= 1


def test_detectors_the_graph_does_not_reproduce_are_refused():
    model = random_detector(MASK_RCNN)
    model.roi_head.mask_head = None
    with pytest.raises(UserError, match=r'^model.roi_head has no mask head: '
                       r'the whole-detector export supports Mask R-CNN and '
                       r'Cascade Mask R-CNN$'):
        graph_of(model)
    with pytest.raises(UserError, match=r'^model.type Linear: the whole-'
                       r'detector export supports MaskRCNN and CascadeRCNN; '
                       r'export its backbone \+ neck with --output features$'):
        DetectorGraph(torch.nn.Linear(1, 1), None, 32)


def test_test_time_augmentation_is_refused():
    cfg = Config.fromfile(str(MASK_RCNN))
    cfg.test_dataloader.dataset.pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='TestTimeAug', transforms=[[dict(type='RandomFlip',
                                                   prob=1.0)]]),
        dict(type='PackDetInputs')]
    with pytest.raises(UserError, match=r'^test pipeline step TestTimeAug: '
                       r'the ONNX runtime reproduces LoadImageFromFile, '
                       r'Resize \(no test-time augmentation or other '
                       r'steps\)$'):
        runtime_metadata(cfg, None)


def test_whole_detector_takes_one_image(tmp_path):
    checkpoint = tmp_path / 'model.pth'
    checkpoint.write_bytes(b'')
    with pytest.raises(UserError, match=r'^--dynamic-batch: the whole-'
                       r'detector graph takes one image'):
        export_cli.main([str(MASK_RCNN), str(checkpoint), '--out',
                         str(tmp_path / 'x.onnx'), '--dynamic-batch'])


def test_export_of_a_detector_that_detects_nothing(tmp_path):
    """Traced on an image without a detection (score threshold 1), the file
    runs, and the runtime returns empty arrays."""
    model = random_detector(MASK_RCNN)
    model.test_cfg.rcnn.score_thr = 1.0
    graph = graph_of(model)
    image = torch.full((1, 3, 64, 96), 127.0)
    assert len(graph(image)[0]) == 0
    out = tmp_path / 'empty.onnx'
    metadata = dict(format=runtime.FORMAT, version=runtime.FORMAT_VERSION,
                    resize_scale=None, keep_ratio=False, mask_thr_binary=0.5)
    export_detector(graph, image, str(out), metadata, 18)
    prediction = runtime.Detector(out).predict(
        np.full((50, 70, 3), 127, np.uint8))
    assert prediction.bboxes.shape == (0, 4)
    assert prediction.masks.shape == (0, 50, 70)


def _onnx_without_metadata(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper
    value = helper.make_tensor_value_info('image', TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node('Identity', ['image'],
                                                ['boxes'])], 'g', [value],
                              [helper.make_tensor_value_info(
                                  'boxes', TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph), str(path))
    return path


def test_runtime_refuses_what_it_cannot_run(tmp_path):
    text = tmp_path / 'notes.onnx'
    text.write_text('not a model')
    cases = [
        (tmp_path / 'missing.onnx', f'{tmp_path / "missing.onnx"} does not '
         'exist'),
        (text, f'{text} is not an ONNX file onnxruntime can load: '),
        (_onnx_without_metadata(tmp_path / 'other.onnx'),
         f'{tmp_path / "other.onnx"} is not a detector exported by '
         "tools/export_onnx.py (no 'convnext_dense' metadata of format "
         "'convnext_dense.detector'): export one with tools/export_onnx.py "
         'CONFIG CHECKPOINT --out FILE.onnx'),
    ]
    for path, message in cases:
        with pytest.raises(runtime.DeploymentError) as raised:
            runtime.Detector(path)
        assert str(raised.value).startswith(message)
        assert '\n' not in str(raised.value)
    image = tmp_path / 'image.png'
    image.write_bytes(b'\x89PNG truncated')
    with pytest.raises(runtime.DeploymentError, match=r' is not an image '
                       r'OpenCV can read: pass PNG, JPEG or another image '
                       r'file$'):
        runtime.read_image(image)


def test_mask_pasting_is_mmdet_paste():
    """The runtime's numpy paste against mmdet's ``_do_paste_mask``."""
    from mmdet.models.roi_heads.mask_heads.fcn_mask_head import \
        _do_paste_mask
    generator = torch.Generator().manual_seed(0)
    masks = torch.rand(5, 1, 28, 28, generator=generator)
    boxes = torch.tensor([[3.3, 4.1, 40.7, 30.2], [0.0, 0.0, 63.9, 47.5],
                          [50.2, 10.0, 64.0, 12.5], [10.0, 10.0, 10.0, 20.0],
                          [-0.0, 30.5, 20.25, 48.0]])
    for mask, box in zip(masks, boxes):
        pasted, (rows, cols) = _do_paste_mask(mask[None], box[None], 48, 64)
        expected = np.zeros((48, 64), bool)
        expected[rows, cols] = (pasted[0] >= 0.5).numpy()
        got = runtime.paste_mask(mask[0].numpy(), box.numpy(), 48, 64, 0.5)
        assert (got != expected).sum() <= 1, box


def _split_lines(stdout: str):
    """The AP pairs and the matched counts ``--eval`` printed."""
    aps = {key: (float(a), float(b)) for key, a, b in re.findall(
        r'(coco/\w+_mAP): PyTorch ([0-9.]+), onnxruntime ([0-9.]+)', stdout)}
    matched, expected = map(int, re.search(
        r'(\d+) of (\d+) PyTorch detections with score >= 0.05 matched',
        stdout).groups())
    return aps, matched, expected


@after_training('mask_rcnn', 'cascade')
def export_toy_detector(run: ToyRun,
                        folder: Path) -> subprocess.CompletedProcess:
    """The trained toy detector exported whole, checked, and compared with
    mmdet over the whole validation split."""
    return check(run_tool(
        'export_onnx.py', run.config, run.checkpoint, '--out',
        folder / 'detector.onnx', '--eval', cwd=run.cwd))


@pytest.mark.parametrize('name', ['mask_rcnn', 'cascade'])
def test_toy_detector_export_matches_pytorch_over_the_split(toy_after, name):
    done = toy_after(name, 'export_toy_detector').value
    checks = re.findall(r'(\d+) of (\d+) PyTorch detections matched \(same',
                        done.stdout)
    assert len(checks) == 2, done.stdout  # two image sizes
    assert all(int(m) >= MIN_MATCHED * int(e) for m, e in checks), done.stdout
    aps, matched, expected = _split_lines(done.stdout)
    assert set(aps) == {'coco/bbox_mAP', 'coco/segm_mAP'}, done.stdout
    for torch_ap, onnx_ap in aps.values():
        assert torch_ap > 0.3, done.stdout  # a trained model, not noise
        assert abs(onnx_ap - torch_ap) <= MAX_AP_DIFF, done.stdout
    assert expected > 200 and matched >= MIN_MATCHED * expected, done.stdout


def _val_images(run: ToyRun):
    return sorted((run.cwd / 'data/toy_coco/val').glob('*.png'))[:3]


def test_runtime_runs_without_torch(toy_after):
    """runtime.py alone, in a process where torch, mmcv, mmengine, mmdet
    cannot be imported, gives what it gives here."""
    after = toy_after('mask_rcnn', 'export_toy_detector')
    onnx_file = after.folder / 'detector.onnx'
    images = [str(p) for p in _val_images(after.run)]
    script = (
        'import runpy, sys\n'
        f'for name in {BLOCKED!r}:\n'
        '    sys.modules[name] = None  # import fails\n'
        f'sys.argv = {["runtime.py", str(onnx_file)] + images!r}\n'
        'try:\n'
        f'    runpy.run_path({str(RUNTIME)!r}, run_name="__main__")\n'
        'finally:\n'
        '    print("loaded:", sorted(m for m in sys.modules if m.split(".")'
        f'[0] in {BLOCKED!r} and sys.modules[m] is not None))\n')
    done = subprocess.run([sys.executable, '-c', script], capture_output=True,
                          text=True, env=tool_env(OMP_NUM_THREADS='1'),
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == 'loaded: []'
    detector = runtime.Detector(onnx_file)
    expected = []
    for image in images:
        prediction = detector.predict(image)
        expected.append(f'{image}: {len(prediction.scores)} detections')
        expected.extend(runtime.describe(prediction, detector.classes))
    assert done.stdout.splitlines()[:-1] == expected
    assert len(expected) > 2 * len(images)


def test_infer_paints_onnx_predictions(toy_after, tmp_path):
    after = toy_after('mask_rcnn', 'export_toy_detector')
    image = _val_images(after.run)[0]
    done = run_tool_in_process('infer.py', image, '--onnx',
                               after.folder / 'detector.onnx', '--out-dir',
                               tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    count = int(re.match(rf'{re.escape(str(image))}: (\d+) detections with '
                         r'score >= 0.3$', lines[0]).group(1))
    assert count > 0 and len(lines) == count + 2
    assert lines[-1] == f'  painted: {tmp_path / image.stem}.png'
    painted = (tmp_path / f'{image.stem}.png').read_bytes()
    assert painted.startswith(b'\x89PNG')
    done = run_tool_in_process('infer.py', image, '--onnx', image,
                               '--out-dir', tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith(
        f'error: {image} is not an ONNX file onnxruntime can load: ')


def test_metadata_names_the_toy_classes(toy_after):
    import onnx
    after = toy_after('cascade', 'export_toy_detector')
    model = onnx.load(str(after.folder / 'detector.onnx'),
                      load_external_data=False)
    meta = json.loads(next(p.value for p in model.metadata_props
                           if p.key == runtime.METADATA_KEY))
    assert meta['classes'] == ['square', 'circle', 'triangle']
    assert meta['resize_scale'] == [128, 128] and meta['keep_ratio']
    ops = {node.op_type for node in model.graph.node}
    assert {'RoiAlign', 'NonMaxSuppression', 'TopK'} <= ops
    assert all(node.domain in ('', 'ai.onnx') for node in model.graph.node)
