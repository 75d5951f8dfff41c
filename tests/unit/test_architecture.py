"""The shape of the code, checked: data flows one way and each module keeps its own privates.

The import graph is computed with ``ast`` from every module of ``poller`` and ``notifier``,
counting imports inside functions (a lazy import is still a dependency). A cycle, the notifier
importing the poller, a module reading another's private names, or a module grown past the
size one person can hold in their head fails here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("poller", "notifier")
MAX_LINES = 480  # "no module over ~450 lines"


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for top in PACKAGES:
        for path in (ROOT / top).rglob("*.py"):
            if "__pycache__" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = modules()


def _package(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def imports(name: str, path: Path) -> Iterator[tuple[str, ast.AST, tuple[str, ...]]]:
    """(imported module, node, names imported from it) for every import in the module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _package(name, path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node, ()
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield target, node, tuple(a.name for a in node.names)


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for name, path in MODULES.items():
        for target, _, names in imports(name, path):
            # `from pkg import mod` depends on mod; `from pkg import thing` on pkg itself.
            submodules = {f"{target}.{n}" for n in names} & MODULES.keys()
            needs_package = not names or len(submodules) < len(names)
            for candidate in (*submodules, *([target] if needs_package else [])):
                if candidate in MODULES and candidate != name:
                    edges[name].add(candidate)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_walk_finds_the_modules_and_their_imports() -> None:
    # Guards the tests below: an empty graph would pass them all.
    edges = graph()
    assert "poller.cli" in MODULES or "poller.cli.__init__" in MODULES or any(
        m.startswith("poller.cli") for m in MODULES
    )
    assert sum(len(v) for v in edges.values()) > 50


def test_a_cycle_is_found_when_there_is_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    assert cycles(graph()) == []


def test_the_notifier_imports_nothing_from_the_poller() -> None:
    bad = [
        f"{name} imports {target}"
        for name, path in MODULES.items()
        if name.startswith("notifier")
        for target, _, _ in imports(name, path)
        if target == "poller" or target.startswith("poller.")
    ]
    assert bad == []


def test_no_module_reads_another_modules_private_names() -> None:
    bad: list[str] = []
    for name, path in MODULES.items():
        aliases: dict[str, str] = {}
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for target, node, names in imports(name, path):
            if target not in MODULES and not any(f"{target}.{n}" in MODULES for n in names):
                continue  # a library, not ours
            for alias in getattr(node, "names", []):
                imported = alias.name
                if imported.startswith("_") and not imported.startswith("__"):
                    bad.append(f"{name} imports {target}.{imported}")
                if isinstance(node, ast.ImportFrom) and f"{target}.{imported}" in MODULES:
                    aliases[alias.asname or imported] = f"{target}.{imported}"
                elif isinstance(node, ast.Import):
                    aliases[(alias.asname or imported).split(".")[0]] = imported
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
            ):
                bad.append(f"{name} reads {aliases[node.value.id]}.{node.attr}")
    assert sorted(set(bad)) == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_small(name: str) -> None:
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines"
