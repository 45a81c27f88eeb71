"""The package's own modules import, and the import graph of `fermi_nb` has no cycle (function-local imports included)."""
import ast, importlib
from pathlib import Path

import pytest

import fermi_nb

PKG_DIR = Path(fermi_nb.__file__).parent
MODULES = sorted(p.stem for p in PKG_DIR.glob('*.py') if p.stem not in ('__init__', '_modidx'))


@pytest.mark.parametrize('name', MODULES)
def test_module_imports(name):
    importlib.import_module(f'fermi_nb.{name}')


def imported_modules(path: Path) -> set:
    "Names of the `fermi_nb` modules that the file at `path` imports anywhere (module level or inside functions)."
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split('.')
                if parts[0] == 'fermi_nb' and len(parts) > 1: found.add(parts[1])
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ''
            if node.level == 0 and not (mod == 'fermi_nb' or mod.startswith('fermi_nb.')): continue
            parts = [p for p in mod.split('.') if p and p != 'fermi_nb']
            if parts: found.add(parts[0])
            else: found.update(a.name for a in node.names)          # `from . import x` / `from fermi_nb import x`
    return {m for m in found if m in MODULES}


def import_graph() -> dict:
    return {name: imported_modules(PKG_DIR / f'{name}.py') - {name} for name in MODULES}


def find_cycle(graph: dict):
    "One cycle of `graph` as a list of module names, or None."
    state, stack = {}, []
    def visit(n):
        state[n] = 'open'; stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 'open': return stack[stack.index(m):] + [m]
            if m not in state and (c := visit(m)): return c
        state[n] = 'done'; stack.pop()
    for n in sorted(graph):
        if n not in state and (c := visit(n)): return c


def test_find_cycle_finds_one():
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']
    assert find_cycle({'a': {'b'}, 'b': set(), 'c': {'a', 'b'}}) is None


def test_import_graph_has_no_cycle():
    graph = import_graph()
    assert graph['sky'] and 'config' in graph['sky']          # the walk sees the package's own imports
    cycle = find_cycle(graph)
    assert cycle is None, 'import cycle in fermi_nb: ' + ' -> '.join(cycle)
