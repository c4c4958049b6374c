"""The package imports cleanly and its import graph has no cycles: every nam_core module imports on its own, and
the module-level imports between nam_core modules (read from the source, so a cycle hidden by import order is
still caught) form a DAG. Imports inside functions are allowed to reach back (they run later), but those that form
a cycle are listed too, so that a deferred import is a choice, not a workaround."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import nam_core

ROOT = Path(nam_core.__file__).resolve().parent
# deferred imports that reach a module which imports this one back (kept deliberately: a leaf that asks the
# checkpoints folder, etc.); each is (importer, imported)
DEFERRED_BACK_EDGES: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = sorted(_module_name(p) for p in ROOT.rglob("*.py"))


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _edges(deferred: bool) -> dict[str, set[str]]:
    """module → the nam_core modules it imports (at module level, or only those inside functions)."""
    known = set(MODULES)
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for path in ROOT.rglob("*.py"):
        mod = _module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = set(tree.body)
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            if (node in top) == deferred:
                continue
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = _resolve(mod, path.name == "__init__.py", node)
                # "from . import x" / "from .pkg import mod" name modules; otherwise the names come from base
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
            for t in targets:
                while t and t not in known:
                    t = t.rpartition(".")[0]
                if t.startswith("nam_core") and t != mod:
                    graph[mod].add(t)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_module_level_imports_have_no_cycles() -> None:
    assert _cycles(_edges(deferred=False)) == []


def test_deferred_imports_close_no_cycle_unless_listed() -> None:
    top = _edges(deferred=False)
    late = _edges(deferred=True)
    both = {m: top[m] | late[m] for m in top}
    back = {(a, b) for comp in _cycles(both) for a in comp for b in late[a] if b in comp}
    assert back <= DEFERRED_BACK_EDGES, f"deferred imports that close a cycle: {sorted(back - DEFERRED_BACK_EDGES)}"


def test_the_graph_is_read() -> None:
    """The checker sees the imports it should (else an empty graph would pass)."""
    g = _edges(deferred=False)
    assert "nam_core.methods.registry" in g["nam_core.methods.nam"]
    assert "nam_core.serving.feedforward" in g["nam_core.serving.translator"]
    assert "nam_core.methods.gan_base" in g["nam_core.methods.cyclegan"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]


@pytest.mark.parametrize("module", MODULES)
def test_every_module_imports(module: str) -> None:
    importlib.import_module(module)
