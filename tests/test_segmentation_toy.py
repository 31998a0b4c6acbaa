"""The embedded default: the toy ADE20K-layout dataset, and the toy UperNet
trained and evaluated end to end through tools/train.py, tools/test.py
(single-scale and --tta) and tools/infer.py."""
import subprocess
from pathlib import Path
from typing import List

import cv2
import numpy as np
import pytest
from mmengine.config import Config

from conftest import ToyRun, check, run_tool
from helpers import only_metrics_json, run_tool_in_process
from convnext_dense.data.toy import toy_ade
from toy_runs import TOY_SPECS, after_training

TOY_CONFIG = TOY_SPECS['upernet'].config
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
    check(run_tool_in_process('make_toy_data.py', 'ade', '--root', root,
                              '--num-train', '3', '--num-val', '2'))
    assert len(list((root / 'images' / 'training').glob('*.jpg'))) == 3
    assert len(list((root / 'annotations' / 'validation').glob('*.png'))) == 2


@after_training('upernet')
def single_scale_test(run: ToyRun, folder: Path) -> subprocess.CompletedProcess:
    """tools/test.py with --out label maps and --show-dir."""
    return check(run_tool(
        'test.py', TOY_CONFIG, run.checkpoint, '--work-dir', folder, '--out',
        folder / 'label_maps', '--show-dir', folder / 'painted', cwd=run.cwd,
        OMP_NUM_THREADS='1'))


@pytest.mark.slow
def test_toy_upernet_learns(toy_after) -> None:
    after = toy_after('upernet', 'single_scale_test')
    metrics = only_metrics_json(after.folder)
    # --out saved every predicted label map, --show-dir painted every image.
    saved = sorted((after.folder / 'label_maps').glob('*.png'))
    assert len(saved) == 50
    assert cv2.imread(str(saved[0]), cv2.IMREAD_UNCHANGED).shape == (128, 128)
    assert len(list((after.folder / 'painted').rglob('*.png'))) == 50
    print(f'toy single-scale: mIoU {metrics["mIoU"]} mAcc {metrics["mAcc"]}')
    assert metrics['mIoU'] >= MIN_MIOU
    assert set(metrics) >= {'aAcc', 'mIoU', 'mAcc', 'per_class'}
    assert list(metrics['per_class']) == list(toy_ade.CLASSES)
    ious = [c['IoU'] for c in metrics['per_class'].values()]
    assert np.mean(ious) == pytest.approx(metrics['mIoU'], abs=0.01)
    # The same as the validation at the end of training.
    assert metrics['mIoU'] == pytest.approx(
        after.run.val_metrics()['mIoU'], abs=0.01)


#: Held-out images the multi-scale + flip test runs on: 12 views of each
#: make it the costliest test of the toy model.
TTA_IMAGES = 20


@after_training('upernet')
def multi_scale_flip(run: ToyRun, folder: Path) -> subprocess.CompletedProcess:
    """tools/test.py --tta on the first :data:`TTA_IMAGES` held-out images."""
    return check(run_tool(
        'test.py', TOY_CONFIG, run.checkpoint, '--work-dir', folder, '--tta',
        '--cfg-options', f'test_dataloader.dataset.indices={TTA_IMAGES}',
        cwd=run.cwd, OMP_NUM_THREADS='1'))


@pytest.mark.slow
def test_toy_multi_scale_flip(toy_after) -> None:
    after = toy_after('upernet', 'multi_scale_flip')
    assert f'{TTA_IMAGES}/{TTA_IMAGES}' in after.value.stderr
    metrics = only_metrics_json(after.folder)
    print(f'toy ms+flip: mIoU {metrics["mIoU"]} mAcc {metrics["mAcc"]}')
    assert metrics['mIoU'] >= MIN_MIOU
    # The runner's dump of the config it ran: the TTA model and pipeline.
    ran = Config.fromfile(str(after.folder / TOY_CONFIG.name))
    assert ran.model.type == 'SegTTAModel'
    views = ran.test_dataloader.dataset.pipeline[1]
    assert views.type == 'TestTimeAug' and len(views.transforms[0]) == 6


def _infer_images(run: ToyRun) -> List[Path]:
    return sorted((run.cwd / toy_ade.DEFAULT_ROOT / 'images' /
                   'validation').glob('*.jpg'))[:2]


@after_training('upernet')
def infer(run: ToyRun, folder: Path) -> subprocess.CompletedProcess:
    """tools/infer.py on two held-out images, painted into ``folder``."""
    return check(run_tool('infer.py', *_infer_images(run), '--config',
                          TOY_CONFIG, '--checkpoint', run.checkpoint,
                          '--out-dir', folder, cwd=run.cwd,
                          OMP_NUM_THREADS='1'))


@pytest.mark.slow
def test_toy_infer_writes_painted_pngs(toy_after) -> None:
    after = toy_after('upernet', 'infer')
    for image in _infer_images(after.run):
        painted = cv2.imread(str(after.folder / f'{image.stem}.png'))
        assert painted is not None
        assert painted.shape[0] >= 128 and painted.shape[1] > 128  # legend
        assert str(image) in after.value.stdout
    assert any(f'{name} ' in after.value.stdout for name in toy_ade.CLASSES)
