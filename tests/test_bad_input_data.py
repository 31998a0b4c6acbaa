"""Bad datasets: images missing or unreadable, COCO annotations that mmdet
leaves out silently or fails on, label maps of the wrong values, size or
channels. The pre-flight (tools/train.py, tools/test.py) says it in one line,
or one warning line with counts; what only decoding shows is checked as each
sample loads."""
import re

import numpy as np
import pytest
from mmengine.registry import DATASETS, init_default_scope
from mmseg.datasets.transforms import LoadAnnotations as SegLoadAnnotations

from helpers import error_lines, run_tool_in_process
from tiny_datasets import (COCO_CLASSES, COCO_CONFIG, SIZE, ade_config,
                           annotation, coco_config, write_ade, write_coco,
                           write_image)

from convnext_dense.cli import infer
from convnext_dense.cli.common import check_datasets, load_config, one_line
from convnext_dense.data.checks import check_coco
from convnext_dense.errors import (DatasetError, InputNotFoundError,
                                   UnreadableFileError)

TRAIN = 'train_dataloader.dataset'


def build_dataset(cfg, split: str):
    init_default_scope(cfg.default_scope)
    return DATASETS.build(cfg[f'{split}_dataloader'].dataset)


def flawed_annotations():
    """Each kind of annotation mmdet leaves out or ignores, on 3 images."""
    return [
        annotation(1, 1),                                      # used
        annotation(2, 2, bbox=(4, 4, 0, 10), area=0.0),        # zero area
        annotation(3, 2, bbox=(10, 10, -5, 8)),                # negative
        annotation(4, 2, category_id=9),                       # 'dog'
        annotation(5, 2, category_id=7),                       # no category
        annotation(6, 99),                                     # no image 99
        annotation(7, 2, segmentation=[]),                     # empty mask
        annotation(8, 3, iscrowd=1),                           # crowd only
    ]


def test_coco_preflight_warns_once_with_counts(tmp_path, log_lines):
    root = tmp_path / 'coco'
    ann_file = write_coco(
        root, annotations=flawed_annotations(),
        categories=[dict(id=i + 1, name=n) for i, n in enumerate(
            COCO_CLASSES)] + [dict(id=9, name='dog')])
    write_coco(root, 'val')
    cfg = load_config(str(coco_config(tmp_path, root)))
    check_datasets(cfg, ['train'])
    assert [line for line in log_lines if 'annotations' in line] == [
        f'{ann_file} ({TRAIN}): 5 of 8 annotations are left out (as mmdet '
        f'does): 2 with a zero-area, negative or outside box, 2 of category '
        f'ids not in the classes (7, 9), 1 whose image_id matches no image; '
        f'1 instances with an empty or malformed segmentation are ignored '
        f'(no mask to learn from); 1 of 3 images have only crowd annotations '
        f'(they train as background)']
    # The counts are mmdet's: it parses the 3 others into instances.
    dataset = build_dataset(cfg, 'train')
    instances = [instance for i in range(len(dataset))
                 for instance in dataset.get_data_info(i)['instances']]
    assert len(instances) == 8 - 5


#: (flaw, error, message) of the COCO pre-flight.
COCO_FLAWS = [
    ('missing images', InputNotFoundError,
     r'2 of the 3 images listed in .*instances_train\.json are missing '
     r'under .*/train/ \(train_dataloader\.dataset\.data_prefix\.img\), '
     r'e\.g\. 000001\.png, 000002\.png: fix data_root / data_prefix'),
    ('bbox of 3 numbers', DatasetError,
     r'annotation 1 has bbox \[4, 4, 20\] and area 320\.0: a COCO annotation '
     r'has bbox \[x, y, w, h\]'),
    ('duplicate id', DatasetError, r'annotation id 1 appears twice'),
    ('class not a category', DatasetError,
     r"class 'triangle' of the config \(metainfo\.classes\) is not a "
     r'category of .*instances_train\.json \(its categories: square, '
     r'circle, hexagon\)'),
    ('classes in another order', DatasetError,
     r'in another order than the categories of .*'
     r'\(circle, square, triangle\)'),
    ('not JSON', DatasetError, r'instances_train\.json \(train_dataloader\.'
     r'dataset\.ann_file\) is not valid JSON'),
    ('no images', DatasetError, r'instances_train\.json .* lists no images'),
]


@pytest.mark.parametrize('flaw, error, message', COCO_FLAWS,
                         ids=[flaw for flaw, _, _ in COCO_FLAWS])
def test_coco_preflight_errors(tmp_path, flaw, error, message):
    root = tmp_path / 'coco'
    names = list(COCO_CLASSES)
    anns = None
    if flaw == 'bbox of 3 numbers':
        anns = [annotation(1, 1, bbox=(4, 4, 20, 16))]
        anns[0]['bbox'] = [4, 4, 20]
    elif flaw == 'duplicate id':
        anns = [annotation(1, 1), annotation(1, 2)]
    elif flaw == 'class not a category':
        names[2] = 'hexagon'
    elif flaw == 'classes in another order':
        names[:2] = names[1::-1]
    ann_file = write_coco(
        root, num_images=0 if flaw == 'no images' else 3, annotations=anns,
        categories=[dict(id=i + 1, name=n) for i, n in enumerate(names)])
    if flaw == 'missing images':
        for name in ('000001.png', '000002.png'):
            (root / 'train' / name).unlink()
    if flaw == 'not JSON':
        ann_file.write_text('{"images": [')
    with pytest.raises(error, match=message) as raised:
        check_coco(str(ann_file), str(root / 'train') + '/', COCO_CLASSES,
                   TRAIN, loads_masks=True)
    assert '\n' not in str(raised.value)


def test_the_content_walk_can_be_turned_off(tmp_path):
    root = tmp_path / 'coco'
    write_coco(root)
    write_coco(root, 'val')
    (root / 'train' / '000000.png').unlink()
    cfg = load_config(str(coco_config(tmp_path, root)))
    with pytest.raises(InputNotFoundError, match='1 of the 3 images'):
        check_datasets(cfg, ['train'])
    cfg.check_data = False
    check_datasets(cfg, ['train'])  # the loaders are still checked
    assert cfg.train_dataloader.dataset.pipeline[0].type == \
        'convnext_dense.CheckedLoadImageFromFile'


def test_unusable_segmentation_stops_a_mask_evaluated_split(tmp_path):
    root = tmp_path / 'coco'
    ann_file = write_coco(root, 'val', annotations=[
        annotation(1, 1), annotation(2, 2, segmentation=[[1, 2, 3, 4]])])
    args = (str(ann_file), str(root / 'val'), COCO_CLASSES,
            'val_dataloader.dataset')
    # Training ignores such instances (see below); pycocotools fails on them
    # after the whole inference, so an evaluated split stops up front.
    assert check_coco(*args, loads_masks=True).bad_segmentations == 1
    with pytest.raises(DatasetError, match=(
            r'1 annotations of .*instances_val\.json '
            r'\(val_dataloader\.dataset\) have an empty or malformed '
            r'segmentation, e\.g\. 2 \(a polygon of fewer than 3 points or an '
            r"odd length\): pycocotools cannot evaluate masks .* "
            r"\(metric='bbox'\)")):
        check_coco(*args, evaluates_masks=True)


def test_train_tool_stops_on_missing_images_in_one_line(tmp_path):
    root = tmp_path / 'coco'
    write_coco(root)
    write_coco(root, 'val')
    (root / 'train' / '000000.png').unlink()
    done = run_tool_in_process('train.py', coco_config(tmp_path, root),
                               cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    assert error_lines(done) == [
        f'error: 1 of the 3 images listed in {root}/annotations/'
        f'instances_train.json are missing under {root}/train/ '
        f'(train_dataloader.dataset.data_prefix.img), e.g. 000000.png: fix '
        f'data_root / data_prefix, or restore the files']


def test_empty_segmentation_is_an_ignored_instance(tmp_path):
    root = tmp_path / 'coco'
    write_coco(root, annotations=[
        annotation(1, 1), annotation(2, 1, bbox=(30, 20, 20, 20),
                                     segmentation=[]),
        annotation(3, 2), annotation(4, 3)])
    write_coco(root, 'val')
    cfg = load_config(str(coco_config(tmp_path, root)))
    # mmdet 3.3 on its own fails on it.
    with pytest.raises(KeyError, match='mask'):
        build_dataset(cfg, 'train')[0]
    check_datasets(cfg, ['train', 'val'])
    sample = build_dataset(cfg, 'train')[0]['data_samples']
    assert len(sample.gt_instances) == 1
    assert len(sample.ignored_instances) == 1


def test_unreadable_image_is_skipped_in_training_and_stops_testing(
        tmp_path, log_lines):
    root = tmp_path / 'coco'
    write_coco(root)
    write_coco(root, 'val')
    for split in ('train', 'val'):
        path = root / split / '000001.png'
        path.write_bytes(path.read_bytes()[:200])
    cfg = load_config(str(coco_config(tmp_path, root)))
    check_datasets(cfg, ['train', 'val'])
    train = build_dataset(cfg, 'train')
    truncated = [train.get_data_info(i)['img_path']
                 for i in range(len(train))].index(
                     str(root / 'train' / '000001.png'))
    sample = train[truncated]
    assert sample['data_samples'].img_path != str(root / 'train' /
                                                  '000001.png')
    for _ in range(3):  # skipped again, not logged again
        train[truncated]
    skipped = [line for line in log_lines if 'skipped' in line]
    assert len(skipped) == 1 and re.fullmatch(
        rf'skipped unreadable image {root}/train/000001\.png \(truncated: the '
        r'PNG data ends before its IEND chunk\); \d+ files skipped so far by '
        r'this process', skipped[0])
    with pytest.raises(UnreadableFileError, match=(
            rf'^image {root}/val/000001\.png cannot be read \(truncated: the '
            r'PNG data ends before its IEND chunk\): replace it or remove it '
            r'from the dataset')):
        build_dataset(cfg, 'val')[1]


def test_infer_refuses_a_truncated_image_in_one_line(tmp_path):
    image = write_image(tmp_path / 'photo.jpg', seed=0)
    image.write_bytes(image.read_bytes()[:-100])
    (tmp_path / 'model.pth').write_bytes(b'')
    with pytest.raises(UnreadableFileError) as raised:
        infer.main([str(image), '--config', str(COCO_CONFIG),
                    '--checkpoint', str(tmp_path / 'model.pth')])
    assert str(raised.value) == (
        f'image {image} cannot be read (truncated: the JPEG data ends before '
        f'its end-of-image marker)')


@pytest.mark.parametrize('label, message', [
    ('value 7', r'label map .*img_0\.png holds labels 7 \(12\.5% of its '
     r'pixels\) outside the 4 classes \(1\.\.4, and 0 and 255 \(ignored\)\): '
     r'a label map holds class indices; check num_classes and '
     r'reduce_zero_label'),
    ('other size', r'label map .*img_0\.png is 32x24 but its image '
     r'.*img_0\.jpg is 64x48: a label map must have its image\'s size'),
    ('3 channels', r'label map .*img_0\.png has 3 channels: a label map is a '
     r'single-channel PNG of class indices'),
    ('valid, with 255', None),
], ids=['label 7', 'other size', '3 channels', 'valid with 255'])
def test_label_maps_are_checked_as_they_load(tmp_path, label, message):
    valid = np.zeros(SIZE, np.uint8)
    valid[:6] = 255
    valid[6:12] = 4
    bad = {
        'value 7': np.where(np.arange(SIZE[0])[:, None] < 6, 7, valid),
        'other size': np.zeros((24, 32), np.uint8),
        '3 channels': np.stack([valid, valid + 1, valid], axis=-1),
        'valid, with 255': valid,
    }[label].astype(np.uint8)
    root = write_ade(tmp_path / 'ade', labels={0: bad})
    write_ade(root, 'validation')
    cfg = load_config(str(ade_config(tmp_path, root)))
    if label == 'value 7':  # mmseg alone loads it (the loss then fails)
        loaded = SegLoadAnnotations(reduce_zero_label=True)(dict(
            seg_map_path=str(root / 'annotations/training/img_0.png'),
            reduce_zero_label=True, seg_fields=[]))
        assert 6 in np.unique(loaded['gt_seg_map'])
    check_datasets(cfg, ['train', 'val'])
    dataset = build_dataset(cfg, 'train')
    if message is None:
        labels = dataset[0]['data_samples'].gt_sem_seg.data.unique().tolist()
        assert set(labels) <= {0, 1, 2, 3, 255}
        return
    with pytest.raises(DatasetError, match=message) as raised:
        dataset[0]
    assert '\n' not in str(raised.value)


@pytest.mark.parametrize('flaw', ['label map missing', 'no images'])
def test_segmentation_preflight(tmp_path, flaw):
    root = write_ade(tmp_path / 'ade')
    write_ade(root, 'validation')
    if flaw == 'label map missing':
        (root / 'annotations' / 'training' / 'img_1.png').unlink()
        error, message = InputNotFoundError, (
            r'1 of the 2 images under .*images/training have no label map '
            r'under .*annotations/training \(train_dataloader\.dataset\.'
            r'data_prefix\.seg_map_path\), e\.g\. img_1\.png')
    else:
        for image in (root / 'images' / 'training').iterdir():
            image.rename(image.with_suffix('.png'))
        error, message = DatasetError, (
            r'no \.jpg images under .*images/training \(train_dataloader\.'
            r'dataset\.data_prefix\.img_path\): check the folder and '
            r'img_suffix')
    cfg = load_config(str(ade_config(tmp_path, root)))
    with pytest.raises(error, match=message):
        check_datasets(cfg, ['train', 'val'])


def test_an_error_from_a_dataloader_worker_stays_one_line():
    from torch._utils import ExceptionWrapper
    try:
        raise DatasetError('label map x.png holds labels 7')
    except DatasetError:
        wrapped = ExceptionWrapper(where='in DataLoader worker process 0')
    with pytest.raises(DatasetError) as raised:
        wrapped.reraise()
    assert 'Traceback' in str(raised.value)
    assert one_line(raised.value) == 'label map x.png holds labels 7'

