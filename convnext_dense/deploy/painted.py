"""Detections of an exported detector, painted as ``tools/infer.py``
paints the PyTorch model's (``tools/infer.py --onnx``)."""
from typing import List, Sequence

import torch
from mmdet.structures import DetDataSample
from mmdet.visualization import DetLocalVisualizer
from mmengine.structures import InstanceData

from convnext_dense.deploy import runtime
from convnext_dense.errors import UserError
from convnext_dense.inference.detection import paint_and_print
from convnext_dense.inference.outputs import painted_paths


def as_data_sample(prediction) -> DetDataSample:
    """A runtime :class:`~convnext_dense.deploy.runtime.Prediction` as the
    ``DetDataSample`` mmdet's inference returns."""
    instances = InstanceData(
        bboxes=torch.from_numpy(prediction.bboxes),
        scores=torch.from_numpy(prediction.scores),
        labels=torch.from_numpy(prediction.labels),
        masks=torch.from_numpy(prediction.masks))
    return DetDataSample(pred_instances=instances)


def run_onnx_inference(onnx_file: str, images: Sequence[str], out_dir: str,
                       score_thr: float = 0.3) -> List[DetDataSample]:
    """:func:`~convnext_dense.inference.detection.run_inference` with a
    detector exported by ``tools/export_onnx.py``, run by
    :mod:`convnext_dense.deploy.runtime`.

    Raises:
        UserError: for a file that is not such an export, or an image the
            runtime cannot read.
    """
    try:
        detector = runtime.Detector(onnx_file)
        predictions = [(path, detector.predict(path)) for path in images]
    except runtime.DeploymentError as error:
        raise UserError(str(error)) from None
    visualizer = DetLocalVisualizer.get_instance(
        'convnext_dense.inference.detection.onnx')
    visualizer.dataset_meta = dict(
        classes=detector.classes,
        palette=[tuple(c) for c in detector.palette])
    results = []
    for (image_path, prediction), out_file in zip(
            predictions, painted_paths(out_dir, images)):
        results.append(as_data_sample(prediction))
        paint_and_print(visualizer, image_path, results[-1], out_file,
                        score_thr)
    return results
