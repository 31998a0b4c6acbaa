"""tools/analysis/browse_dataset.py on small toy datasets: what the pipelines
produce, painted where the annotations are, one PNG per sample and an
overview. (One run as a subprocess, the rest through the tool's main.)"""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import CONFIGS, check, run_tool
from convnext_dense.analysis.browse import OVERVIEW, OVERVIEW_GAP
from convnext_dense.cli import browse_dataset
from convnext_dense.data.toy import toy_ade, toy_coco
from convnext_dense.errors import InputNotFoundError, UserError

DET_CONFIG = CONFIGS / 'toy/mask_rcnn_convnext_toy_coco.py'
SEG_CONFIG = CONFIGS / 'toy/upernet_convnext_toy_ade.py'


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory) -> Path:
    """A folder holding small toy datasets where the toy configs read them."""
    root = tmp_path_factory.mktemp('browse')
    toy_coco.generate(root / toy_coco.DEFAULT_ROOT, num_train=6, num_val=2)
    toy_ade.generate(root / toy_ade.DEFAULT_ROOT, num_train=6, num_val=2)
    return root


def _rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    assert image is not None, f'{path} is not an image'
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def test_detection_training_samples_and_overview(toy_root, tmp_path):
    """Also the check that the real tool runs end to end (a subprocess)."""
    out_dir = tmp_path / 'browse'
    done = check(run_tool('analysis/browse_dataset.py', DET_CONFIG,
                          '--out-dir', out_dir, '--max', '3', cwd=toy_root))
    # (pycocotools prints its progress to stdout too.)
    written = [line for line in done.stdout.splitlines()
               if line.endswith('.png')]
    assert len(written) == 4
    assert written[-1] == str(out_dir / OVERVIEW)
    assert 'painted 3 train samples' in done.stdout
    for path in written[:3]:
        painted = _rgb(Path(path))
        # The toy training pipeline keeps the 128 x 128 size (flip only).
        assert painted.shape == (128, 128, 3)
        source = _rgb(toy_root / 'data/toy_coco/train' / Path(path).name)
        assert (painted != source).any(), f'nothing drawn on {path}'
    assert _rgb(out_dir / OVERVIEW).shape == (128, 3 * 128 + 2 * OVERVIEW_GAP,
                                              3)


def test_detection_boxes_are_drawn_on_the_annotations(toy_root, tmp_path,
                                                      monkeypatch):
    monkeypatch.chdir(toy_root)
    out_dir = tmp_path / 'val'
    written = browse_dataset.main([str(DET_CONFIG), '--out-dir',
                                   str(out_dir), '--split', 'val'])
    assert len(written) == 3  # both val images and the overview
    annotations = json.loads(
        toy_coco.ann_file(toy_root / toy_coco.DEFAULT_ROOT, 'val').read_text())
    boxes = {}
    for ann in annotations['annotations']:
        boxes.setdefault(ann['image_id'], []).append(ann['bbox'])
    for image in annotations['images']:
        name = Path(image['file_name']).name
        source = _rgb(toy_root / 'data/toy_coco/val' / name)
        changed = (_rgb(out_dir / name) != source).any(-1)
        for x, y, w, h in boxes[image['id']]:
            x0, y0 = int(x), int(y)
            x1, y1 = min(int(x + w), 127), min(int(y + h), 127)
            edges = np.concatenate([changed[y0, x0:x1], changed[y1, x0:x1],
                                    changed[y0:y1, x0], changed[y0:y1, x1]])
            # The box outline (and the mask under it) is painted.
            assert edges.mean() > 0.8, (name, (x, y, w, h), edges.mean())


def test_segmentation_label_maps_are_blended_over_the_image(
        toy_root, tmp_path, monkeypatch):
    monkeypatch.chdir(toy_root)
    out_dir = tmp_path / 'val'
    written = browse_dataset.main([str(SEG_CONFIG), '--out-dir',
                                   str(out_dir), '--split', 'val'])
    assert len(written) == 3
    palette = np.array(toy_ade.PALETTE, np.float64)
    for path in written[:2]:
        stem = Path(path).stem
        image = _rgb(toy_root / 'data/toy_ade/images/validation' /
                     f'{stem}.jpg').astype(np.float64)
        labels = cv2.imread(
            str(toy_root / 'data/toy_ade/annotations/validation' /
                f'{stem}.png'), cv2.IMREAD_UNCHANGED)
        # reduce_zero_label: label k is class k - 1; 0 ("other") is ignored
        # and gets no colour.
        colours = np.zeros_like(image)
        colours[labels > 0] = palette[labels[labels > 0] - 1]
        expected = image * 0.5 + colours * 0.5
        painted = _rgb(Path(path))
        assert painted.shape[0] >= 128 and painted.shape[1] > 128  # legend
        assert np.abs(painted[:, :128] - expected).max() <= 1.0
        legend = painted[:, 128:].reshape(-1, 3)
        present = {int(k) - 1 for k in np.unique(labels) if k > 0}
        for k in present:  # a swatch of each class present
            assert (legend == toy_ade.PALETTE[k]).all(-1).any(), (stem, k)


def test_segmentation_training_samples_are_crops(toy_root, tmp_path,
                                                 monkeypatch):
    monkeypatch.chdir(toy_root)
    written = browse_dataset.main([str(SEG_CONFIG), '--out-dir',
                                   str(tmp_path), '--max', '2'])
    for path in written[:2]:
        painted = _rgb(Path(path))
        # A 96 x 96 training crop with the legend on its right.
        assert painted.shape[0] >= 96 and painted.shape[1] > 96
        assert (painted[:96, 96:] == 255).mean() > 0.5, 'no legend panel'


def test_bad_input(toy_root, tmp_path, monkeypatch):
    with pytest.raises(UserError, match=r'^--max 0: paint at least 1 '
                       r'sample$'):
        browse_dataset.main([str(DET_CONFIG), '--out-dir', str(tmp_path),
                             '--max', '0'])
    monkeypatch.chdir(tmp_path)  # no data/ here
    with pytest.raises(InputNotFoundError, match=r'data/toy_coco/? '
                       r'\(train_dataloader\.dataset\.data_root\) does not '
                       r'exist'):
        browse_dataset.main([str(DET_CONFIG), '--out-dir', str(tmp_path)])
