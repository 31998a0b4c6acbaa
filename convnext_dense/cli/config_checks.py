"""Checks of a config's model before anything is built.

A misspelled argument (``drop_path_rat=0.1``, in the config or through
``--cfg-options``) otherwise ends, after the Runner has started, in a
traceback through mmengine's registry; an unregistered type in a ``KeyError``
with a link. :func:`check_model_config` names the config key, the value and
what to write instead, in one line; :func:`check_custom_imports` warns about a
config that uses the toolkit without importing it.
"""
import difflib
import importlib.util
import inspect
from typing import Any, Iterator, List, Optional, Tuple

from mmengine.config import Config
from mmengine.logging import MMLogger

from convnext_dense.errors import ConfigError

#: The toolkit's registry scope (``type='convnext_dense.ConvNeXt'``).
SCOPE = 'convnext_dense'


def _model_parts(model: Any) -> Iterator[Tuple[str, dict]]:
    """``model`` and its backbone and neck(s), with their config keys."""
    if not isinstance(model, dict):
        return
    yield 'model', model
    for key in ('backbone', 'neck'):
        part = model.get(key)
        parts = part if isinstance(part, (list, tuple)) else [part]
        for i, item in enumerate(parts):
            if isinstance(item, dict) and isinstance(item.get('type'), str):
                where = f'model.{key}' + (f'[{i}]' if len(parts) > 1 else '')
                yield where, item


def resolve_model_type(name: str, scope: str) -> Optional[type]:
    """The class registered as ``name`` in ``scope``'s model registry, or
    None (also when ``name``'s scope prefix is not an installed package)."""
    from mmengine.registry import MODELS
    prefix = name.split('.', 1)[0] if '.' in name else None
    if prefix and importlib.util.find_spec(prefix) is None:
        return None
    with MODELS.switch_scope_and_registry(scope) as registry:
        try:
            return registry.get(name)
        except (KeyError, ImportError):
            return None


def _unregistered(path: str, where: str, name: str, scope: str) -> str:
    message = (f'config {path}: {where} type {name!r} is not registered in '
               f'the {scope} scope')
    bare = name.split('.', 1)[-1]
    if (not name.startswith(f'{SCOPE}.')
            and resolve_model_type(f'{SCOPE}.{bare}', scope) is not None):
        return (f"{message}; the toolkit's components are named with their "
                f"scope: type='{SCOPE}.{bare}'")
    prefix = name.split('.', 1)[0] if '.' in name else None
    if prefix and importlib.util.find_spec(prefix) is None:
        return f'{message}: {prefix} is not installed'
    return f'{message}: check the spelling'


def accepted_arguments(cls: type) -> Optional[List[str]]:
    """The keyword arguments ``cls`` takes; None when it takes any."""
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    return [p.name for p in parameters
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def check_model_config(cfg: Config, path: str) -> None:
    """Checks the types and argument names of the model, its backbone and
    neck(s) against the registered classes.

    Args:
        cfg: A loaded config (``--cfg-options`` merged) with a
            ``default_scope``.
        path: The config file, for messages.

    Raises:
        ConfigError: a type is not registered, or a class does not take an
            argument the config gives it.
    """
    scope = cfg.get('default_scope')
    for where, part in _model_parts(cfg.get('model')):
        name = part.get('type')
        if not isinstance(name, str):
            continue
        cls = resolve_model_type(name, scope)
        if cls is None:
            raise ConfigError(_unregistered(path, where, name, scope))
        accepted = accepted_arguments(cls)
        if accepted is None:
            continue
        unknown = [key for key in part
                   if key not in accepted and key not in ('type', '_scope_')]
        if unknown:
            key = unknown[0]
            close = difflib.get_close_matches(key, accepted, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ''
            raise ConfigError(
                f'config {path}: {where} has no argument {key!r}{hint}, in '
                f'the config or --cfg-options; {name} takes '
                f'{", ".join(accepted)}')


def _uses_toolkit(node: Any) -> bool:
    if isinstance(node, dict):
        kind = node.get('type')
        if isinstance(kind, str) and kind.startswith(f'{SCOPE}.'):
            return True
        return any(_uses_toolkit(value) for value in node.values())
    if isinstance(node, (list, tuple)):
        return any(_uses_toolkit(value) for value in node)
    return False


def check_custom_imports(cfg: Config, path: str) -> bool:
    """Warns (one line) when a config names the toolkit's components but does
    not list it in ``custom_imports``.

    The toolkit's tools import it themselves, so such a config runs here;
    mmdet's and mmseg's own tools would build and load without the toolkit's
    fixes to the stack until the first ``convnext_dense.`` type is built.

    Returns:
        Whether the warning was logged.
    """
    imports = (cfg.get('custom_imports') or {}).get('imports') or []
    if isinstance(imports, str):
        imports = [imports]
    if SCOPE in imports or not _uses_toolkit(cfg._cfg_dict.to_dict()):
        return False
    MMLogger.get_current_instance().warning(
        f"config {path} names convnext_dense components but has no "
        f"custom_imports=dict(imports=['convnext_dense']): these tools import "
        f"the toolkit themselves, but mmdet's and mmseg's own tools need it "
        f"to install its fixes before anything is built or loaded; add it")
    return True
