# Everything a full Cascade Mask R-CNN config takes but its model
# (models/cascade_mask_rcnn_convnext_fpn.py, listed next to it): COCO with the
# paper's augmentation, the 3x schedule at the Cascade configs' lr 2e-4 and
# layer-wise decay rate 0.7 (num_layers 6: ConvNeXt-T's), the detection
# runtime.
_base_ = [
    '../datasets/coco_instance.py', '../schedules/schedule_3x.py',
    '../default_runtime_det.py'
]
optim_wrapper = dict(optimizer=dict(lr=2e-4), paramwise_cfg=dict(decay_rate=0.7))
