"""How the CLI and the orchestration are laid out (issue #11): each command module imports only
click and the shared context up front, no module of theirs takes another's private names, and
no import cycle runs through them, counting imports inside functions."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
POLLER = ROOT / "poller"
# The orchestration: the commands, the one pass, run's jobs, schedule and wiring.
SLICE = ("poller.cli", "poller.passes", "poller.jobs", "poller.timing", "poller.scheduler")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(POLLER.rglob("*.py"))}


def imports(name: str, path: Path, everywhere: bool = True) -> list[tuple[str, list[str]]]:
    """(module, names) of each import in the file (only the top-level statements unless
    ``everywhere``), relative ones resolved."""
    tree = ast.parse(path.read_text())
    nodes = ast.walk(tree) if everywhere else iter(tree.body)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, list[str]]] = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            module = (f"{base}.{node.module}" if node.module else base) if node.level else (
                node.module or "")
            found.append((module, [a.name for a in node.names]))
    return found


def in_slice(name: str) -> bool:
    return any(name == s or name.startswith(s + ".") for s in SLICE)


def test_command_modules_import_only_click_and_the_context_up_front() -> None:
    for name, path in modules().items():
        if not name.startswith("poller.cli.") or name == "poller.cli.context":
            continue
        top = {m for m, _ in imports(name, path, everywhere=False)}
        # poller.names is the mode table `--mode` choices come from: standard library only.
        light = {"poller.cli.context", "poller.names"}
        heavy = {m for m in top if m.startswith(("poller", "notifier"))} - light
        assert not heavy, f"{name} imports {sorted(heavy)} at import time"


def test_no_private_names_across_modules() -> None:
    for name, path in modules().items():
        if not in_slice(name):
            continue
        for module, names in imports(name, path):
            private = [n for n in names if n.startswith("_") and n != "__version__"]
            assert not private, f"{name} imports {private} from {module}"
        assert "noqa: E402" not in path.read_text(), name


def test_no_import_cycle_through_the_commands_and_the_pass() -> None:
    mods = modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        for module, names in imports(name, path):
            for target in (module, *(f"{module}.{n}" for n in names)):
                if target in mods and target != name:
                    graph[name].add(target)

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            m = todo.pop()
            for n in graph[m]:
                if n == goal:
                    return True
                if n not in seen:
                    seen.add(n)
                    todo.append(n)
        return False

    cycles = sorted(m for m in mods if in_slice(m) and reaches(m, m))
    assert not cycles


@pytest.mark.parametrize("argv", [["--help"], ["poll", "--help"], ["run", "--help"]])
def test_help_loads_no_http_database_or_scheduler_library(argv: list[str]) -> None:
    code = ("import sys\nfrom poller.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('requests', 'peewee', 'apscheduler', 'poller.pipeline',\n"
            "         'poller.passes', 'poller.jobs') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
