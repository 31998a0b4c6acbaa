"""``tools/train.py --tensorboard``: mmengine's TensorBoard backend beside the
config's local one.

The events go where the local backend writes ``scalars.json``:
``<work_dir>/<timestamp>/vis_data/``; ``tensorboard --logdir WORK_DIR``
shows every run of a work dir. Without the flag, a config can list the
backend itself: ``vis_backends=[dict(type='LocalVisBackend'),
dict(type='TensorboardVisBackend')]`` in its ``visualizer``.
"""
from mmengine.config import Config

from convnext_dense.errors import UserError

#: mmengine's registered name of the backend.
BACKEND = 'TensorboardVisBackend'
#: How to get the optional package.
INSTALL_HINT = "pip install 'convnext-dense[tensorboard]'"


def tensorboard_installed() -> bool:
    """Whether ``tensorboard`` (which torch's writer needs) imports."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return False
    return True


def enable_tensorboard(cfg: Config) -> None:
    """Adds the TensorBoard backend to ``cfg.visualizer`` (once).

    mmengine only imports TensorBoard when the first scalar is logged, deep
    into training; the package is checked here instead.

    Raises:
        UserError: when ``tensorboard`` is not installed, or the config has
            no ``visualizer``.
    """
    if not tensorboard_installed():
        raise UserError(f'--tensorboard needs the tensorboard package: '
                        f'{INSTALL_HINT}')
    visualizer = cfg.get('visualizer')
    if visualizer is None:
        raise UserError(f'--tensorboard: {cfg.filename} has no visualizer '
                        f'to add the {BACKEND} to')
    backends = list(visualizer.get('vis_backends') or [])
    if not any(b.get('type', '').split('.')[-1] == BACKEND for b in backends):
        backends.append(dict(type=BACKEND))
    visualizer.vis_backends = backends
