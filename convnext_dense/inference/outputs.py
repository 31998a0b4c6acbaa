"""Where the painted predictions of the input images go."""
import os.path as osp
from pathlib import Path
from typing import Dict, List, Sequence


def painted_paths(out_dir: str, images: Sequence[str]) -> List[str]:
    """``out_dir/<stem>.png`` for each image, numbered (``<stem>_2.png``...)
    where inputs share a stem, so that no output overwrites another."""
    seen: Dict[str, int] = {}
    paths = []
    for image in images:
        stem = Path(image).stem
        seen[stem] = seen.get(stem, 0) + 1
        name = stem if seen[stem] == 1 else f'{stem}_{seen[stem]}'
        paths.append(osp.join(out_dir, f'{name}.png'))
    return paths
