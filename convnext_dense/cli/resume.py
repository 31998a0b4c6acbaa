"""``--resume`` without a path: the latest complete checkpoint of a work dir.

mmengine resumes from the file that ``WORK_DIR/last_checkpoint`` names.
After a kill that pointer can be behind (killed between a checkpoint and the
pointer), empty (killed while it was written) or name a file that is gone; a
killed checkpoint write leaves a temporary file (all writes are atomic,
:mod:`convnext_dense.patches.atomic_save`). :func:`latest_checkpoint` picks
the checkpoint with the highest iteration or epoch among the pointer's and the
``iter_N.pth`` / ``epoch_N.pth`` files that are complete, and clears the
temporary files of dead writers.
"""
import os
import os.path as osp
import re
import zipfile
from pathlib import Path
from typing import List, Optional, Set, Tuple

from convnext_dense.patches.atomic_save import stale_temporaries

#: Checkpoint names CheckpointHook writes, with their step.
_NUMBERED = re.compile(r'^(?:iter|epoch)_(\d+)\.pth$')


def is_complete(path: Path) -> bool:
    """Whether ``path`` is a whole checkpoint file: torch's zip format ends
    with a directory record, which a truncated file lacks."""
    return path.is_file() and zipfile.is_zipfile(path)


def _step(path: Path) -> int:
    match = _NUMBERED.match(path.name)
    return int(match.group(1)) if match else -1


def _pointer(work_dir: Path) -> Optional[Path]:
    """The checkpoint ``last_checkpoint`` names, if it names one."""
    try:
        text = (work_dir / 'last_checkpoint').read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return Path(osp.abspath(text)) if text else None


def _remove_temporaries(folders: Set[Path]) -> List[str]:
    """Deletes what killed checkpoint writes left (by the first process of
    a distributed run only); returns the lines to log."""
    if int(os.environ.get('RANK', '0')) != 0:
        return []
    notes = []
    for folder in sorted(folders):
        for stale in stale_temporaries(folder):
            stale.unlink(missing_ok=True)
            notes.append(f'--resume: removed {stale}, left by an '
                         'interrupted checkpoint write')
    return notes


def latest_checkpoint(work_dir: str) -> Tuple[Optional[str], List[str]]:
    """The latest complete checkpoint to resume ``work_dir``'s run from.

    Returns:
        Its path (None when there is none), and the lines to log: what was
        skipped and why, and which temporary files were removed.
    """
    root = Path(osp.abspath(work_dir))
    pointer = _pointer(root)
    folders = {root} | ({pointer.parent} if pointer is not None else set())
    notes = _remove_temporaries(folders)
    candidates = [path for folder in sorted(folders)
                  for path in sorted(folder.glob('*.pth'))
                  if _NUMBERED.match(path.name) and is_complete(path)]
    if pointer is not None and not is_complete(pointer):
        notes.append(f'--resume: last_checkpoint names {pointer}, which '
                     f'is {"incomplete" if pointer.exists() else "gone"}')
    elif pointer is not None:
        candidates.append(pointer)
        # The pointer wins a tie (it may name a checkpoint without a step).
        best = max(candidates, key=lambda path: (_step(path), path == pointer))
        if best != pointer:
            notes.append(f'--resume: {best.name} is newer than '
                         f'{pointer.name}, which last_checkpoint names')
        return str(best), notes
    if not candidates:
        return None, notes
    return str(max(candidates, key=_step)), notes
