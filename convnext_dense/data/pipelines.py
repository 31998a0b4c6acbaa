"""Dataset pipelines at other image sizes, for configs.

Config inheritance replaces a list whole, so a config that trains at another
size than its base rebuilds the base's pipelines; these functions do it in one
place::

    _base_ = './ade20k.py'
    from convnext_dense.data.pipelines import resized_seg_pipelines
    crop_size = (640, 640)
    img_scale = (2560, 640)
    train_pipeline, test_pipeline, tta_pipeline = resized_seg_pipelines(
        _base_, img_scale, crop_size)
"""
from typing import List, Mapping, Optional, Sequence, Tuple

Pipeline = List[dict]


def resized_steps(pipeline: Sequence[Mapping],
                  changes: Mapping[str, Mapping]) -> Pipeline:
    """A copy of ``pipeline`` with ``changes[step type]`` merged into each step."""
    return [dict(step, **changes.get(step['type'], {})) for step in pipeline]


def resized_seg_pipelines(
        base: Mapping,
        img_scale: Tuple[int, int],
        crop_size: Tuple[int, int],
        ratio_range: Optional[Tuple[float, float]] = None
) -> Tuple[Pipeline, Pipeline, Pipeline]:
    """A segmentation dataset config's pipelines at another size.

    Args:
        base: The base config (``_base_``) with ``train_pipeline``,
            ``test_pipeline``, ``tta_pipeline`` (load, then ``TestTimeAug``
            whose first transform list is one Resize per ratio) and
            ``img_ratios``.
        img_scale: Resize scale of training (before the random ratio) and
            test.
        crop_size: Training crop.
        ratio_range: Training resize ratios; defaults to the base's.

    Returns:
        tuple: The train, test and multi-scale + flip pipelines.
    """
    random_resize = dict(scale=img_scale)
    if ratio_range is not None:
        random_resize['ratio_range'] = ratio_range
    changes = dict(
        RandomResize=random_resize,
        RandomCrop=dict(crop_size=crop_size),
        Resize=dict(scale=img_scale))
    load, views = base['tta_pipeline']
    scales = [
        dict(type='Resize', keep_ratio=True,
             scale=(int(img_scale[0] * r), int(img_scale[1] * r)))
        for r in base['img_ratios']
    ]
    tta = [load, dict(views, transforms=[scales, *views['transforms'][1:]])]
    return (resized_steps(base['train_pipeline'], changes),
            resized_steps(base['test_pipeline'], changes), tta)
