"""The kernels the toolkit's models need, in torch operations on any device.

* :mod:`.nms`: greedy NMS, exactly mmcv's;
* :mod:`.roi_align`: RoIAlign ('avg' mode) as separable matrix products,
  mmcv's to float rounding;
* :mod:`.mmcv_ext`: both in the form of mmcv's compiled ``mmcv._ext``, which
  they replace under mmcv-lite (:mod:`convnext_dense.patches.mmcv_ops`).
"""
