"""What the speed and complexity tools share: a config's test input size,
the process's peak memory, waiting for the GPU, fp16 autocast and
alternating timed runs."""
import statistics
import time
from contextlib import AbstractContextManager, nullcontext
from typing import Callable, Dict, List, Optional, Tuple

import torch
from mmengine.config import Config

from convnext_dense.data.wrappers import leaf_datasets
from convnext_dense.errors import ConfigError


def inference_input_hw(cfg: Config) -> Tuple[int, int]:
    """(height, width) of the test pipeline's ``Resize`` scale.

    That is the largest image the test pipeline produces (1333x800 for COCO,
    2048x512 for ADE20K): a ``keep_ratio`` resize fits each image inside it.

    Raises:
        ConfigError: The first test dataset's pipeline has no ``Resize`` with
            a ``scale``.
    """
    dataset, where = next(leaf_datasets(cfg.test_dataloader.dataset,
                                        'test_dataloader.dataset'))
    for step in dataset.get('pipeline', []):
        if step.get('type') in ('Resize', 'mmdet.Resize', 'mmseg.Resize') \
                and step.get('scale'):
            width, height = step['scale']
            return int(height), int(width)
    raise ConfigError(f'{cfg.filename}: {where}.pipeline has no Resize with a '
                      'scale to take the test input size from; pass --shape '
                      'H W')


def _status_kib(field: str) -> Optional[int]:
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def resident_mib() -> Optional[float]:
    """The process's resident set size in MiB (None where /proc is missing)."""
    kib = _status_kib('VmRSS')
    return None if kib is None else kib / 1024


def peak_resident_mib() -> Optional[float]:
    """The peak resident set size in MiB since the last :func:`reset_peak_resident`
    (or the process start); None where /proc is missing."""
    kib = _status_kib('VmHWM')
    return None if kib is None else kib / 1024


def reset_peak_resident() -> bool:
    """Restarts the peak resident set size from the current one (Linux).

    Returns:
        bool: Whether the kernel took the reset.
    """
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def synchronize(device: str) -> None:
    """Waits for the work queued on ``device`` (a no-op on the CPU)."""
    if device.startswith('cuda'):
        torch.cuda.synchronize(device)


def fp16_autocast(enabled: bool) -> AbstractContextManager:
    """CUDA fp16 autocast when ``enabled``, else a context that does nothing."""
    return (torch.autocast('cuda', dtype=torch.float16) if enabled
            else nullcontext())


def interleaved_medians(runs: Dict[str, Callable[[], object]], repeat: int,
                        device: str = 'cpu') -> Dict[str, float]:
    """Median seconds of each run; they alternate, in turn order reversed."""
    for run in runs.values():
        run()  # warm-up
    synchronize(device)
    times: Dict[str, List[float]] = {name: [] for name in runs}
    names = list(runs)
    for i in range(repeat):
        for name in (names if i % 2 == 0 else names[::-1]):
            start = time.perf_counter()
            runs[name]()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}
