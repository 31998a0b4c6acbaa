"""What tools/train.py and tools/test.py share: config loading, user errors,
dataset checks and the CPU fallback for AMP configs."""
import os
import os.path as osp
import sys
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Tuple

import torch
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log

from convnext_dense.checkpoint import (CheckpointFormatError,
                                       UnsafeCheckpointError)
from convnext_dense.errors import ConfigError

#: Scopes the tools serve, and what their configs are for.
SUPPORTED_SCOPES = {'mmdet': 'detection', 'mmseg': 'segmentation'}


class UserError(Exception):
    """Bad input from the user: reported as one line, without a traceback."""


USER_ERRORS: Tuple[type, ...] = (UserError, ConfigError, FileNotFoundError,
                                 CheckpointFormatError, UnsafeCheckpointError)


def run_cli(main: Callable[[], None]) -> None:
    """Runs a tool's ``main``, turning user errors into one line and exit code 2."""
    try:
        main()
    except USER_ERRORS as error:
        print(f'error: {error}', file=sys.stderr)
        sys.exit(2)


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Reads a config, applies ``--cfg-options`` and checks its scope."""
    if not osp.isfile(path):
        raise UserError(f'config {path} does not exist')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    scope = cfg.get('default_scope')
    if scope not in SUPPORTED_SCOPES:
        raise UserError(
            f'config {path} has default_scope={scope!r}; these tools run '
            f'configs with default_scope in {sorted(SUPPORTED_SCOPES)}')
    return cfg


def set_work_dir(cfg: Config, work_dir: Optional[str], config_path: str) -> None:
    """``--work-dir``, else the config's, else ``work_dirs/<config name>``."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', Path(config_path).stem)


def set_launcher(cfg: Config, launcher: str, local_rank: int) -> None:
    cfg.launcher = launcher
    os.environ.setdefault('LOCAL_RANK', str(local_rank))


def fall_back_to_fp32_without_cuda(cfg: Config) -> None:
    """An AMP config on a machine without CUDA trains in fp32, with one warning.

    mmengine's AmpOptimWrapper asserts a CUDA (or NPU/MLU) device.
    """
    optim_wrapper = cfg.get('optim_wrapper')
    if (not optim_wrapper or optim_wrapper.get('type') != 'AmpOptimWrapper'
            or torch.cuda.is_available()):
        return
    optim_wrapper.type = 'OptimWrapper'
    for amp_only in ('loss_scale', 'dtype', 'use_fsdp'):
        optim_wrapper.pop(amp_only, None)
    print_log(
        'the config asks for mixed precision (AmpOptimWrapper) but CUDA is '
        'not available: training in fp32 instead', logger='current',
        level=30)


def _dataset_cfgs(dataset: ConfigDict, where: str
                  ) -> Iterator[Tuple[ConfigDict, str]]:
    """Yields leaf dataset configs inside wrappers (Repeat/Concat/...)."""
    if 'dataset' in dataset:
        yield from _dataset_cfgs(dataset['dataset'], f'{where}.dataset')
    elif 'datasets' in dataset:
        for i, inner in enumerate(dataset['datasets']):
            yield from _dataset_cfgs(inner, f'{where}.datasets[{i}]')
    else:
        yield dataset, where


def _dataset_paths(dataset: ConfigDict) -> Iterator[Tuple[str, str]]:
    data_root = dataset.get('data_root') or ''
    if data_root:
        yield 'data_root', data_root
    if dataset.get('ann_file'):
        yield 'ann_file', osp.join(data_root, dataset['ann_file'])
    for key, prefix in (dataset.get('data_prefix') or {}).items():
        if prefix:
            yield f'data_prefix.{key}', osp.join(data_root, prefix)


def check_datasets(cfg: Config, splits: List[str]) -> None:
    """Fails with one line naming the first missing dataset path of ``splits``."""
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if not loader or 'dataset' not in loader:
            continue
        for dataset, where in _dataset_cfgs(loader['dataset'],
                                            f'{split}_dataloader.dataset'):
            for key, path in _dataset_paths(dataset):
                if not osp.exists(path):
                    hint = cfg.get('data_hint', 'put the dataset there')
                    raise UserError(
                        f'{dataset.get("type", "dataset")} data missing: '
                        f'{path} ({where}.{key}) does not exist; {hint}, or '
                        f'point the config elsewhere with --cfg-options '
                        f'{where}.data_root=PATH')
