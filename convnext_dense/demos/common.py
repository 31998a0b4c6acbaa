"""What both demos need."""
import os.path as osp

from convnext_dense.cli.common import UserError


def final_checkpoint(work_dir: str) -> str:
    """The checkpoint that training's ``last_checkpoint`` pointer names."""
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        raise UserError(f'{work_dir} holds no last_checkpoint: did training '
                        f'finish?')
    with open(pointer) as f:
        return f.read().strip()
