"""The in-process tool runner (helpers.run_tool_in_process): exit codes,
captured output, and the process state it puts back."""
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope

from helpers import run_tool_in_process

#: A tool that changes what a run may change, and reports what it saw.
MEDDLING_TOOL = """\
import os, sys, warnings
import torch
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope, init_default_scope

assert DefaultScope.get_current_instance() is None, 'not a fresh scope'
init_default_scope('mmseg')
log_file = os.path.join(os.getcwd(), 'tool.log')
MMLogger.get_instance('tool', log_file=log_file).info('logged by the tool')
print(os.getcwd(), os.environ['TOOL_ENV'], *sys.argv[1:])
warnings.warn('careful')
os.chdir('/')
os.environ['SET_BY_TOOL'] = '1'
sys.argv.append('--more')
sys.path.insert(0, 'nowhere')
warnings.simplefilter('error')
torch.set_num_threads(torch.get_num_threads() + 1)
torch.manual_seed(123)
"""


def write_tool(folder: Path, text: str) -> Path:
    """A script to run as a tool (an absolute path is run as it is)."""
    path = folder / 'tool.py'
    path.write_text(text)
    return path


def test_bad_input_is_exit_code_2_and_one_error_line(tmp_path):
    done = run_tool_in_process('train.py', tmp_path / 'none.py')
    assert done.returncode == 2
    assert done.stdout == ''
    assert done.stderr == f'error: config {tmp_path / "none.py"} does not ' \
        'exist\n'
    assert done.args[1:] == [str(Path('tools/train.py').resolve()),
                             str(tmp_path / 'none.py')]


@pytest.mark.parametrize('code, status, stderr', [
    ('print("done")', 0, ''),
    ('import sys; sys.exit()', 0, ''),
    ('import sys; sys.exit(3)', 3, ''),
    ('import sys; sys.exit("stopped")', 1, 'stopped\n'),
])
def test_exit_status(tmp_path, code, status, stderr):
    done = run_tool_in_process(write_tool(tmp_path, code))
    assert (done.returncode, done.stderr) == (status, stderr)
    assert done.stdout == ('done\n' if 'print' in code else '')


def test_state_is_put_back(tmp_path):
    tool = write_tool(tmp_path, MEDDLING_TOOL)
    logger = MMLogger.get_current_instance()
    handlers, level = list(logger.handlers), logger.level
    before = dict(cwd=os.getcwd(), argv=list(sys.argv), path=list(sys.path),
                  environ=dict(os.environ), filters=list(warnings.filters),
                  threads=torch.get_num_threads(), rng=torch.get_rng_state())
    with DefaultScope.overwrite_default_scope('mmdet'):
        scope = DefaultScope.get_current_instance()
        done = run_tool_in_process(tool, 'an-arg', cwd=tmp_path,
                                   TOOL_ENV='env-value')
        assert DefaultScope.get_current_instance() is scope
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f'{tmp_path} env-value an-arg'
    assert 'logged by the tool' in done.stdout
    assert 'UserWarning: careful' in done.stderr
    assert 'logged by the tool' in (tmp_path / 'tool.log').read_text()
    assert MMLogger.get_current_instance() is logger
    assert not MMLogger.check_instance_created('tool')
    assert (logger.handlers, logger.level) == (handlers, level)
    after = dict(cwd=os.getcwd(), argv=list(sys.argv), path=list(sys.path),
                 environ=dict(os.environ), filters=list(warnings.filters),
                 threads=torch.get_num_threads(), rng=torch.get_rng_state())
    assert torch.equal(after.pop('rng'), before.pop('rng'))
    assert after == before


def test_a_bug_keeps_its_traceback_and_the_state_is_put_back(tmp_path):
    tool = write_tool(tmp_path, "import os\nos.chdir('/')\n"
                      "raise ValueError('a bug')\n")
    cwd = os.getcwd()
    with pytest.raises(ValueError, match='a bug') as raised:
        run_tool_in_process(tool, cwd=tmp_path)
    assert raised.traceback[-1].path == tool
    assert os.getcwd() == cwd


def test_timeout(tmp_path):
    tool = write_tool(tmp_path, 'import time\ntime.sleep(30)\n')
    with pytest.raises(subprocess.TimeoutExpired):
        run_tool_in_process(tool, timeout=0.2)
