"""``tools/test.py``: evaluate a checkpoint (COCO box/mask AP, ADE20K mIoU)."""
import argparse
import json
import numbers
import os.path as osp
from copy import deepcopy
from typing import Dict, List, Optional

from mmengine.config import Config, ConfigDict
from mmengine.dist import is_main_process
from mmengine.runner import Runner

from convnext_dense.checkpoint.files import check_checkpoint_file
from convnext_dense.data.wrappers import leaf_datasets
from convnext_dense.errors import InputNotFoundError, UserError
from convnext_dense.patches.checkpoint_fit import exact_fit
from convnext_dense.path_checks import check_output_dir, check_output_file

from .cfg_options import CfgOptionsAction
from .common import (check_datasets, load_config, log_notes, run_cli,
                     set_launcher, set_work_dir)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Test (and evaluate) a ConvNeXt detector or segmentor.')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where the metrics JSON and logs '
                        'go (default: work_dirs/<config name>)')
    parser.add_argument(
        '--out', help='detection: dump predictions to this .pkl file; '
        'segmentation: save predicted label maps into this directory')
    parser.add_argument('--show', action='store_true',
                        help='show predictions in a window')
    parser.add_argument('--show-dir',
                        help='save painted predictions under this directory')
    parser.add_argument('--wait-time', type=float, default=2,
                        help='seconds each image is shown with --show')
    parser.add_argument('--tta', action='store_true',
                        help='test-time augmentation (segmentation: '
                        'multi-scale + flip; box-only detection: flip)')
    parser.add_argument(
        '--classwise', action='store_true',
        help='detection: per-class box and mask AP, as tables in the log and '
        'as coco/per_class in the metrics JSON (segmentation always reports '
        'per-class IoU and Acc)')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config entries, e.g. key=value')
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm', 'mpi'],
                        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser.parse_args(argv)


def enable_visualization(cfg: Config, show: bool, show_dir: Optional[str],
                         wait_time: float) -> None:
    hook = cfg.default_hooks.get('visualization')
    if hook is None:
        raise UserError(
            f'{cfg.filename} has no default_hooks.visualization: add '
            f"visualization=dict(type='{'Det' if cfg.default_scope == 'mmdet' else 'Seg'}VisualizationHook') "
            'to use --show or --show-dir')
    hook.draw = True
    if show:
        hook.show, hook.wait_time = True, wait_time
    if show_dir:
        if cfg.default_scope == 'mmdet':
            hook.test_out_dir = show_dir
        else:
            # mmseg's hook paints one test image in every `interval` (50).
            hook.interval = 1
            cfg.visualizer.save_dir = show_dir


def _test_datasets(cfg: Config) -> List[ConfigDict]:
    """The test dataset configs, inside any dataset wrappers."""
    datasets = leaf_datasets(cfg.test_dataloader.dataset)
    return [dataset for dataset, _ in datasets]


def _default_detection_tta(cfg: Config) -> None:
    """mmdet's default: horizontal-flip TTA merged by NMS."""
    cfg.setdefault('tta_model', dict(
        type='DetTTAModel',
        tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.5),
                     max_per_img=100)))
    if 'tta_pipeline' not in cfg:
        pipeline = deepcopy(_test_datasets(cfg)[0].pipeline)
        pipeline[-1] = dict(
            type='TestTimeAug',
            transforms=[[dict(type='RandomFlip', prob=1.),
                         dict(type='RandomFlip', prob=0.)],
                        [dict(type='PackDetInputs',
                              meta_keys=('img_id', 'img_path', 'ori_shape',
                                         'img_shape', 'scale_factor', 'flip',
                                         'flip_direction'))]])
        cfg.tta_pipeline = pipeline


def enable_tta(cfg: Config) -> None:
    if cfg.default_scope == 'mmdet':
        if cfg.model.get('roi_head', {}).get('mask_head'):
            raise UserError(
                f'--tta: {cfg.filename} predicts instance masks, and '
                "mmdet's DetTTAModel merges boxes only: test it without "
                '--tta')
        _default_detection_tta(cfg)
    elif 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
        raise UserError(f'{cfg.filename} defines no tta_model/tta_pipeline '
                        f'for --tta')
    for dataset in _test_datasets(cfg):
        dataset.pipeline = cfg.tta_pipeline
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)


def check_out(cfg: Config, out: str) -> None:
    """Checks ``--out`` (a .pkl file for detection, a folder of label maps
    for segmentation) and points the segmentation evaluator there."""
    if cfg.default_scope == 'mmdet':
        if not out.endswith(('.pkl', '.pickle')):
            raise UserError(f'--out {out}: detection results are dumped to a '
                            f'.pkl file')
        check_output_file(out, '--out')
    else:
        check_output_dir(out, '--out')
        cfg.test_evaluator.output_dir = out
        cfg.test_evaluator.keep_results = True


def dump_detections(runner: Runner, out: str) -> None:
    from mmdet.evaluation import DumpDetResults
    runner.test_evaluator.metrics.append(DumpDetResults(out_file_path=out))


def write_metrics(metrics: Dict, runner: Runner) -> str:
    """Writes the metrics as JSON into the work dir; returns its path."""
    path = osp.join(runner.work_dir, f'metrics_{runner.timestamp}.json')
    with open(path, 'w') as f:
        # numbers.Real covers numpy scalars (mmseg returns np.float32).
        json.dump({k: (float(v) if isinstance(v, numbers.Real) else v)
                   for k, v in metrics.items()}, f, indent=2, default=str)
    return path


def main(argv: Optional[List[str]] = None) -> Dict:
    args = parse_args(argv)
    check_output_dir(args.work_dir, '--work-dir')
    check_output_dir(args.show_dir, '--show-dir')
    cfg = load_config(args.config, args.cfg_options)
    notes = set_launcher(cfg, args.launcher, args.local_rank)
    set_work_dir(cfg, args.work_dir, args.config)
    if not osp.exists(args.checkpoint):
        raise InputNotFoundError(
            f'checkpoint {args.checkpoint} does not exist')
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        enable_visualization(cfg, args.show, args.show_dir, args.wait_time)
    if args.tta:
        enable_tta(cfg)
    if args.out:
        check_out(cfg, args.out)
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
        dict(type='convnext_dense.TestProgressBarHook')
    ]
    check_datasets(cfg, ['test'])
    check_checkpoint_file(args.checkpoint)
    runner = Runner.from_cfg(cfg)
    log_notes(runner, notes)
    if args.out and cfg.default_scope == 'mmdet':
        dump_detections(runner, args.out)
    if args.classwise and cfg.default_scope == 'mmdet':
        from convnext_dense.evaluation.classwise import enable_classwise
        enable_classwise(runner.test_evaluator, args.config)
    with exact_fit():  # weights that start fresh would test nothing
        metrics = runner.test()
    if is_main_process():  # every process has the metrics; one writes them
        path = write_metrics(metrics, runner)
        runner.logger.info(f'metrics written to {path}')
    return metrics


def cli() -> None:
    run_cli(main)
