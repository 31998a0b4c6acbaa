"""Helpers shared by the tests (re-exported by conftest.py)."""
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Union

REPO = Path(__file__).resolve().parents[1]
TOOLS = REPO / 'tools'
CONFIGS = REPO / 'configs'
DATA = REPO / 'tests' / 'data'


def data_path(name: str) -> Path:
    """A reference file kept in ``tests/data/``."""
    path = DATA / name
    assert path.is_file(), f'{path} is missing from the repository'
    return path


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


def run_tool(tool: str, *args: Union[str, Path], cwd: Path = REPO,
             timeout: float = 900, **env: str) -> subprocess.CompletedProcess:
    """Runs ``tools/<tool>`` with the test's interpreter, as a user would."""
    return subprocess.run(
        [sys.executable, str(TOOLS / tool)] + [str(a) for a in args],
        cwd=cwd, env=tool_env(**env), capture_output=True, text=True,
        timeout=timeout)


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
