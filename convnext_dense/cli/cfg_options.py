"""``--cfg-options`` that say what is wrong with them, in one line.

mmengine's ``DictAction`` ends a malformed item (``foo`` without ``=``) in a
``ValueError`` traceback from inside argparse, and ``Config.merge_from_dict``
silently adds a misspelled key (``trian_cfg.max_iters=4``,
``train_cfg.max_iter=4``: nothing changes) or puts text where a number
belongs (``train_cfg.max_iters=abc``: a traceback deep in training).
:class:`CfgOptionsAction` and :func:`check_cfg_options` turn these into one
:class:`~convnext_dense.errors.ConfigError` each. Misspelled arguments of
the model, its backbone and neck are
:mod:`convnext_dense.cli.config_checks`'s.
"""
import argparse
import difflib
import inspect
import numbers
from typing import Any, Dict, List, Optional, Sequence

from mmengine.config import Config, DictAction

from convnext_dense.cli.config_checks import accepted_arguments
from convnext_dense.errors import ConfigError

#: Top-level keys the tools read besides the Runner's arguments.
TOOL_KEYS = ('model_wrapper_cfg', 'find_unused_parameters', 'compile',
             'strategy', 'tta_model', 'tta_pipeline', 'custom_imports',
             'sync_bn', 'check_data', 'data_hint', 'work_dir')
#: Config keys whose ``type`` is looked up in an mmengine registry, with it.
_REGISTRIES = {'train_cfg': 'LOOPS', 'val_cfg': 'LOOPS', 'test_cfg': 'LOOPS',
               'default_hooks': 'HOOKS'}
#: A loop config without ``type``: what mmengine builds.
_DEFAULT_LOOPS = {'train_cfg': 'IterBasedTrainLoop', 'val_cfg': 'ValLoop',
                  'test_cfg': 'TestLoop'}
EXAMPLE = 'train_cfg.max_iters=100'


class CfgOptionsAction(DictAction):
    """``DictAction`` whose malformed items are one
    :class:`~convnext_dense.errors.ConfigError` (``KEY=VALUE`` expected)."""

    def __call__(self, parser: argparse.ArgumentParser,
                 namespace: argparse.Namespace, values: Sequence[str],
                 option_string: Optional[str] = None) -> None:
        for item in values:
            key, equals, _ = item.partition('=')
            if not equals or not key.strip() or key != key.strip():
                raise ConfigError(
                    f'{option_string} {item!r}: each item is KEY=VALUE '
                    f'without spaces around =, e.g. {EXAMPLE}')
        super().__call__(parser, namespace, values, option_string)


def _top_level_keys() -> List[str]:
    from mmengine.runner import Runner
    return [name for name in inspect.signature(Runner).parameters] + list(
        TOOL_KEYS)


def _component_class(top: str, node: dict) -> Optional[type]:
    """The class a loop or hook config builds, if known."""
    from mmengine import registry
    name = node.get('type', _DEFAULT_LOOPS.get(top))
    if top not in _REGISTRIES or not isinstance(name, str):
        return None
    try:
        return getattr(registry, _REGISTRIES[top]).get(name)
    except (KeyError, ImportError):
        return None


def _check_new_key(option: str, parts: List[str], depth: int,
                   parent: Any, top: str) -> None:
    """Fails when ``parts[depth]`` (not in the config) is a key that
    ``parent`` (its config, or the whole config when depth is 0) cannot
    take."""
    key = parts[depth]
    if depth == 0:
        known = set(parent) | set(_top_level_keys())
        if key in known:
            return
        close = difflib.get_close_matches(key, sorted(known), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ''
        raise ConfigError(
            f'--cfg-options {option}: the config has no key {key!r}{hint}, '
            'and the tools read no such key: check the spelling')
    where = '.'.join(parts[:depth])
    if depth == 1 and top == 'default_hooks':
        return  # a new hook
    cls = _component_class(top, parent)
    accepted = accepted_arguments(cls) if cls is not None else None
    if accepted is not None and key not in accepted + ['type']:
        close = difflib.get_close_matches(key, accepted, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ''
        raise ConfigError(
            f'--cfg-options {option}: {where} ({cls.__name__}) has no key '
            f'{key!r}{hint}; it takes {", ".join(sorted(accepted))}')


def _check_type(option: str, key: str, old: Any, new: Any) -> None:
    """Fails when ``new`` cannot stand where the config has ``old``."""
    if new is None or old is None:
        return
    if isinstance(old, bool) or isinstance(old, numbers.Number):
        if not isinstance(new, numbers.Number):
            raise ConfigError(
                f'--cfg-options {option}: {key} is a '
                f'{"boolean" if isinstance(old, bool) else "number"} '
                f'({old!r} in the config), not {new!r}: pass '
                f'{"True or False" if isinstance(old, bool) else "a number"}')
    elif isinstance(old, dict) and not isinstance(new, dict):
        raise ConfigError(
            f'--cfg-options {option}: {key} is a dict in the config: set '
            f'its keys ({key}.KEY=VALUE), or None to remove it')


def check_cfg_options(cfg: Config, options: Dict[str, Any]) -> None:
    """Checks ``--cfg-options`` against the config before they are merged.

    Args:
        cfg: The config as read from its file.
        options: What :class:`CfgOptionsAction` parsed (``{key: value}``).

    Raises:
        ConfigError: naming the option, when a key is not in the config and
            is not one its component (the Runner, a loop, a hook) takes, or
            a value replaces a number or a dict with something else.
    """
    for key, value in options.items():
        option = f'{key}={value}'
        parts = key.split('.')
        node: Any = cfg.to_dict()
        for depth, part in enumerate(parts):
            if isinstance(node, (list, tuple)) and part.isdigit() and \
                    int(part) < len(node):
                node = node[int(part)]
                continue
            if not isinstance(node, dict):
                where = '.'.join(parts[:depth])
                raise ConfigError(
                    f'--cfg-options {option}: {where} is {node!r} in the '
                    f'config, not a dict with keys: set {where}=VALUE')
            if part not in node:
                _check_new_key(option, parts, depth, node, parts[0])
                break
            if depth == len(parts) - 1:
                _check_type(option, key, node[part], value)
            node = node[part]
