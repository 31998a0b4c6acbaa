# Runtime of the segmentation configs (mmseg scope).
default_scope = 'mmseg'
env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='SegLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
# Multi-scale + flip testing (tools/test.py --tta): the dataset _base_ sets
# tta_pipeline; SegTTAModel averages the softmax of every augmented view.
tta_model = dict(type='SegTTAModel')
