"""Segmentation inference for ``tools/infer.py``: painted PNGs with a legend.

Each image is segmented with mmseg's ``init_model``/``inference_model``; the
prediction is colour-blended onto the image by mmseg's ``SegLocalVisualizer``
and a legend of the classes present (colour, name, pixel share) is added on
the right. A one-line summary of the class pixel shares is printed per image.
"""
import copy
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import cv2
import mmcv
import numpy as np
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm

from convnext_dense.inference.outputs import painted_paths

#: Legend entries: (class name, RGB colour, share of the image's pixels).
LegendEntry = Tuple[str, Sequence[int], float]


def load_segmentor(cfg: Config, checkpoint: str, device: str = 'cpu'):
    """A segmentor in eval mode with ``checkpoint``'s weights and class names.

    The backbone's pretrained ``init_cfg`` is dropped (the checkpoint holds
    every weight) and SyncBN is turned into BN, which one device needs.
    """
    from mmseg.apis import init_model
    model = init_model(copy.deepcopy(cfg), checkpoint, device='cpu')
    model = revert_sync_batchnorm(model)
    return model.to(device).eval()


def class_shares(label_map: np.ndarray, num_classes: int) -> Dict[int, float]:
    """``{label: share of pixels}`` of the labels present, largest first."""
    labels, counts = np.unique(label_map, return_counts=True)
    shares = {
        int(label): count / label_map.size
        for label, count in zip(labels, counts) if label < num_classes
    }
    return dict(sorted(shares.items(), key=lambda item: -item[1]))


def add_legend(image: np.ndarray, entries: List[LegendEntry]) -> np.ndarray:
    """Appends a white legend panel (swatch, name, share) right of ``image``.

    Args:
        image: RGB image, HxWx3 uint8.
        entries: The classes to list, in order.

    Returns:
        The image with the panel, at least as tall as the legend needs.
    """
    height = image.shape[0]
    row = max(16, min(32, height // 12))
    font_scale = row / 32
    texts = [f'{name} {share:.1%}' for name, _, share in entries]
    text_width = max(
        [cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)[0][0]
         for t in texts] or [0])
    panel = np.full((max(height, row * (len(entries) + 1)),
                     row * 2 + text_width + row // 2, 3), 255, np.uint8)
    for i, ((_, colour, _), text) in enumerate(zip(entries, texts)):
        top = row // 2 + i * row
        cv2.rectangle(panel, (row // 4, top), (row // 4 + row * 3 // 4,
                                              top + row * 3 // 4),
                      tuple(int(c) for c in colour), -1)
        cv2.putText(panel, text, (row + row // 4, top + row * 5 // 8),
                    cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), 1,
                    cv2.LINE_AA)
    canvas = np.full((panel.shape[0], image.shape[1], 3), 255, np.uint8)
    canvas[:height] = image
    return np.concatenate([canvas, panel], axis=1)


def run_inference(cfg: Config,
                  checkpoint: str,
                  images: Sequence[str],
                  out_dir: str,
                  device: str = 'cpu') -> List[Dict]:
    """Segments ``images`` and writes ``<out_dir>/<stem>.png`` for each.

    Args:
        cfg: The segmentor's config (mmseg scope).
        checkpoint: A checkpoint of that config (from ``tools/train.py``).
        images: Image files.
        out_dir: Existing folder for the painted PNGs.
        device: Torch device, e.g. ``'cpu'`` or ``'cuda:0'``.

    Returns:
        Per image: ``image``, ``out_file`` and ``shares`` (class name ->
        share of the image's pixels, largest first).
    """
    from mmseg.apis import inference_model
    from mmseg.visualization import SegLocalVisualizer

    model = load_segmentor(cfg, checkpoint, device)
    classes = list(model.dataset_meta['classes'])
    palette = list(model.dataset_meta['palette'])
    visualizer = SegLocalVisualizer(
        name=f'convnext_dense_infer_{id(model)}', alpha=0.5)
    visualizer.set_dataset_meta(classes=classes, palette=palette)
    summaries = []
    for path, out_file in zip(images, painted_paths(out_dir, images)):
        image = mmcv.imread(path, channel_order='rgb')
        result = inference_model(model, path)
        shares = class_shares(result.pred_sem_seg.data[0].cpu().numpy(),
                              len(classes))
        visualizer.add_datasample(
            Path(path).stem, image, result, draw_gt=False, with_labels=False)
        painted = add_legend(visualizer.get_image(),
                             [(classes[label], palette[label], share)
                              for label, share in shares.items()])
        cv2.imwrite(out_file, cv2.cvtColor(painted, cv2.COLOR_RGB2BGR))
        named = {classes[label]: share for label, share in shares.items()}
        print(f'{path} -> {out_file}: ' + ', '.join(
            f'{name} {share:.1%}' for name, share in named.items()))
        summaries.append(dict(image=path, out_file=out_file, shares=named))
    return summaries
