"""What a config's training pipeline feeds the model, painted
(``tools/analysis/browse_dataset.py``).

Each sample of the dataset goes through the split's pipeline, augmentations
included, exactly as in training, and is painted by the config's own
visualizer: mmdet's ``DetLocalVisualizer`` draws the ground-truth boxes,
instance masks and class names; mmseg's ``SegLocalVisualizer`` blends the
colour label map over the image, and a legend of the classes present (with
their pixel shares, as ``tools/infer.py`` draws predictions) is added on the
right. Pixels the loss ignores (label 255, e.g. ADE20K's "other" under
``reduce_zero_label``) stay unpainted. The glue is that of mmdet's and mmseg's
``tools/analysis_tools/browse_dataset.py``, which are scripts outside the
packages' import path.
"""
import os.path as osp
from pathlib import Path
from typing import Callable, Dict, List, Sequence

import cv2
import numpy as np
from mmengine.config import Config
from mmengine.dataset import BaseDataset
from mmengine.registry import DATASETS, VISUALIZERS, init_default_scope
from mmengine.runner import set_random_seed
from mmengine.visualization import Visualizer

from convnext_dense.errors import UserError
from convnext_dense.inference.outputs import painted_paths
from convnext_dense.inference.segmentation import add_legend, class_shares

#: Name of the picture tiling every painted sample.
OVERVIEW = 'overview.png'
#: Samples a row of the overview, and the white gap between them (pixels).
OVERVIEW_COLUMNS = 4
OVERVIEW_GAP = 4

#: Opacity of masks and label maps, unless the config's visualizer sets one:
#: the visualizers' default (0.8) hides the image under the labels.
ALPHA = 0.5
#: A function painting one pipeline output as an RGB image.
Painter = Callable[[Visualizer, np.ndarray, object], np.ndarray]


def build_dataset(cfg: Config, split: str = 'train') -> BaseDataset:
    """The dataset of ``<split>_dataloader``, with that split's pipeline.

    Raises:
        UserError: when the config has no such dataloader.
    """
    loader = cfg.get(f'{split}_dataloader')
    if not loader or 'dataset' not in loader:
        raise UserError(f'{cfg.filename} has no {split}_dataloader.dataset')
    init_default_scope(cfg.default_scope)
    return DATASETS.build(loader.dataset)


def build_visualizer(cfg: Config, dataset: BaseDataset) -> Visualizer:
    """The config's visualizer, writing nowhere by itself, with the classes
    and palette of ``dataset`` and :data:`ALPHA`."""
    visualizer_cfg = dict(cfg.visualizer, vis_backends=[], save_dir=None,
                          name=f'convnext_dense_browse_{id(dataset)}')
    visualizer_cfg.setdefault('alpha', ALPHA)
    visualizer = VISUALIZERS.build(visualizer_cfg)
    visualizer.dataset_meta = dataset.metainfo
    return visualizer


def paint_detection(visualizer: Visualizer, image: np.ndarray,
                    data_sample) -> np.ndarray:
    """Boxes, masks and class names of a ``DetDataSample``'s ground truth."""
    from mmdet.models.utils import mask2ndarray
    from mmdet.structures.bbox import BaseBoxes
    instances = data_sample.gt_instances
    if isinstance(instances.get('bboxes'), BaseBoxes):
        instances.bboxes = instances.bboxes.tensor
    if instances.get('masks') is not None:
        instances.masks = mask2ndarray(instances.masks).astype(bool)
    visualizer.add_datasample('sample', image, data_sample, draw_pred=False)
    return visualizer.get_image()


def paint_segmentation(visualizer: Visualizer, image: np.ndarray,
                       data_sample) -> np.ndarray:
    """A ``SegDataSample``'s label map over the image, with a legend."""
    visualizer.add_datasample('sample', image, data_sample, draw_pred=False,
                              with_labels=False)
    classes = visualizer.dataset_meta['classes']
    palette = visualizer.dataset_meta['palette']
    shares = class_shares(np.asarray(data_sample.gt_sem_seg.data[0]),
                          len(classes))
    return add_legend(visualizer.get_image(),
                      [(classes[label], palette[label], share)
                       for label, share in shares.items()])


#: The painter of each scope's data samples.
PAINTERS: Dict[str, Painter] = {
    'mmdet': paint_detection,
    'mmseg': paint_segmentation,
}


def overview(images: Sequence[np.ndarray],
             columns: int = OVERVIEW_COLUMNS) -> np.ndarray:
    """The images tiled left to right, top to bottom, on white."""
    height = max(image.shape[0] for image in images)
    width = max(image.shape[1] for image in images)
    columns = min(columns, len(images))
    rows = -(-len(images) // columns)
    canvas = np.full((rows * (height + OVERVIEW_GAP) - OVERVIEW_GAP,
                      columns * (width + OVERVIEW_GAP) - OVERVIEW_GAP, 3),
                     255, np.uint8)
    for index, image in enumerate(images):
        top = (index // columns) * (height + OVERVIEW_GAP)
        left = (index % columns) * (width + OVERVIEW_GAP)
        canvas[top:top + image.shape[0], left:left + image.shape[1]] = image
    return canvas


def _write_rgb(path: str, image: np.ndarray) -> None:
    cv2.imwrite(path, cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_PNG_COMPRESSION, 9])


def browse(cfg: Config, out_dir: str, max_samples: int = 8,
           split: str = 'train', seed: int = 0) -> List[str]:
    """Paints the first ``max_samples`` pipeline outputs of ``split``.

    Writes ``<out_dir>/<image stem>.png`` for each sample and, for more than
    one, :data:`OVERVIEW` tiling them all.

    Args:
        cfg: A detection (mmdet) or segmentation (mmseg) config.
        out_dir: Folder for the PNGs, made if absent.
        max_samples: Samples to paint (fewer if the dataset is smaller).
            Defaults to 8.
        split: Whose dataloader and pipeline: ``train``, ``val`` or
            ``test``. Defaults to ``train``.
        seed: Seed of the random augmentations. Defaults to 0.

    Returns:
        The paths written, the samples' first and the overview last.

    Raises:
        UserError: when the dataset is empty.
    """
    set_random_seed(seed)
    dataset = build_dataset(cfg, split)
    if len(dataset) == 0:
        raise UserError(f'{split}_dataloader.dataset of {cfg.filename} holds '
                        f'no samples')
    visualizer = build_visualizer(cfg, dataset)
    paint = PAINTERS[cfg.default_scope]
    samples = [dataset[i] for i in range(min(max_samples, len(dataset)))]
    names = [sample['data_samples'].img_path for sample in samples]
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    written, painted = [], []
    for sample, path in zip(samples, painted_paths(out_dir, names)):
        # Pipelines load images BGR, as OpenCV does; the visualizers draw RGB.
        image = sample['inputs'].permute(1, 2, 0).numpy()[..., ::-1]
        painted.append(paint(visualizer, np.ascontiguousarray(image),
                             sample['data_samples'].numpy()))
        _write_rgb(path, painted[-1])
        written.append(path)
    if len(painted) > 1:
        written.append(osp.join(out_dir, OVERVIEW))
        _write_rgb(written[-1], overview(painted))
    return written
