"""Detection inference for ``tools/infer.py``: painted PNGs and printed boxes.

One PNG per image under ``out_dir`` with the predicted boxes, class names,
scores and instance masks drawn by mmdet's ``DetLocalVisualizer``, and one
printed line per detection above the score threshold.
"""
import copy
from pathlib import Path
from typing import List, Sequence

import mmcv
from mmdet.apis import inference_detector, init_detector
from mmdet.structures import DetDataSample
from mmdet.visualization import DetLocalVisualizer
from mmengine.config import Config
from mmengine.dataset import Compose

from convnext_dense.data.wrappers import leaf_datasets
from convnext_dense.inference.outputs import painted_paths

# Transforms that read annotations, which plain images do not have.
_ANNOTATION_TRANSFORMS = ('LoadAnnotations', 'mmdet.LoadAnnotations')


def inference_pipeline(cfg: Config) -> Compose:
    """The config's test pipeline without its annotation loading.

    The pipeline is the first test dataset's, inside any dataset wrappers.
    """
    dataset, _ = next(leaf_datasets(cfg.test_dataloader.dataset))
    steps = [
        step for step in copy.deepcopy(dataset.pipeline)
        if step['type'] not in _ANNOTATION_TRANSFORMS
    ]
    return Compose(steps)


def detection_lines(image_path: str, result: DetDataSample,
                    classes: Sequence[str], score_thr: float) -> List[str]:
    """One line per detection with score >= ``score_thr``, best first."""
    instances = result.pred_instances
    keep = instances.scores >= score_thr
    scores = instances.scores[keep].tolist()
    labels = instances.labels[keep].tolist()
    boxes = instances.bboxes[keep].tolist()
    has_masks = 'masks' in instances
    areas = (instances.masks[keep].flatten(1).sum(1).tolist()
             if has_masks else [None] * len(scores))
    lines = [f'{image_path}: {len(scores)} detections with score >= '
             f'{score_thr:g}']
    for score, label, box, area in sorted(
            zip(scores, labels, boxes, areas), key=lambda d: -d[0]):
        name = classes[label] if label < len(classes) else str(label)
        box_text = ', '.join(f'{v:.1f}' for v in box)
        mask_text = f' mask {int(area)} px' if area is not None else ''
        lines.append(f'  {name:<12} {score:.3f}  box [{box_text}]{mask_text}')
    return lines


def run_inference(cfg: Config,
                  checkpoint: str,
                  images: Sequence[str],
                  out_dir: str,
                  device: str = 'cpu',
                  score_thr: float = 0.3) -> List[DetDataSample]:
    """Predicts on each image, writes a painted PNG and prints the detections.

    Args:
        cfg: A detection config (``default_scope='mmdet'``).
        checkpoint: A trained checkpoint of that config.
        images: Image files.
        out_dir: Existing folder for the painted PNGs.
        device: Torch device, e.g. ``'cpu'`` or ``'cuda:0'``.
        score_thr: Lowest score drawn and printed.

    Returns:
        list: The prediction of each image.
    """
    # init_detector drops the backbone's pretrained init_cfg (the checkpoint
    # holds every weight) and turns SyncBN into BatchNorm.
    model = init_detector(copy.deepcopy(cfg), checkpoint, device=device)
    pipeline = inference_pipeline(model.cfg)
    visualizer = DetLocalVisualizer.get_instance(
        'convnext_dense.inference.detection')
    visualizer.dataset_meta = model.dataset_meta
    results = []
    for image_path, out_file in zip(images, painted_paths(out_dir, images)):
        result = inference_detector(model, image_path, pipeline)
        paint_and_print(visualizer, image_path, result, out_file, score_thr)
        results.append(result)
    return results


def paint_and_print(visualizer: DetLocalVisualizer, image_path: str,
                    result: DetDataSample, out_file: str,
                    score_thr: float) -> None:
    """Writes the painted PNG of one prediction and prints its lines."""
    visualizer.add_datasample(
        Path(image_path).name,
        mmcv.imread(image_path, channel_order='rgb'),
        data_sample=result,
        draw_gt=False,
        pred_score_thr=score_thr,
        out_file=out_file)
    classes = visualizer.dataset_meta.get('classes', ())
    print('\n'.join(detection_lines(image_path, result, classes, score_thr)))
    print(f'  painted: {out_file}')
