"""One helper finds the datasets inside dataset wrappers, for the dataset
checks, --tta and inference alike."""
from mmengine.config import Config, ConfigDict

from convnext_dense.cli.test import enable_tta
from convnext_dense.data.wrappers import leaf_datasets, split_datasets


def coco(name: str, pipeline=None) -> dict:
    return dict(type='CocoDataset', data_root=name, pipeline=pipeline or [])


def test_leaves_of_nested_wrappers_with_their_config_paths():
    dataset = ConfigDict(type='ConcatDataset', datasets=[
        coco('a'),
        dict(type='RepeatDataset', times=2, dataset=dict(
            type='ClassBalancedDataset', oversample_thr=0.1,
            dataset=coco('b'))),
    ])
    found = list(leaf_datasets(dataset, 'train_dataloader.dataset'))
    assert [(d.data_root, where) for d, where in found] == [
        ('a', 'train_dataloader.dataset.datasets[0]'),
        ('b', 'train_dataloader.dataset.datasets[1].dataset.dataset'),
    ]
    # The leaves are the config's own objects: changing them changes it.
    found[1][0].data_root = 'c'
    assert dataset.datasets[1].dataset.dataset.data_root == 'c'


def test_a_plain_dataset_is_its_own_leaf():
    dataset = ConfigDict(coco('a'))
    assert list(leaf_datasets(dataset)) == [(dataset, 'dataset')]


def test_split_datasets_names_each_leaf_with_its_split():
    cfg = Config(dict(
        train_dataloader=dict(dataset=dict(
            type='RepeatDataset', times=2, dataset=coco('t'))),
        val_dataloader=dict(dataset=dict(type='ConcatDataset', datasets=[
            coco('v0'), coco('v1')])),
        test_dataloader=None))
    found = [(split, d.data_root, where) for split, d, where in
             split_datasets(cfg, ['train', 'val', 'test'])]
    assert found == [
        ('train', 't', 'train_dataloader.dataset.dataset'),
        ('val', 'v0', 'val_dataloader.dataset.datasets[0]'),
        ('val', 'v1', 'val_dataloader.dataset.datasets[1]'),
    ]
    assert list(split_datasets(cfg, ['test'])) == []


def test_tta_pipeline_goes_to_every_wrapped_test_dataset():
    cfg = Config(dict(
        default_scope='mmseg',
        model=dict(type='EncoderDecoder'),
        tta_model=dict(type='SegTTAModel'),
        tta_pipeline=[dict(type='LoadImageFromFile'),
                      dict(type='TestTimeAug', transforms=[])],
        test_dataloader=dict(dataset=dict(type='ConcatDataset', datasets=[
            coco('a', [dict(type='LoadImageFromFile')]),
            dict(type='RepeatDataset', times=1, dataset=coco('b'))]))))
    enable_tta(cfg)
    pipelines = [d.pipeline for d, _ in
                 leaf_datasets(cfg.test_dataloader.dataset)]
    assert pipelines == [cfg.tta_pipeline] * 2
    assert cfg.model.type == 'SegTTAModel'
    assert cfg.model.module.type == 'EncoderDecoder'


def test_detection_inference_reads_the_wrapped_test_pipeline():
    from mmengine.registry import init_default_scope

    from convnext_dense.inference.detection import inference_pipeline
    init_default_scope('mmdet')
    cfg = Config(dict(test_dataloader=dict(dataset=dict(
        type='RepeatDataset', times=3, dataset=coco('a', [
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations', with_bbox=True),
            dict(type='PackDetInputs')])))))
    steps = [type(t).__name__ for t in inference_pipeline(cfg).transforms]
    assert steps == ['LoadImageFromFile', 'PackDetInputs']
