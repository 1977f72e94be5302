"""The package's structure, read from its source with ast (nothing is imported or run).

Commands (modules with ``if __name__ == "__main__":``, run as ``python -m locomt.X``) are the top
layer: no other module imports one, not even another command. Every other import runs one way:
the graph of imports between locomt modules has no cycle, counting every import statement: at module
level, inside functions (the imports a command makes in ``main`` once its arguments are checked) and
in ``if TYPE_CHECKING:`` blocks (a type named in an annotation is a dependency too: ``locomt.data``
names ``locomt.config.DataConfig``, so config may not import data). No module is over 400 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "locomt"
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(tree: ast.AST, name: str, is_package: bool) -> set[str]:
    """locomt modules imported anywhere in ``tree``, functions and ``if TYPE_CHECKING:`` blocks included
    (``from a import b`` counts ``a.b`` when it is a module)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for a in node.names:
                found.add(f"{mod}.{a.name}" if f"{mod}.{a.name}" in MODULES else mod)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {m for m in found if m in MODULES and m != name}


def _graph() -> tuple[dict[str, set[str]], set[str]]:
    graph, commands = {}, set()
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        graph[name] = _imports(tree, name, path.name == "__init__.py")
        if any(isinstance(n, ast.If) and isinstance(n.test, ast.Compare) and isinstance(n.test.left, ast.Name)
               and n.test.left.id == "__name__" for n in tree.body):
            commands.add(name)
    return graph, commands


GRAPH, COMMANDS = _graph()


def test_the_commands_are_found():
    assert {"locomt.train", "locomt.sweep", "locomt.report", "locomt.ablate", "locomt.prepare", "locomt.flops",
            "locomt.bench"} <= COMMANDS


def test_no_module_imports_a_command():
    bad = sorted(f"{a} imports the command {b}" for a, deps in GRAPH.items() for b in deps if b in COMMANDS)
    assert not bad, "; ".join(bad)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components: any component of more than one module is a cycle."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return found


def test_no_import_cycle():
    found = cycles(GRAPH)
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_size(name):
    n = len(MODULES[name].read_text().splitlines())
    assert n <= MAX_LINES, f"{MODULES[name]} has {n} lines; split it by concept (at most {MAX_LINES})"


def test_the_checks_can_fail(tmp_path):
    """The reader sees a function-level import, a relative one, and one in a TYPE_CHECKING block."""
    src = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import locomt.sweep\n"
           "def f():\n    from locomt import train\n    from . import report\n")
    found = _imports(ast.parse(src), "locomt.search.x", False)
    assert {"locomt.train", "locomt.sweep", "locomt.search.report"} <= found


def test_a_function_level_import_back_is_a_cycle():
    """The circle this test exists for: config checking the data section by importing the dataset
    registry inside a function, while data names config's DataConfig."""
    src = "def check(data):\n    from locomt.data.datasets import check_data\n    check_data(data)\n"
    graph = {**GRAPH, "locomt.config.schema": GRAPH["locomt.config.schema"]
             | _imports(ast.parse(src), "locomt.config.schema", False)}
    assert any(len(c) > 1 for c in cycles(graph))
    assert not cycles(GRAPH)
