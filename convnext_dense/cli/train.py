"""``tools/train.py``: train a detector or segmentor config (mmdet/mmseg flags)."""
import argparse
from typing import List, Optional

from mmengine.config import Config
from mmengine.runner import Runner

from convnext_dense.checkpoint.files import check_checkpoint_file
from convnext_dense.engine.work_dir_lock import hold_work_dir
from convnext_dense.path_checks import check_output_dir

from .cfg_options import CfgOptionsAction
from .common import (check_datasets, load_config, log_notes, run_cli,
                     set_launcher, set_work_dir)
from .resume import latest_checkpoint
from .tensorboard import enable_tensorboard

#: The hook that stops training at a NaN or infinite loss (added by default).
NAN_GUARD = 'convnext_dense.NonFiniteLossHook'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Train a ConvNeXt detector (mmdet config) or segmentor '
        '(mmseg config).')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='where logs and checkpoints go '
                        '(default: work_dirs/<config name>)')
    parser.add_argument('--amp', action='store_true',
                        help='mixed-precision training (fp32 without CUDA)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by the actual total batch size')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from CHECKPOINT, or without a value from the latest '
        'complete checkpoint in the work dir')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config entries, e.g. key=value '
                        'model.backbone.init_cfg.checkpoint=PATH')
    parser.add_argument(
        '--tensorboard', action='store_true',
        help='also log to TensorBoard (events beside scalars.json in '
        "<work_dir>/<timestamp>/vis_data/; pip install 'convnext-dense"
        "[tensorboard]')")
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm', 'mpi'],
                        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser.parse_args(argv)


def add_nan_guard(cfg: Config) -> None:
    """Adds :class:`~convnext_dense.engine.NonFiniteLossHook` to the
    config's ``custom_hooks`` unless it lists it already."""
    hooks = list(cfg.get('custom_hooks', []))
    if not any(hook.get('type') in (NAN_GUARD, 'NonFiniteLossHook')
               for hook in hooks):
        hooks.append(dict(type=NAN_GUARD))
    cfg.custom_hooks = hooks


def resume_latest(cfg: Config) -> List[str]:
    """``--resume`` without a path: resume from the latest complete
    checkpoint in the work dir, or start afresh if there is none.

    Returns:
        The lines to log about the choice.
    """
    path, notes = latest_checkpoint(cfg.work_dir)
    if path is None:
        cfg.resume, cfg.load_from = False, None
        return notes + [f'--resume: no checkpoint in {cfg.work_dir}; '
                        'training from the start']
    cfg.resume, cfg.load_from = True, path
    return notes + [f'--resume: resuming from {path}']


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    check_output_dir(args.work_dir, '--work-dir')
    if args.resume not in (None, 'auto'):
        check_checkpoint_file(args.resume)
    cfg = load_config(args.config, args.cfg_options)
    notes = set_launcher(cfg, args.launcher, args.local_rank)
    set_work_dir(cfg, args.work_dir, args.config)
    add_nan_guard(cfg)
    if args.tensorboard:
        enable_tensorboard(cfg)
    # A missing dataset is the one line the user sees, before any warning.
    check_datasets(cfg, ['train', 'val'] if cfg.get('val_cfg') else ['train'])
    if args.amp:
        # Without CUDA, the Runner trains in fp32 with one warning
        # (convnext_dense.patches.amp_fallback).
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.auto_scale_lr:
        cfg.setdefault('auto_scale_lr', {})['enable'] = True
    with hold_work_dir(cfg.work_dir):
        if args.resume == 'auto':
            notes += resume_latest(cfg)
        elif args.resume is not None:
            cfg.resume, cfg.load_from = True, args.resume
        runner = Runner.from_cfg(cfg)
        log_notes(runner, notes)
        runner.train()


def cli() -> None:
    run_cli(main)
