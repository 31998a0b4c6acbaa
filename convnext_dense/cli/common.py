"""What the tools share: running a tool's main with one-line errors, config
loading, work dir and launcher settings, and dataset checks."""
import ast
import os
import os.path as osp
import sys
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Tuple

from mmengine.config import Config
from mmengine.runner import Runner

from convnext_dense.cli.config_checks import (check_custom_imports,
                                              check_model_config)
from convnext_dense.data.checks import check_dataset_contents, guard_loading
from convnext_dense.data.wrappers import split_datasets
from convnext_dense.engine.hooks import end_progress_line
from convnext_dense.errors import (ConfigError, ConvNeXtDenseError,
                                   InputNotFoundError, UserError)
from convnext_dense.path_checks import check_input_file

from .cfg_options import check_cfg_options
from .distributed import adapt_to_cpu, exit_with_launcher

#: Scopes the tools serve, and what their configs are for.
SUPPORTED_SCOPES = {'mmdet': 'detection', 'mmseg': 'segmentation'}


def run_cli(main: Callable[[], None]) -> None:
    """Runs a tool's ``main``, turning the toolkit's errors into one line.

    A :class:`~convnext_dense.errors.ConvNeXtDenseError` (bad input) is
    printed as ``error: MESSAGE`` and exits with code 2; any other exception
    is a bug and keeps its traceback.
    """
    try:
        main()
    except ConvNeXtDenseError as error:
        end_progress_line()
        print(f'error: {one_line(error)}', file=sys.stderr)
        sys.exit(2)


def one_line(error: ConvNeXtDenseError) -> str:
    """The error's message; for one re-raised from a dataloader worker
    (torch puts the worker's traceback into the message), the worker's."""
    message = str(error)
    if 'Original Traceback' not in message:
        return message
    last = message.strip().splitlines()[-1]
    name = f'{type(error).__module__}.{type(error).__qualname__}: '
    return last[len(name):] if last.startswith(name) else last


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Reads a config, applies ``--cfg-options`` and checks its scope.

    Raises:
        InputNotFoundError: when ``path``, or a ``_base_`` file it names,
            does not exist.
        UnreadableFileError: when ``path`` is a folder or cannot be read.
        ConfigError: when the config (or a ``_base_``) has a syntax error or
            fails when run (:func:`read_config`); when an option of
            ``cfg_options`` does not fit it
            (:func:`convnext_dense.cli.cfg_options.check_cfg_options`); when
            the model, its backbone or neck has a type that is not
            registered, or an argument its class does not take
            (:func:`convnext_dense.cli.config_checks.check_model_config`).
        UserError: when the config's ``default_scope`` is not supported.
    """
    cfg = read_config(path)
    if cfg_options:
        check_cfg_options(cfg, cfg_options)
        cfg.merge_from_dict(cfg_options)
    scope = cfg.get('default_scope')
    if scope not in SUPPORTED_SCOPES:
        raise UserError(
            f'config {path} has default_scope={scope!r}; these tools run '
            f'configs with default_scope in {sorted(SUPPORTED_SCOPES)}')
    check_model_config(cfg, path)
    check_custom_imports(cfg, path)
    return cfg


def _syntax_error(path: str) -> Optional[SyntaxError]:
    """The first syntax error in config ``path`` or the ``_base_`` files it
    names (recursively), with its file name; None if there is none."""
    try:
        text = Path(path).read_text()
        tree = ast.parse(text, filename=path)
    except SyntaxError as error:
        return error
    except (OSError, UnicodeDecodeError):
        return None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                getattr(target, 'id', None) == '_base_'
                for target in node.targets):
            try:
                bases = ast.literal_eval(node.value)
            except ValueError:
                return None
            for base in [bases] if isinstance(bases, str) else bases:
                found = (_syntax_error(osp.join(osp.dirname(path), base))
                         if isinstance(base, str) else None)
                if found is not None:
                    return found
    return None


def read_config(path: str) -> Config:
    """``Config.fromfile`` with one-line errors for what users get wrong.

    Raises:
        InputNotFoundError: ``path`` or a ``_base_`` file does not exist.
        UnreadableFileError: ``path`` is a folder or cannot be read.
        ConfigError: a syntax error (naming the file, the line and the
            parser's message), or an error raised while the config runs.
    """
    check_input_file(path, 'config')
    try:
        return Config.fromfile(path)
    except FileNotFoundError as error:  # a missing _base_ file
        raise InputNotFoundError(
            f'config {path}: its _base_ file {error.filename} does not '
            'exist: fix the _base_ path (relative to the file naming it)'
        ) from None
    except SyntaxError:
        found = _syntax_error(path)
        if found is None:
            raise
        raise ConfigError(
            f'config {path}: syntax error in {found.filename}, line '
            f'{found.lineno}: {found.msg}: fix that line') from None
    except ConvNeXtDenseError:
        raise
    except Exception as error:  # the config is Python code the user wrote
        raise ConfigError(
            f'config {path} failed when read: {type(error).__name__}: '
            f'{error}: fix the config') from None


def set_work_dir(cfg: Config, work_dir: Optional[str], config_path: str) -> None:
    """``--work-dir``, else the config's, else ``work_dirs/<config name>``."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', Path(config_path).stem)


def set_launcher(cfg: Config, launcher: str, local_rank: int) -> List[str]:
    """Sets the launcher; a distributed launch without CUDA runs on gloo
    (:func:`convnext_dense.cli.distributed.adapt_to_cpu`), and a worker
    started by torchrun stops when torchrun is gone
    (:func:`convnext_dense.cli.distributed.exit_with_launcher`).

    Returns:
        What was changed for a run without CUDA, to log with
        :func:`log_notes` once the Runner (and its logger) exists.
    """
    cfg.launcher = launcher
    os.environ.setdefault('LOCAL_RANK', str(local_rank))
    if launcher != 'none' and os.environ.get('TORCHELASTIC_RUN_ID'):
        exit_with_launcher()
    return adapt_to_cpu(cfg)


def log_notes(runner: Runner, notes: List[str]) -> None:
    """Logs lines decided before the Runner existed, into its log."""
    for note in notes:
        runner.logger.info(note)


def _dataset_paths(dataset: dict) -> Iterator[Tuple[str, str]]:
    data_root = dataset.get('data_root') or ''
    if data_root:
        yield 'data_root', data_root
    if dataset.get('ann_file'):
        yield 'ann_file', osp.join(data_root, dataset['ann_file'])
    for key, prefix in (dataset.get('data_prefix') or {}).items():
        if prefix:
            yield f'data_prefix.{key}', osp.join(data_root, prefix)


def check_datasets(cfg: Config, splits: List[str]) -> None:
    """Fails with one line naming the first missing dataset path of ``splits``,
    then checks their contents and guards their loading.

    The contents: :func:`convnext_dense.data.checks.check_dataset_contents`
    (COCO annotation files, segmentation folders). The loading:
    :func:`convnext_dense.data.checks.guard_loading` swaps the pipelines'
    image and annotation loaders for ones that report unreadable files and
    bad label maps in one line (``cfg`` is changed).

    Raises:
        InputNotFoundError: naming the path, its config key and the config's
            ``data_hint``.
        DatasetError: see :mod:`convnext_dense.data.checks`.
    """
    for _, dataset, where in split_datasets(cfg, splits):
        for key, path in _dataset_paths(dataset):
            if not osp.exists(path):
                hint = cfg.get('data_hint', 'put the dataset there')
                raise InputNotFoundError(
                    f'{dataset.get("type", "dataset")} data missing: '
                    f'{path} ({where}.{key}) does not exist; {hint}, or '
                    f'point the config elsewhere with --cfg-options '
                    f'{where}.data_root=PATH')
    check_dataset_contents(cfg, splits)
    guard_loading(cfg, splits)
