#!/usr/bin/env python
"""Soak: resident memory and open file descriptors over a long run.

Trains the toy UperNet (``configs/toy/upernet_convnext_toy_ade.py``) with
``tools/train.py`` for ``--iters`` iterations (a checkpoint every quarter,
no validation), then runs ``tools/infer.py`` with the last
checkpoint over ``--images`` images in one process. A thread samples each
tool's process every ``--interval`` seconds from ``/proc``: its resident
memory (VmRSS), with its dataloader workers too, and its open file
descriptors. After a warm-up (the first ``--warmup`` of each run's time)
the resident memory may grow by at most ``--max-growth`` (5%) to the end,
and the descriptors not at all (see :func:`figures`); the script exits
with 1 when either does. Writes the samples as scalar logs
(``train/scalars.json``, ``infer/scalars.json``), ``summary.json`` (start,
after warm-up, end, peak) and ``soak.png`` (the curves, drawn by
:mod:`convnext_dense.analysis.curves`) into ``--out-dir``. Linux only.

    python benchmarks/soak.py [--iters 600] [--images 300] [--out-dir DIR]
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

from convnext_dense.analysis import curves
from convnext_dense.data.toy import toy_ade

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / 'configs/toy/upernet_convnext_toy_ade.py'
KEYS = ('rss_mib', 'rss_mib_with_workers', 'open_fds')


def children(pid: int) -> List[int]:
    """The PIDs of ``pid``'s descendants."""
    found: List[int] = []
    for task in Path(f'/proc/{pid}/task').glob('*/children'):
        try:
            found += [int(child) for child in task.read_text().split()]
        except OSError:
            continue
    return found + [grand for child in found for grand in children(child)]


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` in MiB (0 when it is gone)."""
    try:
        status = Path(f'/proc/{pid}/status').read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
    return 0.0


def sample(pid: int) -> Optional[Dict[str, float]]:
    """One sample of ``pid``, None when it is gone."""
    try:
        fds = len(os.listdir(f'/proc/{pid}/fd'))
    except OSError:
        return None
    own = rss_mib(pid)
    return dict(rss_mib=own, open_fds=fds, rss_mib_with_workers=own + sum(
        rss_mib(child) for child in children(pid)))


def monitored(command: List[str], cwd: Path, interval: float,
              log: Path) -> List[Dict[str, float]]:
    """Runs ``command`` to its end, sampling it every ``interval`` seconds.

    Returns:
        The samples, each with ``seconds`` since the start.

    Raises:
        SystemExit: when the command fails (its output is in ``log``).
    """
    samples: List[Dict[str, float]] = []
    with open(log, 'w') as out:
        process = subprocess.Popen(command, cwd=cwd, stdout=out,
                                   stderr=subprocess.STDOUT)
    began = time.time()
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            taken = sample(process.pid)
            if taken is not None and process.poll() is None:
                samples.append(dict(seconds=time.time() - began, **taken))
            stop.wait(interval)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        code = process.wait()
    finally:  # interrupted (Ctrl-C): the tool does not run on without us
        if process.poll() is None:
            process.kill()
        stop.set()
        watcher.join()
    if code != 0:
        sys.exit(f'{" ".join(command)} failed (exit code {code}); see {log}')
    return samples


def _median(values: List[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def figures(samples: List[Dict[str, float]], warmup: float,
            window: float = 0.1) -> Dict:
    """Each key at the start (the first sample), after warm-up (the median
    of the samples in ``window`` of the run's time after the ``warmup``
    share of it), at the end (the median of the last ``window``) and its
    peak. Medians, so that a checkpoint being written (a few more
    descriptors for a moment) or the process's last second does not decide.
    """
    end_s = samples[-1]['seconds']

    def between(low: float, high: float) -> List[Dict[str, float]]:
        return [s for s in samples
                if low * end_s <= s['seconds'] <= high * end_s]

    warm, last = between(warmup, warmup + window), between(1 - window, 1)
    result: Dict = {key: dict(
        start=samples[0][key],
        after_warmup=_median([s[key] for s in warm]),
        end=_median([s[key] for s in last]),
        peak=max(s[key] for s in samples)) for key in KEYS}
    result['seconds'] = dict(after_warmup=warmup * end_s, end=end_s)
    result['samples'] = len(samples)
    return result


def verdict(figure: Dict, max_growth: float) -> List[str]:
    """What is wrong with a run's figures (nothing: an empty list)."""
    problems = []
    for key in ('rss_mib', 'rss_mib_with_workers'):
        start, end = figure[key]['after_warmup'], figure[key]['end']
        if end > start * (1 + max_growth):
            problems.append(f'{key} grew {100 * (end / start - 1):.1f}% '
                            f'after warm-up ({start:.0f} -> {end:.0f} MiB)')
    if figure['open_fds']['end'] > figure['open_fds']['after_warmup']:
        problems.append('open descriptors grew after warm-up '
                        f'({figure["open_fds"]["after_warmup"]:.0f} -> '
                        f'{figure["open_fds"]["end"]:.0f})')
    return problems


def write_samples(path: Path, samples: List[Dict[str, float]]) -> None:
    """The samples as a scalar log :mod:`convnext_dense.analysis.curves`
    reads (``iter`` holds the seconds)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'w') as f:
        for one in samples:
            record = {key: one[key] for key in KEYS}
            f.write(json.dumps(dict(record, iter=round(one['seconds'], 2)))
                    + '\n')


def draw(out_dir: Path, title: str) -> Path:
    """Draws the samples of both runs as ``soak.png``; returns its path."""
    runs = [curves.load_run(out_dir / name / curves.SCALARS_FILE, name)
            for name in ('train', 'infer')]
    figure = curves.plot(runs, list(KEYS), title)
    for ax in figure.axes:
        ax.set_xlabel('seconds since the tool started')
    path = out_dir / 'soak.png'
    curves.save(figure, path)
    return path


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--iters', type=int, default=600,
                        help='training iterations (default: 600)')
    parser.add_argument('--images', type=int, default=300,
                        help='images tools/infer.py predicts (default: 300)')
    parser.add_argument('--interval', type=float, default=1.0,
                        help='seconds between samples (default: 1)')
    parser.add_argument('--warmup', type=float, default=0.25,
                        help='share of each run\'s time that is warm-up '
                        '(default: 0.25)')
    parser.add_argument('--max-growth', type=float, default=0.05,
                        help='largest accepted growth of the resident '
                        'memory after warm-up (default: 0.05)')
    parser.add_argument('--out-dir', type=Path, default=Path('work_dirs/soak'),
                        help='where data, logs and results go (default: '
                        'work_dirs/soak)')
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    out = args.out_dir.absolute()
    data = toy_ade.generate(out / toy_ade.DEFAULT_ROOT, num_val=args.images)
    work = out / 'work'
    train = monitored([
        sys.executable, str(REPO / 'tools/train.py'), str(CONFIG),
        '--work-dir', str(work), '--cfg-options',
        f'train_cfg.max_iters={args.iters}',
        f'param_scheduler.1.end={args.iters}',  # the lr decays to the end
        'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None',
        f'default_hooks.checkpoint.interval={max(args.iters // 4, 1)}',
        'default_hooks.checkpoint.max_keep_ckpts=2'], out, args.interval,
        out / 'train.log')
    images = sorted(str(p) for p in (data / 'images/validation').glob('*'))
    checkpoint = (work / 'last_checkpoint').read_text().strip()
    infer = monitored([
        sys.executable, str(REPO / 'tools/infer.py'), *images, '--config',
        str(CONFIG), '--checkpoint', checkpoint, '--out-dir',
        str(out / 'painted')], out, args.interval, out / 'infer.log')
    summary = {}
    for name, samples in (('train', train), ('infer', infer)):
        write_samples(out / name / curves.SCALARS_FILE, samples)
        summary[name] = figures(samples, args.warmup)
    summary['problems'] = {name: verdict(summary[name], args.max_growth)
                           for name in ('train', 'infer')}
    (out / 'summary.json').write_text(json.dumps(summary, indent=2))
    picture = draw(out, f'{args.iters} training iterations, then '
                   f'{len(images)} images predicted')
    for name in ('train', 'infer'):
        figure = summary[name]
        print(f'{name}: ' + '; '.join(
            f'{key} {figure[key]["start"]:.0f} / '
            f'{figure[key]["after_warmup"]:.0f} / {figure[key]["end"]:.0f} '
            f'(peak {figure[key]["peak"]:.0f})' for key in KEYS) +
            f'; start / after warm-up ({figure["seconds"]["after_warmup"]:.0f}'
            f' s) / end ({figure["seconds"]["end"]:.0f} s)')
    print(f'{picture}, {out / "summary.json"}')
    problems = [f'{name}: {p}' for name, found in summary['problems'].items()
                for p in found]
    for problem in problems:
        print(f'FAIL {problem}')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
