"""Helpers shared by the tests (re-exported by conftest.py)."""
import contextlib
import functools
import importlib
import io
import json
import os
import random
import runpy
import signal
import socket
import subprocess
import sys
import threading
import types
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import (Any, Callable, Dict, Iterator, List, Optional, Sequence,
                    Set, Tuple, Type, Union)

import cv2
import numpy as np
import torch
import torch.multiprocessing as mp
from mmengine.logging import MMLogger
from mmengine.utils import ManagerMixin

REPO = Path(__file__).resolve().parents[1]
TOOLS = REPO / 'tools'
CONFIGS = REPO / 'configs'
DATA = REPO / 'tests' / 'data'


def data_path(name: str) -> Path:
    """A reference file kept in ``tests/data/``."""
    path = DATA / name
    assert path.is_file(), f'{path} is missing from the repository'
    return path


@functools.lru_cache(maxsize=None)
def mmcv_op_references() -> Dict[str, List[dict]]:
    """What mmcv's compiled NMS and RoIAlign computed on the op tests' cases
    (``tests/data/make_mmcv_op_references.py`` records them)."""
    return torch.load(data_path('mmcv_op_references.pt'), weights_only=True)


def tool_env(**overrides: str) -> Dict[str, str]:
    """The environment the tools run in during tests.

    OpenMP's default busy-waiting makes every op of a multi-threaded torch
    many times slower when another process shares the cores.
    """
    env = dict(os.environ)
    env.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
    env.update(overrides)
    return env


def free_port() -> int:
    """A TCP port nobody listens on now (for a process group's rendezvous)."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (not gone, not a zombie)."""
    try:
        stat = Path(f'/proc/{pid}/stat').read_text()
    except OSError:
        return False
    # "PID (NAME) STATE ...": NAME may hold spaces and parentheses.
    return stat.rpartition(')')[2].split()[0] != 'Z'


def resolve_symbol(symbol: str) -> Any:
    """What an upstream symbol is now: ``module:attribute.path`` (as the
    patch registry names them) or a module's name."""
    module, _, attribute = symbol.partition(':')
    value = importlib.import_module(module)
    for name in filter(None, attribute.split('.')):
        value = getattr(value, name)
    return value


def code_files(value: Any) -> Set[str]:
    """The files whose code ``value`` runs: a module's file, a function's or
    method's source file, those of every value of a dict."""
    if isinstance(value, dict):
        return set().union(*map(code_files, value.values()))
    if isinstance(value, types.ModuleType):
        return {value.__file__}
    function = getattr(value, '__func__', value)
    return {function.__code__.co_filename}


def run_tool(tool: str, *args: Union[str, Path], cwd: Path = REPO,
             timeout: float = 900, **env: str) -> subprocess.CompletedProcess:
    """Runs ``tools/<tool>`` with the test's interpreter, as a user would."""
    return subprocess.run(
        [sys.executable, str(TOOLS / tool)] + [str(a) for a in args],
        cwd=cwd, env=tool_env(**env), capture_output=True, text=True,
        timeout=timeout)


#: Process-wide settings a tool run may change (mmengine's Runner seeds the
#: random generators, sets the start method of worker processes and OpenCV's
#: threads), as ``(get, set)`` pairs.
_SETTINGS: Tuple[Tuple[Callable[[], Any], Callable[[Any], None]], ...] = (
    (os.getcwd, os.chdir),
    (lambda: list(sys.argv), lambda argv: setattr(sys, 'argv', argv)),
    (lambda: list(sys.path), lambda path: sys.path.__setitem__(
        slice(None), path)),
    (torch.get_num_threads, torch.set_num_threads),
    (torch.get_rng_state, torch.set_rng_state),
    (np.random.get_state, np.random.set_state),
    (random.getstate, random.setstate),
    (cv2.getNumThreads, cv2.setNumThreads),
    (lambda: mp.get_start_method(allow_none=True),
     lambda method: mp.set_start_method(method, force=True)),
    (lambda: torch.backends.cudnn.benchmark,
     lambda value: setattr(torch.backends.cudnn, 'benchmark', value)),
)

#: The warning filters of a Python started without -W or PYTHONWARNINGS, as
#: ``(action, category, module)``, first match first.
_FRESH_FILTERS: Tuple[Tuple[str, Type[Warning], str], ...] = (
    ('default', DeprecationWarning, '__main__'),
    ('ignore', DeprecationWarning, ''),
    ('ignore', PendingDeprecationWarning, ''),
    ('ignore', ImportWarning, ''),
    ('ignore', ResourceWarning, ''),
)


@contextlib.contextmanager
def _settings_kept() -> Iterator[None]:
    """Puts the :data:`_SETTINGS` back as they were."""
    saved = [(set_, get()) for get, set_ in _SETTINGS]
    try:
        yield
    finally:
        for set_, value in saved:
            set_(value)


@contextlib.contextmanager
def _environment(overrides: Dict[str, str]) -> Iterator[None]:
    """``os.environ`` with ``overrides``; all of it put back afterwards
    (the tools set variables too, e.g. ``LOCAL_RANK``)."""
    saved = dict(os.environ)
    os.environ.update(overrides)
    try:
        yield
    finally:
        for key in set(os.environ) - set(saved):
            del os.environ[key]
        for key, value in saved.items():
            if os.environ.get(key) != value:
                os.environ[key] = value


def _manager_classes() -> List[type]:
    """mmengine's classes of global instances (``DefaultScope``,
    ``MMLogger``, ``MessageHub``, visualizers...): each keeps its own."""
    classes, pending = [], [ManagerMixin]
    while pending:
        cls = pending.pop()
        classes.append(cls)
        pending.extend(cls.__subclasses__())
    return classes


@contextlib.contextmanager
def _fresh_mmengine() -> Iterator[None]:
    """No global mmengine instance during the run, as in a fresh process;
    those from before are current again afterwards.

    A logger made before the run would write past the capture (its stream
    handler keeps the ``sys.stdout`` it was made under) and leave out the
    warnings it has printed once already. The run's own loggers are closed
    afterwards (the Runner's one holds its log file open).
    """
    saved = {cls: cls._instance_dict for cls in _manager_classes()}
    loggers = [(logger, logger.level, list(logger.handlers))
               for logger in MMLogger._instance_dict.values()]
    for cls in saved:
        cls._instance_dict = OrderedDict()
    try:
        yield
    finally:
        created = list(MMLogger._instance_dict.values())
        for cls, instances in saved.items():
            cls._instance_dict = instances
        for logger in created:
            for handler in logger.handlers:
                handler.close()
        for logger, level, handlers in loggers:
            logger.handlers[:] = handlers
            logger.setLevel(level)


def _print_warning(message: Union[Warning, str], category: Type[Warning],
                   filename: str, lineno: int, file: Optional[Any] = None,
                   line: Optional[str] = None) -> None:
    """``warnings.showwarning`` as it is outside pytest: onto stderr."""
    (file or sys.stderr).write(
        warnings.formatwarning(message, category, filename, lineno, line))


@contextlib.contextmanager
def _fresh_warnings() -> Iterator[None]:
    """The warning filters of a fresh process, warnings printed to stderr
    (not recorded by pytest); the test's filters put back afterwards."""
    with warnings.catch_warnings():
        warnings.resetwarnings()
        for action, category, module in _FRESH_FILTERS:
            warnings.filterwarnings(action, category=category, module=module,
                                    append=True)
        warnings.showwarning = _print_warning
        yield


@contextlib.contextmanager
def _deadline(seconds: float, argv: Sequence[str]) -> Iterator[None]:
    """Raises :class:`subprocess.TimeoutExpired` in the run after
    ``seconds``, where a timer signal can (the main thread, no timer set)."""
    if (not hasattr(signal, 'setitimer')
            or threading.current_thread() is not threading.main_thread()
            or signal.getitimer(signal.ITIMER_REAL)[0]):
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise subprocess.TimeoutExpired(list(argv), seconds)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _exit_status(code: Any) -> int:
    """The status a process ends with on ``sys.exit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f'{code}\n')  # as the interpreter does
    return 1


def _run_script(script: Path) -> int:
    """Runs ``script`` as ``__main__``; its exit status."""
    try:
        runpy.run_path(str(script), run_name='__main__')
    except SystemExit as exit_:
        return _exit_status(exit_.code)
    return 0


def run_tool_in_process(tool: str, *args: Union[str, Path], cwd: Path = REPO,
                        timeout: float = 900,
                        **env: str) -> subprocess.CompletedProcess:
    """Runs ``tools/<tool>`` in this process, as :func:`run_tool` does in a
    new one, without paying the imports again.

    The script itself runs (as ``__main__``, with ``sys.argv`` as it would
    see it): a shim calling ``cli()`` of its ``convnext_dense.cli`` module,
    or a tool of its own (``make_toy_data.py``). ``SystemExit`` becomes the
    return code (0 when the script returns); any other exception propagates
    with its traceback, as a bug in the tool should.

    Captured is what goes through ``sys.stdout`` and ``sys.stderr``: prints,
    warnings (filtered as in a fresh process) and mmengine's loggers (the
    run starts without any, as a fresh process does, so the ones it makes
    print into the capture). Not captured is what native code writes
    straight to file descriptors 1 and 2: the tests' checks are on Python's
    output (the one-line errors are ``print(..., file=sys.stderr)`` in
    ``convnext_dense.cli.common.run_cli``, the reports plain prints). What
    a fresh process does at start-up (the imports, their warnings, the
    environment read by native libraries, e.g. ``OMP_NUM_THREADS`` or
    ``PYTHONPATH``) is left to the subprocess tests.

    Put back afterwards: the working directory, ``sys.argv``, ``sys.path``,
    ``os.environ`` (``env`` applied for the run), mmengine's global
    instances (``DefaultScope``, ``MMLogger`` and their levels and handlers,
    ``MessageHub``, visualizers), warning filters, torch's thread count,
    the random generators, OpenCV's threads, the start method of worker
    processes.

    Args:
        tool: Path of the script under ``tools/`` (an absolute path runs
            that script).
        *args: Its command line arguments.
        cwd: Directory it runs in.
        timeout: Seconds after which :class:`subprocess.TimeoutExpired` is
            raised in the run (from the main thread only).
        **env: Environment variables set for the run.

    Returns:
        The run's command line (with this interpreter), exit status, stdout
        and stderr.
    """
    script = TOOLS / tool
    argv = [str(script)] + [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.ExitStack() as stack:
        stack.enter_context(_settings_kept())
        stack.enter_context(_environment(env))
        stack.enter_context(_fresh_mmengine())
        stack.enter_context(_fresh_warnings())
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(err))
        stack.enter_context(_deadline(timeout, argv))
        os.chdir(cwd)
        sys.argv = argv
        code = _run_script(script)
    return subprocess.CompletedProcess([sys.executable] + argv, code,
                                       out.getvalue(), err.getvalue())


def check(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    """Asserts a tool run succeeded, showing the end of its output if not."""
    assert done.returncode == 0, (
        f'{" ".join(map(str, done.args))} failed:\n{done.stdout[-3000:]}\n'
        f'{done.stderr[-3000:]}')
    return done


def error_lines(done: subprocess.CompletedProcess) -> List[str]:
    """The non-empty lines a failed tool printed."""
    return [line for line in (done.stdout + done.stderr).splitlines()
            if line.strip()]


def error_messages(done: subprocess.CompletedProcess) -> List[str]:
    """The ``error:`` lines a tool printed."""
    return [line for line in error_lines(done) if line.startswith('error:')]


def only_metrics_json(work_dir: Path) -> dict:
    """The one ``metrics_*.json`` tools/test.py wrote into ``work_dir``."""
    written = sorted(work_dir.glob('metrics_*.json'))
    assert len(written) == 1, written
    return json.loads(written[0].read_text())



def build_on_meta(cfg: Any) -> torch.nn.Module:
    """The model of a config (an mmengine ``Config``), built on the meta
    device: parameter names and shapes without weights."""
    from mmengine.registry import init_default_scope
    init_default_scope(cfg.default_scope)
    registry = __import__(f'{cfg.default_scope}.registry',
                          fromlist=['MODELS']).MODELS
    with torch.device('meta'):
        return registry.build(cfg.model)


def lr_decay_table(config: str) -> List[List[Any]]:
    """``[name, lr scale, weight decay]`` of every trainable parameter of a
    config's model, as the config's optimizer constructor groups them, in
    ``named_parameters`` order.

    Args:
        config: The config's path relative to ``configs/``.
    """
    from mmengine.config import Config
    from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS
    cfg = Config.fromfile(str(CONFIGS / config))
    model = build_on_meta(cfg)
    optim_cfg = cfg.optim_wrapper.copy()
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type=optim_cfg.pop('constructor'),
        paramwise_cfg=optim_cfg.pop('paramwise_cfg'),
        optim_wrapper_cfg=optim_cfg))
    groups: List[dict] = []
    constructor.add_params(groups, model)
    group_of = {id(param): group for group in groups
                for param in group['params']}
    return [[name, group_of[id(param)]['lr_scale'],
             group_of[id(param)]['weight_decay']]
            for name, param in model.named_parameters()
            if param.requires_grad]
