"""benchmarks/soak.py at its defaults (make test-long): a long training and a
long inference run keep their resident memory within 5% after warm-up and
leak no file descriptors; the curves are drawn as a PNG."""
import json
import subprocess
import sys

import cv2
import pytest

from helpers import REPO, tool_env

#: The default run takes a few minutes on 2 idle cores.
TIMEOUT_S = 1800


@pytest.mark.slow
@pytest.mark.long
def test_soak_memory_and_descriptors_stay_flat(tmp_path):
    done = subprocess.run(
        [sys.executable, str(REPO / 'benchmarks/soak.py'), '--out-dir',
         str(tmp_path)], capture_output=True, text=True, timeout=TIMEOUT_S,
        env=tool_env(OMP_NUM_THREADS='1', PYTHONPATH=str(REPO)))
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    summary = json.loads((tmp_path / 'summary.json').read_text())
    assert summary['problems'] == {'train': [], 'infer': []}
    for name in ('train', 'infer'):
        figures = summary[name]
        assert figures['samples'] > 20
        rss = figures['rss_mib']
        assert rss['end'] <= 1.05 * rss['after_warmup']
        fds = figures['open_fds']
        assert fds['end'] <= fds['after_warmup']
    picture = cv2.imread(str(tmp_path / 'soak.png'))
    assert picture is not None and picture.shape[1] > picture.shape[0]
