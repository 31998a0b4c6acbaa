"""The package's import graph, read from the source with ``ast``: no module
imports its own package's namespace, no import cycle between modules (imports
inside functions included), and each room (a subpackage or a root module)
imports only rooms of its own or a lower layer of :data:`LAYERS`."""
import ast
import importlib.util
from pathlib import Path
from typing import Dict, Iterator, List, Set

import pytest

PACKAGE = 'convnext_dense'

#: The rooms of the package from the bottom up: a room imports rooms of its
#: own layer or lower ones, never higher ones. evaluation sits above patches
#: (the faster COCO backend is a patch); deploy sits above inference: the
#: exports load and run models as inference does, and paint the runtime's
#: detections as inference paints the model's.
LAYERS = (
    ('errors', ),
    ('model_index', 'ops', 'path_checks', 'registry'),
    ('checkpoint', 'data', 'engine'),
    ('models', 'patches'),
    ('evaluation', 'inference'),
    ('deploy', ),
    ('analysis', ),
    ('cli', ),
)


def package_modules(root: Path) -> Dict[str, Path]:
    """Dotted name -> source file of every module and package under
    ``root`` (the package folder)."""
    modules = {}
    for path in root.rglob('*.py'):
        parts = path.relative_to(root.parent).with_suffix('').parts
        if parts[-1] == '__init__':
            parts = parts[:-1]
        modules['.'.join(parts)] = path
    return modules


def absolute_module(node: ast.ImportFrom, package: str) -> str:
    """The module a ``from ... import`` names, a relative one resolved
    against ``package`` (that of the importing module)."""
    if not node.level:
        return node.module
    parts = package.split('.')
    anchor = parts[:len(parts) - node.level + 1]
    return '.'.join(anchor + ([node.module] if node.module else []))


def imported_modules(name: str, path: Path,
                     modules: Dict[str, Path]) -> Iterator[str]:
    """The package's modules that module ``name`` imports, anywhere in its
    source; ``from X import y`` counts as importing ``X.y`` when that is a
    module, else ``X``."""
    package = name if path.name == '__init__.py' else name.rpartition('.')[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = absolute_module(node, package)
            targets = [f'{base}.{alias.name}'
                       if f'{base}.{alias.name}' in modules else base
                       for alias in node.names]
        else:
            continue
        yield from (target for target in targets
                    if target.split('.')[0] == PACKAGE and target != name)


def room(module: str) -> str:
    """The room of a module: its first name under the package."""
    return module.split('.')[1] if '.' in module else ''


def find_cycle(graph: Dict[str, Set[str]]) -> List[str]:
    """One import cycle of ``graph`` (as the modules along it), or []."""
    state: Dict[str, str] = {}
    stack: List[str] = []

    def visit(node: str) -> List[str]:
        state[node] = 'open'
        stack.append(node)
        for successor in sorted(graph.get(node, ())):
            if state.get(successor) == 'open':
                return stack[stack.index(successor):] + [successor]
            if successor not in state:
                cycle = visit(successor)
                if cycle:
                    return cycle
        state[node] = 'done'
        stack.pop()
        return []

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return []


def own_package_imports(graph: Dict[str, Set[str]]) -> List[str]:
    """Modules importing a package that contains them: that runs the
    package's ``__init__`` half-way through, and the names it has not bound
    yet are missing."""
    return sorted(f'{module} imports {target}'
                  for module, targets in graph.items() for target in targets
                  if module.startswith(f'{target}.'))


def layer_violations(graph: Dict[str, Set[str]]) -> List[str]:
    """Imports of a room of a higher layer of :data:`LAYERS`, and rooms
    :data:`LAYERS` does not place."""
    layer_of = {name: level for level, names in enumerate(LAYERS)
                for name in names}
    unplaced = {room(module) for module in graph} - {''} - set(layer_of)
    upward = sorted(
        f'{module} imports {target}'
        for module, targets in graph.items() if room(module) in layer_of
        for target in targets if room(target) in layer_of
        and layer_of[room(target)] > layer_of[room(module)])
    return [f'{name} has no layer in LAYERS'
            for name in sorted(unplaced)] + upward


def read_graph(root: Path) -> Dict[str, Set[str]]:
    """Module -> the package's modules it imports, for the package folder
    ``root``."""
    modules = package_modules(root)
    return {name: set(imported_modules(name, path, modules))
            for name, path in modules.items()}


@pytest.fixture(scope='module')
def graph() -> Dict[str, Set[str]]:
    """The installed package's import graph."""
    return read_graph(Path(importlib.util.find_spec(PACKAGE).origin).parent)


def test_the_graph_is_read(tmp_path):
    # What the checks below rely on, on a small made-up package.
    sources = {
        '__init__.py': 'from . import models\n',
        'errors.py': '',
        'cli/__init__.py': '',
        'models/__init__.py': ('from .base import Base\n'
                               'import convnext_dense\n'),
        'models/base.py': ('from convnext_dense.errors import ConfigError\n'
                           'def f():\n    from .. import cli\n'),
    }
    for name, source in sources.items():
        (tmp_path / PACKAGE / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / PACKAGE / name).write_text(source)
    made_up = read_graph(tmp_path / PACKAGE)
    assert made_up == {
        'convnext_dense': {'convnext_dense.models'},
        'convnext_dense.errors': set(),
        'convnext_dense.cli': set(),
        'convnext_dense.models': {'convnext_dense.models.base',
                                  'convnext_dense'},
        'convnext_dense.models.base': {'convnext_dense.errors',
                                       'convnext_dense.cli'},
    }
    assert own_package_imports(made_up) == [
        'convnext_dense.models imports convnext_dense']
    assert find_cycle(made_up) == [
        'convnext_dense', 'convnext_dense.models', 'convnext_dense']
    assert find_cycle({'a': {'b', 'c'}, 'b': {'c'}, 'c': set()}) == []
    assert layer_violations(made_up) == [
        'convnext_dense.models.base imports convnext_dense.cli']


def test_no_module_imports_its_own_package(graph):
    assert own_package_imports(graph) == []


def test_no_import_cycle(graph):
    assert find_cycle(graph) == []


def test_rooms_import_only_their_own_or_lower_layers(graph):
    assert layer_violations(graph) == []
