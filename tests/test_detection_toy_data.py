"""The toy COCO generator: determinism, consistent annotations, readable by
mmdet's CocoDataset and pipeline, and the make_toy_data.py command."""
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from pycocotools.coco import COCO

from conftest import CONFIGS, error_lines
from helpers import run_tool_in_process
from convnext_dense.data.toy import toy_coco

TOY_CONFIG = CONFIGS / 'toy/mask_rcnn_convnext_toy_coco.py'


def _digest(root: Path) -> str:
    """One hash over every file's relative path and bytes."""
    sha = hashlib.sha256()
    for path in sorted(p for p in root.rglob('*') if p.is_file()):
        sha.update(str(path.relative_to(root)).encode())
        sha.update(path.read_bytes())
    return sha.hexdigest()


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('toy') / 'toy_coco'
    toy_coco.generate(root, num_train=24, num_val=8, seed=3)
    return root


def test_same_seed_same_bytes_and_val_independent_of_train(toy_root, tmp_path):
    again = tmp_path / 'again'
    toy_coco.generate(again, num_train=24, num_val=8, seed=3)
    assert _digest(again) == _digest(toy_root)

    bigger = tmp_path / 'bigger'
    toy_coco.generate(bigger, num_train=30, num_val=8, seed=3)
    assert _digest(bigger / 'val') == _digest(toy_root / 'val')
    assert (toy_coco.ann_file(bigger, 'val').read_bytes() ==
            toy_coco.ann_file(toy_root, 'val').read_bytes())

    other = tmp_path / 'other'
    toy_coco.generate(other, num_train=24, num_val=8, seed=4)
    assert _digest(other / 'train') != _digest(toy_root / 'train')


def test_layout_and_annotations_agree_with_pixels(toy_root):
    assert toy_coco.exists(toy_root)
    for split, count in (('train', 24), ('val', 8)):
        coco = COCO(str(toy_coco.ann_file(toy_root, split)))
        assert len(coco.getImgIds()) == count
        assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == list(
            toy_coco.CLASSES)
        for image_id in coco.getImgIds():
            info = coco.loadImgs(image_id)[0]
            image = cv2.imread(str(toy_root / split / info['file_name']))
            assert image.shape == (info['height'], info['width'], 3)
            anns = coco.loadAnns(coco.getAnnIds(imgIds=image_id))
            assert 1 <= len(anns) <= 4
            union = np.zeros(image.shape[:2], dtype=np.int32)
            for ann in anns:
                mask = coco.annToMask(ann)
                union += mask
                assert ann['area'] == mask.sum() > 0
                ys, xs = np.nonzero(mask)
                x, y, w, h = ann['bbox']
                assert (x, y) == (xs.min(), ys.min())
                assert (x + w, y + h) == (xs.max() + 1, ys.max() + 1)
                # An object's pixels differ from the background around it.
                ring = cv2.dilate(mask, np.ones((5, 5), np.uint8)) - mask
                inside = image[mask.astype(bool)].mean(0)
                outside = image[ring.astype(bool) & (union == 0)].mean(0)
                assert np.abs(inside - outside).sum() > 60
            assert union.max() == 1, 'instances must not overlap'


def test_sizes_and_classes_vary(tmp_path):
    root = tmp_path / 'toy_coco'
    toy_coco.generate(root, num_train=60, num_val=1, seed=0)
    anns = json.loads(toy_coco.ann_file(root, 'train').read_text())
    widths = np.array([a['bbox'][2] for a in anns['annotations']])
    labels = np.array([a['category_id'] for a in anns['annotations']])
    assert widths.min() < 24 and widths.max() > 48
    assert set(labels) == {1, 2, 3}
    # COCO's size buckets: small (< 32^2) and medium objects both occur.
    areas = np.array([a['area'] for a in anns['annotations']])
    assert (areas < 32**2).any() and (areas >= 32**2).any()


def test_refuses_to_overwrite_and_bad_sizes(toy_root, tmp_path):
    with pytest.raises(FileExistsError, match='already exists'):
        toy_coco.generate(toy_root, num_train=1, num_val=1)
    with pytest.raises(ValueError, match='num_train'):
        toy_coco.generate(tmp_path / 'x', num_train=0)


def test_mmdet_reads_it_through_the_toy_config(toy_root):
    """The toy config's training pipeline yields images, boxes and masks."""
    init_default_scope('mmdet')
    from mmdet.registry import DATASETS
    cfg = Config.fromfile(str(TOY_CONFIG))
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.data_root = str(toy_root)
    dataset = DATASETS.build(dataset_cfg)
    assert dataset.metainfo['classes'] == toy_coco.CLASSES
    assert len(dataset) == 24
    for index in range(4):
        item = dataset[index]
        sample = item['data_samples']
        instances = sample.gt_instances
        assert item['inputs'].shape[0] == 3
        assert len(instances.bboxes) == len(instances.masks)
        assert instances.masks.height == item['inputs'].shape[1]
        assert set(instances.labels.tolist()) <= {0, 1, 2}


def test_make_toy_data_command(tmp_path):
    root = tmp_path / 'toy'
    args = ['coco', '--root', root, '--num-train', '3', '--num-val', '2']
    done = run_tool_in_process('make_toy_data.py', *args)
    assert done.returncode == 0, done.stderr
    assert 'train: 3 images' in done.stdout and 'val: 2 images' in done.stdout
    assert toy_coco.exists(root)

    other = run_tool_in_process('make_toy_data.py', *args[:-1], '3')
    assert other.returncode == 2
    assert error_lines(other) == [
        f'error: {root} already exists and holds a toy dataset with '
        f'num_val=2 (asked: 3): pass --overwrite (overwrite=True) to replace '
        f'it, or choose another root']
