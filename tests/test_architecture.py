"""The package's static import graph: no import cycle between modules, no upward import.

Rule. Every ``import`` statement in every module of ``tagrank`` (the folders ``tagrank/``,
``baselines/``, ``hybrid/``, ``eval/`` and ``eval/tasks/``) is read with :mod:`ast`, at
module level AND inside functions and classes (a function-level import is still a
dependency a reader has to follow); imports under ``if TYPE_CHECKING:`` are left out (they
never run). ``from P import N`` depends on the module ``P.N`` when that is a module, else on
``P``; importing ``a.b.c`` also runs ``a`` and ``a.b``, but the edges counted are to the named
module only (package ``__init__`` files here import nothing of their own package). Imports
made by name at run time (``importlib.import_module("...")``, entry points) are not
statements and are not counted: the method registry reads its plugins that way on purpose.

The test fails on (1) any cycle in that graph, naming the modules of the cycle, and (2) any
import against the layering ``eval -> hybrid -> baselines``: ``baselines`` imports neither
``hybrid`` nor ``eval``, ``hybrid`` does not import ``eval``. ``tagrank/__init__.py`` is the
lazy facade above all three and is the only module allowed to name every layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: package name -> folder in the repository (setup.cfg's package_dir)
PACKAGES = {
    "tagrank": ROOT / "tagrank",
    "tagrank.baselines": ROOT / "baselines",
    "tagrank.hybrid": ROOT / "hybrid",
    "tagrank.eval": ROOT / "eval",
    "tagrank.eval.tasks": ROOT / "eval" / "tasks",
}
#: layer -> the layers it must never import
FORBIDDEN = {
    "tagrank.baselines": ("tagrank.hybrid", "tagrank.eval"),
    "tagrank.hybrid": ("tagrank.eval",),
}


def modules() -> dict[str, Path]:
    """Every module of the package: dotted name -> file."""
    out = {}
    for package, folder in PACKAGES.items():
        for path in sorted(folder.glob("*.py")):
            out[package if path.stem == "__init__" else f"{package}.{path.stem}"] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, name: str, is_package: bool) -> list[tuple[str, int]]:
    """(imported dotted name, line) of every import statement, TYPE_CHECKING blocks left out."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                found.append((f"{module}.{alias.name}", node.lineno))
                found.append((module, node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {module of the package it imports: first line}."""
    mods = modules()
    graph: dict[str, dict[str, int]] = {}
    for name, path in mods.items():
        edges: dict[str, int] = {}
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for target, line in _imports(tree, name, path.stem == "__init__"):
            if target in mods and target != name:
                edges.setdefault(target, line)
        # ``from P import N`` where N is a module: the edge to P itself is only the package
        graph[name] = edges
    return graph


def find_cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strongconnect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return out


def _layer(module: str) -> str | None:
    for layer in ("tagrank.baselines", "tagrank.hybrid", "tagrank.eval"):
        if module == layer or module.startswith(layer + "."):
            return layer
    return None


def test_the_walk_sees_the_whole_package():
    graph = import_graph()
    assert "tagrank.eval.tasks.search" in graph and "tagrank.baselines.tfidf" in graph
    assert "tagrank.eval.tasks.common" in graph["tagrank.eval.tasks.search"]
    # a function-level import counts: the taxonomy task imports the categoriser inside run()
    assert "tagrank.hybrid.categoriser" in graph["tagrank.eval.tasks.taxonomy"]


def test_finds_a_planted_cycle():
    graph = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}
    assert find_cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycle():
    graph = import_graph()
    cycles = find_cycles(graph)
    if cycles:
        lines = []
        for component in cycles:
            members = set(component)
            lines.append(" <-> ".join(component))
            lines += [f"    {m} imports {t} (line {line})" for m in component
                      for t, line in sorted(graph[m].items()) if t in members]
        pytest.fail("import cycle(s) between modules:\n" + "\n".join(lines))


def test_no_upward_import():
    bad = []
    for module, edges in import_graph().items():
        for target, line in edges.items():
            if _layer(target) in FORBIDDEN.get(_layer(module) or "", ()):
                bad.append(f"{module} imports {target} (line {line})")
    assert not bad, "imports against eval -> hybrid -> baselines:\n" + "\n".join(bad)
