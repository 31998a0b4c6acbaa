"""``python -m convnext_dense.patches``: what convnext-dense changes in other
packages, and which of those changes are switched off."""
from typing import List

from convnext_dense.patches.registry import (DISABLE_VARIABLE, PATCHES,
                                             disabled_patches, is_installed)


def describe() -> List[str]:
    """One line per patch (name, state, what it fixes), then its symbols."""
    disabled = disabled_patches()
    lines = []
    for patch in PATCHES:
        state = ('installed' if is_installed(patch.name) else
                 f'switched off by {DISABLE_VARIABLE}'
                 if patch.name in disabled else 'not installed')
        lines.append(f'{patch.name} ({state}): {patch.fixes}')
        lines.append(f'    replaces {", ".join(patch.replaces)}')
    return lines


if __name__ == '__main__':
    print('\n'.join(describe()))
