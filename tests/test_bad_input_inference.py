"""Inference on awkward images: sizes that are not multiples of 32, 32x32 and
4000x3000, grayscale and RGBA. Untrained toy models (random weights, the
toolkit's inference path) show the geometry: boxes inside the image, masks and
label maps of the input's size, and a grayscale or RGBA image predicting what
its 3-channel version predicts.

The 4000x3000 case runs for the detector only: the toy test pipeline resizes
the image to 128 pixels, so the model is cheap at any size, and mmdet pastes
each instance mask at full size (5 instances here). The segmentor upsamples
its logits to the input's size (4 x 3000 x 4000 floats, about 5 s on 2
cores), so it is shown at 1001x751 instead.
"""
import copy

import cv2
import numpy as np
import pytest
import torch
from mmdet.apis import inference_detector, init_detector
from mmseg.apis import inference_model

from tiny_datasets import ADE_CONFIG, COCO_CLASSES, COCO_CONFIG

from convnext_dense.cli.common import load_config
from convnext_dense.inference import detection, segmentation


def save_untrained(cfg, build, classes, path):
    """Saves a randomly initialised model of ``cfg`` as a checkpoint."""
    torch.manual_seed(0)
    model = build(copy.deepcopy(cfg), None, device='cpu')
    palette = [(60 * i, 80, 200 - 40 * i) for i in range(len(classes))]
    torch.save({'state_dict': model.state_dict(),
                'meta': {'dataset_meta': {'classes': classes,
                                          'palette': palette}}}, path)
    return path


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """One torch thread: these small models gain nothing from two, and
    spinning threads cost CPU on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def detector(tmp_path_factory):
    cfg = load_config(str(COCO_CONFIG))
    cfg.model.test_cfg.rcnn.max_per_img = 5  # masks pasted at 4000x3000
    path = tmp_path_factory.mktemp('detector') / 'untrained.pth'
    return cfg, save_untrained(cfg, init_detector, COCO_CLASSES, path)


@pytest.fixture(scope='module')
def segmentor(tmp_path_factory):
    from mmseg.apis import init_model
    cfg = load_config(str(ADE_CONFIG))
    path = tmp_path_factory.mktemp('segmentor') / 'untrained.pth'
    classes = ('disc', 'ring', 'stripes', 'checker')
    return cfg, save_untrained(cfg, init_model, classes, path)


def scene(height: int, width: int) -> np.ndarray:
    """An RGB image with a few coloured shapes (not noise: JPEG/PNG stay
    small and fast at 4000x3000)."""
    image = np.full((height, width, 3), 90, np.uint8)
    cv2.rectangle(image, (width // 8, height // 6),
                  (width // 2, height // 2), (220, 40, 40), -1)
    cv2.circle(image, (width * 2 // 3, height * 2 // 3),
               max(2, min(height, width) // 5), (40, 200, 60), -1)
    return image


def write(path, image: np.ndarray):
    """Writes an RGB(A) or grayscale array as the file a user would have."""
    if image.ndim == 3:
        code = cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else \
            cv2.COLOR_RGB2BGR
        image = cv2.cvtColor(image, code)
    assert cv2.imwrite(str(path), image)
    return str(path)


def variants(tmp_path, height=45, width=77):
    """A grayscale image and the same as 3 channels; an RGBA image (alpha
    varying) and its RGB."""
    rgb = scene(height, width)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    alpha = np.linspace(0, 255, width, dtype=np.uint8)[None].repeat(height, 0)
    return dict(
        gray=write(tmp_path / 'gray.png', gray),
        gray_as_rgb=write(tmp_path / 'gray_as_rgb.png',
                          np.stack([gray] * 3, axis=-1)),
        rgba=write(tmp_path / 'rgba.png', np.dstack([rgb, alpha])),
        rgb=write(tmp_path / 'rgb.png', rgb))


@pytest.mark.parametrize('height, width', [(32, 32), (45, 77), (3000, 4000)])
def test_detections_lie_inside_the_image(detector, tmp_path, height, width):
    cfg, checkpoint = detector
    path = write(tmp_path / 'scene.jpg', scene(height, width))
    model = init_detector(copy.deepcopy(cfg), str(checkpoint), device='cpu')
    # What run_inference does for each image, without the painting.
    result = inference_detector(model, path,
                                detection.inference_pipeline(model.cfg))
    instances = result.pred_instances
    assert len(instances) > 0
    boxes = instances.bboxes
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 1] >= 0).all()
    assert (boxes[:, 2] <= width + 1e-3).all()
    assert (boxes[:, 3] <= height + 1e-3).all()
    assert (boxes[:, 2:] >= boxes[:, :2]).all()
    assert tuple(instances.masks.shape[1:]) == (height, width)
    assert tuple(result.ori_shape) == (height, width)


def test_grayscale_and_rgba_images_detect_as_rgb(detector, tmp_path, capsys):
    cfg, checkpoint = detector
    images = variants(tmp_path)
    results = dict(zip(images, detection.run_inference(
        cfg, str(checkpoint), list(images.values()), str(tmp_path / 'out'),
        score_thr=0.0)))
    for image, same in (('gray', 'gray_as_rgb'), ('rgba', 'rgb')):
        a, b = results[image].pred_instances, results[same].pred_instances
        assert len(a) > 0
        assert torch.equal(a.bboxes, b.bboxes) and torch.equal(a.scores,
                                                                b.scores)
        assert torch.equal(a.masks, b.masks)
        assert cv2.imread(str(tmp_path / 'out' / f'{image}.png')).shape[:2] \
            == (45, 77)
    # The model's output does depend on the image: the equalities above are
    # not those of a constant prediction.
    assert not torch.equal(results['rgb'].pred_instances.scores,
                           results['gray'].pred_instances.scores)
    assert 'painted' in capsys.readouterr().out


@pytest.mark.parametrize('height, width', [(32, 32), (45, 77), (751, 1001)])
def test_label_maps_have_the_input_size(segmentor, tmp_path, height, width):
    cfg, checkpoint = segmentor
    path = write(tmp_path / 'scene.jpg', scene(height, width))
    model = segmentation.load_segmentor(cfg, str(checkpoint))
    label_map = inference_model(model, path).pred_sem_seg.data
    assert tuple(label_map.shape) == (1, height, width)
    assert int(label_map.max()) < 4


def test_grayscale_and_rgba_images_segment_as_rgb(segmentor, tmp_path,
                                                  capsys):
    cfg, checkpoint = segmentor
    images = variants(tmp_path)
    model = segmentation.load_segmentor(cfg, str(checkpoint))
    maps = {name: inference_model(model, path).pred_sem_seg.data
            for name, path in images.items()}
    assert torch.equal(maps['gray'], maps['gray_as_rgb'])
    assert torch.equal(maps['rgba'], maps['rgb'])
    assert not torch.equal(maps['gray'], maps['rgb'])
    summaries = segmentation.run_inference(
        cfg, str(checkpoint), list(images.values()), str(tmp_path / 'out'))
    shares = {s['image']: s['shares'] for s in summaries}
    assert shares[images['gray']] == shares[images['gray_as_rgb']]
    assert shares[images['rgba']] == shares[images['rgb']]
    assert '->' in capsys.readouterr().out
