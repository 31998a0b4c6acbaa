"""The shape of the config tree: every leaf config (outside ``_base_/``)
reaches every root through at most two ``_base_`` hops (leaf -> base ->
root), and no config imports the package, so that a config reads on its own.
The configs are parsed with ``ast``, never run."""
import ast
from pathlib import Path
from typing import Dict, List

import pytest

from conftest import CONFIGS

MAX_HOPS = 2
PACKAGE = 'convnext_dense'


def parse(path: Path) -> ast.Module:
    """The syntax tree of the config at ``path``."""
    return ast.parse(path.read_text(encoding='utf-8'), filename=str(path))


def base_files(path: Path) -> List[Path]:
    """The files the config at ``path`` names in its ``_base_``.

    Args:
        path: A config file.

    Returns:
        list: The ``_base_`` files, resolved against ``path``'s folder (empty
        for a root).

    Raises:
        AssertionError: ``_base_`` is not a string or a list of strings, or
            names a file that does not exist.
    """
    for node in parse(path).body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == '_base_'):
            names = ast.literal_eval(node.value)
            names = [names] if isinstance(names, str) else list(names)
            assert all(isinstance(n, str) for n in names), (
                f'{path}: _base_ must be a path or a list of paths')
            bases = [(path.parent / n).resolve() for n in names]
            missing = [str(b) for b in bases if not b.is_file()]
            assert not missing, f'{path}: _base_ files missing: {missing}'
            return bases
    return []


def longest_chain(path: Path, seen: Dict[Path, List[Path]]) -> List[Path]:
    """The longest ``_base_`` chain from ``path`` to a root.

    Args:
        path: A config file.
        seen: Chains already found, by file (filled in).

    Returns:
        list: ``path``, its base on the chain, ..., the root.
    """
    path = path.resolve()
    if path not in seen:
        chains = [longest_chain(base, seen) for base in base_files(path)]
        seen[path] = [path] + max(chains, key=len, default=[])
    return seen[path]


def leaves(folder: Path) -> List[Path]:
    """The configs under ``folder`` outside its ``_base_/``."""
    return sorted(p for p in folder.rglob('*.py')
                  if '_base_' not in p.relative_to(folder).parts)


def too_deep(folder: Path) -> List[str]:
    """The leaves under ``folder`` more than ``MAX_HOPS`` hops from a root,
    each with its longest chain."""
    seen: Dict[Path, List[Path]] = {}
    found = []
    for leaf in leaves(folder):
        chain = longest_chain(leaf, seen)
        if len(chain) - 1 > MAX_HOPS:
            root = folder.resolve()
            found.append(' -> '.join(
                str(p.relative_to(root)) for p in chain))
    return found


def package_imports(path: Path) -> List[str]:
    """The imports of the package in the config at ``path``, as
    ``line N: module``."""
    found = []
    for node in ast.walk(parse(path)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules = [node.module or '']
        else:
            continue
        found += [f'line {node.lineno}: {m}' for m in modules
                  if m == PACKAGE or m.startswith(PACKAGE + '.')]
    return found


def test_every_leaf_is_at_most_two_hops_from_its_roots():
    assert leaves(CONFIGS), f'no configs found under {CONFIGS}'
    assert too_deep(CONFIGS) == []


def test_no_config_imports_the_package():
    configs = sorted(CONFIGS.rglob('*.py'))
    assert configs, f'no configs found under {CONFIGS}'
    found = {str(p.relative_to(CONFIGS)): package_imports(p)
             for p in configs}
    assert {name: lines for name, lines in found.items() if lines} == {}


def write(folder: Path, files: Dict[str, str]) -> None:
    """Writes ``files`` (relative path -> text) under ``folder``."""
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


def test_a_leaf_three_hops_from_a_root_is_found(tmp_path):
    write(tmp_path, {
        '_base_/root.py': 'a = 1\n',
        '_base_/other_root.py': 'b = 1\n',
        '_base_/piece.py': "_base_ = './root.py'\na = 2\n",
        'family.py': "_base_ = ['_base_/piece.py', '_base_/other_root.py']\n",
        'variant.py': "_base_ = './family.py'\na = 3\n",
        'sub/near.py': "_base_ = '../family.py'\n",
        'flat.py': "_base_ = ['_base_/piece.py', '_base_/other_root.py']\n",
    })
    assert too_deep(tmp_path) == [
        'sub/near.py -> family.py -> _base_/piece.py -> _base_/root.py',
        'variant.py -> family.py -> _base_/piece.py -> _base_/root.py',
    ]


def test_a_missing_base_file_fails_by_name(tmp_path):
    write(tmp_path, {'leaf.py': "_base_ = ['_base_/gone.py']\n"})
    with pytest.raises(AssertionError, match='gone.py'):
        too_deep(tmp_path)


def test_imports_of_the_package_are_found_and_others_are_not(tmp_path):
    write(tmp_path, {'a.py': (
        'import os\n'
        'import convnext_dense\n'
        'from convnext_dense.data.wrappers import leaf_datasets\n'
        'from convnext_dense_extra import x\n'
        'custom_imports = dict(imports=["convnext_dense"])\n'
        'def f():\n'
        '    import convnext_dense.models as m\n'
        '    return m\n')})
    assert package_imports(tmp_path / 'a.py') == [
        'line 2: convnext_dense',
        'line 3: convnext_dense.data.wrappers',
        'line 7: convnext_dense.models',
    ]
