"""The embedded default: the toy ADE20K-layout dataset, and the toy UperNet
trained and evaluated end to end through tools/train.py, tools/test.py
(single-scale and --tta) and tools/infer.py."""
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import List

import cv2
import numpy as np
import pytest
from mmengine.config import Config

from convnext_dense.datasets import toy_ade

REPO = Path(__file__).resolve().parents[1]
TOY_CONFIG = REPO / 'configs' / 'toy' / 'upernet_convnext_toy_ade.py'
MIN_MIOU = 60.0  # mmseg reports percent: 0.6


def _files(root: Path) -> dict:
    return {p.relative_to(root): p.read_bytes()
            for p in sorted(root.rglob('*')) if p.is_file()}


def test_generator_is_deterministic_by_seed(tmp_path: Path) -> None:
    first = _files(toy_ade.generate(tmp_path / 'a', num_train=3, num_val=2))
    again = _files(toy_ade.generate(tmp_path / 'b', num_train=3, num_val=2))
    other = _files(toy_ade.generate(tmp_path / 'c', num_train=3, num_val=2,
                                    seed=1))
    assert first == again
    assert first.keys() == other.keys() and first != other
    assert sum(p.suffix == '.jpg' for p in first) == 5


def test_generator_writes_the_ade20k_layout(tmp_path: Path) -> None:
    root = toy_ade.generate(tmp_path, num_train=6, num_val=2, size=96)
    for split, count in (('training', 6), ('validation', 2)):
        images = sorted((root / 'images' / split).glob('*.jpg'))
        labels = sorted((root / 'annotations' / split).glob('*.png'))
        assert [p.stem for p in images] == [p.stem for p in labels]
        assert len(images) == count
        label = cv2.imread(str(labels[0]), cv2.IMREAD_UNCHANGED)
        assert label.shape == (96, 96) and label.dtype == np.uint8
        assert cv2.imread(str(images[0])).shape == (96, 96, 3)
    # A second call with the same arguments keeps the files.
    mtime = (root / toy_ade.META_FILE).stat().st_mtime_ns
    toy_ade.generate(tmp_path, num_train=6, num_val=2, size=96)
    assert (root / toy_ade.META_FILE).stat().st_mtime_ns == mtime


def test_classes_share_colours_and_cover_the_labels() -> None:
    """No colour identifies a class: every class is drawn in most colours."""
    rng = np.random.default_rng(0)
    seen = {label: np.zeros(len(toy_ade.IMAGE_COLOURS)) for label in
            range(1, len(toy_ade.CLASSES) + 1)}
    for _ in range(40):
        image, labels = toy_ade.make_sample(rng)
        distances = np.linalg.norm(
            image[..., None, :].astype(np.float32) - toy_ade.IMAGE_COLOURS,
            axis=-1)
        nearest = distances.argmin(-1)
        for label, counts in seen.items():
            counts += np.bincount(nearest[labels == label],
                                  minlength=len(counts))
    for label, counts in seen.items():
        shares = counts / counts.sum()
        assert (shares > 0.02).sum() >= 6, (toy_ade.CLASSES[label - 1],
                                            shares)


def test_toy_config_matches_the_generator() -> None:
    cfg = Config.fromfile(str(TOY_CONFIG))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = cfg[loader].dataset
        assert dataset.type == 'BaseSegDataset' and dataset.reduce_zero_label
        assert tuple(dataset.metainfo.classes) == toy_ade.CLASSES
        assert [tuple(c) for c in dataset.metainfo.palette] == list(
            toy_ade.PALETTE)
    assert cfg.model.decode_head.num_classes == len(toy_ade.CLASSES)
    assert cfg.model.test_cfg.mode == 'slide'


def test_make_toy_data_command(tmp_path: Path) -> None:
    root = tmp_path / 'toy'
    done = subprocess.run(
        [sys.executable, str(REPO / 'tools/make_toy_data.py'), 'ade',
         '--root', str(root), '--num-train', '3', '--num-val', '2'],
        capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert len(list((root / 'images' / 'training').glob('*.jpg'))) == 3
    assert len(list((root / 'annotations' / 'validation').glob('*.png'))) == 2


def _tool(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    # One torch thread: the toy model gains little from a second one, and on
    # a busy 2-core machine two spinning OpenMP threads slow it many times.
    env = dict(os.environ)
    env.setdefault('OMP_NUM_THREADS', '1')
    run = subprocess.run(
        [sys.executable, str(REPO / 'tools' / f'{name}.py'), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run


def _metrics_json(work_dir: Path) -> dict:
    found: List[Path] = sorted(work_dir.glob('metrics_*.json'))
    assert len(found) == 1, found
    return json.loads(found[0].read_text())


@pytest.fixture(scope='module')
def trained_toy(tmp_path_factory) -> dict:
    """One toy training run through tools/train.py, shared by the tests."""
    cwd = tmp_path_factory.mktemp('toy_seg')
    toy_ade.generate(cwd / 'data' / 'toy_ade')
    work_dir = cwd / 'train'
    _tool('train', str(TOY_CONFIG), '--work-dir', str(work_dir), cwd=cwd)
    checkpoint = (work_dir / 'last_checkpoint').read_text().strip()
    return dict(cwd=cwd, checkpoint=checkpoint)


@pytest.mark.slow
def test_toy_upernet_learns(trained_toy: dict) -> None:
    work_dir = trained_toy['cwd'] / 'test'
    label_maps, painted = work_dir / 'label_maps', work_dir / 'painted'
    _tool('test', str(TOY_CONFIG), trained_toy['checkpoint'], '--work-dir',
          str(work_dir), '--out', str(label_maps), '--show-dir',
          str(painted), cwd=trained_toy['cwd'])
    metrics = _metrics_json(work_dir)
    # --out saved every predicted label map, --show-dir painted every image.
    saved = sorted(label_maps.glob('*.png'))
    assert len(saved) == 50
    assert cv2.imread(str(saved[0]), cv2.IMREAD_UNCHANGED).shape == (128, 128)
    assert len(list(painted.rglob('*.png'))) == 50
    print(f'toy single-scale: mIoU {metrics["mIoU"]} mAcc {metrics["mAcc"]}')
    assert metrics['mIoU'] >= MIN_MIOU
    assert set(metrics) >= {'aAcc', 'mIoU', 'mAcc', 'per_class'}
    assert list(metrics['per_class']) == list(toy_ade.CLASSES)
    ious = [c['IoU'] for c in metrics['per_class'].values()]
    assert np.mean(ious) == pytest.approx(metrics['mIoU'], abs=0.01)


@pytest.mark.slow
def test_toy_multi_scale_flip(trained_toy: dict) -> None:
    work_dir = trained_toy['cwd'] / 'test_tta'
    _tool('test', str(TOY_CONFIG), trained_toy['checkpoint'], '--work-dir',
          str(work_dir), '--tta', cwd=trained_toy['cwd'])
    metrics = _metrics_json(work_dir)
    print(f'toy ms+flip: mIoU {metrics["mIoU"]} mAcc {metrics["mAcc"]}')
    assert metrics['mIoU'] >= MIN_MIOU
    # The runner's dump of the config it ran: the TTA model and pipeline.
    ran = Config.fromfile(str(work_dir / TOY_CONFIG.name))
    assert ran.model.type == 'SegTTAModel'
    views = ran.test_dataloader.dataset.pipeline[1]
    assert views.type == 'TestTimeAug' and len(views.transforms[0]) == 6


@pytest.mark.slow
def test_toy_infer_writes_painted_pngs(trained_toy: dict) -> None:
    cwd = trained_toy['cwd']
    images = sorted((cwd / 'data' / 'toy_ade' / 'images' /
                     'validation').glob('*.jpg'))[:2]
    out_dir = cwd / 'painted'
    run = _tool('infer', *map(str, images), '--config', str(TOY_CONFIG),
                '--checkpoint', trained_toy['checkpoint'], '--out-dir',
                str(out_dir), cwd=cwd)
    for image in images:
        painted = cv2.imread(str(out_dir / f'{image.stem}.png'))
        assert painted is not None
        assert painted.shape[0] >= 128 and painted.shape[1] > 128  # legend
        assert str(image) in run.stdout
    assert any(f'{name} ' in run.stdout for name in toy_ade.CLASSES)
