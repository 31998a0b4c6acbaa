"""tools/dist_train.sh, dist_test.sh (both through dist_run.sh) and
slurm_train.sh: the commands they launch, with the extra arguments passed
through intact.

The scripts run here with a recording stand-in for the interpreter (PYTHON)
and for srun, which shows the exact command line; real 2-process runs on CPU
(gloo) are in test_distributed.py.
"""
import os
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List

import pytest

from helpers import TOOLS
SCRIPTS = ['dist_run.sh', 'dist_train.sh', 'dist_test.sh', 'slurm_train.sh']
TRICKY = ['--cfg-options', 'work_dir=a dir/with spaces', "name='x y'", '*']

RECORDER = """#!/usr/bin/env bash
# Writes its own name and arguments, NUL-separated, to $RECORD.
printf '%s\\0' "$(basename "$0")" "$@" > "$RECORD"
"""


@pytest.fixture
def recorder(tmp_path) -> Dict[str, str]:
    """A PATH with a fake srun and a fake interpreter that record argv."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    for name in ('srun', 'fakepython'):
        path = bin_dir / name
        path.write_text(RECORDER)
        path.chmod(0o755)
    env = dict(os.environ)
    env.update(PATH=f'{bin_dir}{os.pathsep}{env["PATH"]}',
               PYTHON=str(bin_dir / 'fakepython'),
               RECORD=str(tmp_path / 'argv'))
    return env


def run_script(script: str, args: List[str], env: Dict[str, str],
               cwd: Path) -> List[str]:
    done = subprocess.run(['bash', str(TOOLS / script)] + args, env=env,
                          cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return (cwd / 'argv').read_text().split('\0')[:-1]


@pytest.mark.parametrize('script', SCRIPTS)
def test_scripts_parse_and_are_executable(script):
    path = TOOLS / script
    assert os.access(path, os.X_OK)
    assert path.read_text().startswith('#!/usr/bin/env bash\n')
    subprocess.run(['bash', '-n', str(path)], check=True)


@pytest.mark.skipif(shutil.which('shellcheck') is None,
                    reason='shellcheck is not installed')
def test_scripts_are_shellcheck_clean():
    subprocess.run(['shellcheck'] + [str(TOOLS / s) for s in SCRIPTS],
                   check=True)


def test_dist_train_runs_torchrun_with_the_arguments(recorder, tmp_path):
    recorder.update(NNODES='2', NODE_RANK='1', PORT='29999',
                    MASTER_ADDR='10.0.0.7')
    argv = run_script('dist_train.sh', ['cfg.py', '8'] + TRICKY, recorder,
                      tmp_path)
    assert argv == [
        'fakepython', '-m', 'convnext_dense.cli.launch', '--nnodes=2',
        '--node_rank=1', '--master_addr=10.0.0.7', '--master_port=29999',
        '--rdzv_conf=timeout=600', '--nproc_per_node=8',
        str(TOOLS / 'train.py'), 'cfg.py',
        '--launcher', 'pytorch'
    ] + TRICKY


def test_dist_test_runs_torchrun_with_the_arguments(recorder, tmp_path):
    argv = run_script('dist_test.sh', ['cfg.py', 'model.pth', '4', '--out',
                                       'r.pkl'], recorder, tmp_path)
    assert argv == [
        'fakepython', '-m', 'convnext_dense.cli.launch', '--nnodes=1',
        '--node_rank=0', '--master_addr=127.0.0.1', '--master_port=29500',
        '--rdzv_conf=timeout=600', '--nproc_per_node=4',
        str(TOOLS / 'test.py'), 'cfg.py', 'model.pth',
        '--launcher', 'pytorch', '--out', 'r.pkl'
    ]


def test_slurm_train_runs_srun_with_the_arguments(recorder, tmp_path):
    recorder.update(GPUS='16', SRUN_ARGS='--quotatype=auto --exclusive')
    argv = run_script('slurm_train.sh',
                      ['dev', 'job', 'cfg.py', 'work dir'] + TRICKY, recorder,
                      tmp_path)
    assert argv == [
        'srun', '-p', 'dev', '--job-name=job', '--gres=gpu:8',
        '--ntasks=16', '--ntasks-per-node=8', '--cpus-per-task=5',
        '--kill-on-bad-exit=1', '--quotatype=auto', '--exclusive',
        recorder['PYTHON'], '-u', str(TOOLS / 'train.py'), 'cfg.py',
        '--work-dir=work dir', '--launcher=slurm'
    ] + TRICKY


def test_dist_run_runs_any_tool(recorder, tmp_path):
    argv = run_script('dist_run.sh', ['infer.py', '2', 'a.jpg', '--config',
                                      'c.py'], recorder, tmp_path)
    assert argv[argv.index('--nproc_per_node=2') + 1:] == [
        str(TOOLS / 'infer.py'), 'a.jpg', '--config', 'c.py']


@pytest.mark.parametrize('script, args', [('dist_run.sh', ['train.py']),
                                          ('dist_train.sh', ['cfg.py']),
                                          ('dist_test.sh', ['a', 'b']),
                                          ('slurm_train.sh', ['p', 'j', 'c'])])
def test_too_few_arguments_print_the_usage(script, args, tmp_path):
    done = subprocess.run(['bash', str(TOOLS / script)] + args,
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith('usage: ')
