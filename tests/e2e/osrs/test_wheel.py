"""The package as users install it: a wheel, not an editable checkout.

An editable install imports straight from the source tree, so a module the wheel leaves out goes
unnoticed until a user's `poll` fails with `No module named ...` (a hand-written package list once
left `poller.store` out of every wheel). .ci/run builds the wheel, installs it into a fresh
virtualenv, points OSRS_NOTIFY_WHEEL at the file and OSRS_NOTIFY_COMMAND at the installed
`osrs-notify`, and runs these tests and the other end-to-end tests against that command.
"""

from __future__ import annotations

import os
import subprocess
import zipfile
from pathlib import Path

from support import osrs_notify_command

REPO = Path(__file__).resolve().parents[3]
PACKAGES = ("poller", "notifier")


def tree_modules() -> list[str]:
    """Every module file of the source tree, as a wheel names it (poller/store/leases.py)."""
    return sorted(
        path.relative_to(REPO).as_posix()
        for top in PACKAGES
        for path in (REPO / top).rglob("*.py")
        if "__pycache__" not in path.parts
    )


def test_the_tree_has_modules_below_the_top_level() -> None:
    # Guards the test below: a tree walk that found nothing would compare nothing.
    modules = tree_modules()
    assert "poller/cli/__init__.py" in modules
    assert any(m.count("/") >= 2 for m in modules), "expected sub-packages such as poller/store"


def test_the_wheel_holds_every_module_of_the_tree(wheel_path: Path) -> None:
    with zipfile.ZipFile(wheel_path) as wheel:
        names = set(wheel.namelist())
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        scripts = wheel.read(entry_points).decode()
    missing = [m for m in tree_modules() if m not in names]
    assert not missing, f"{wheel_path.name} lacks {missing}"
    assert "osrs-notify = poller.cli:main" in scripts


def test_the_installed_command_imports_every_module() -> None:
    """Imports every module with the interpreter the installed `osrs-notify` runs on, so a module
    or a dependency the install lacks fails here rather than on a user's first lazy import."""
    exe = Path(osrs_notify_command())
    shebang = exe.read_text(encoding="utf-8", errors="replace").splitlines()[0]
    interpreter = shebang.removeprefix("#!").strip()
    script = (
        "import importlib, pkgutil\n"
        "import poller, notifier\n"
        "names = []\n"
        "for pkg in (poller, notifier):\n"
        "    for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        if not info.name.endswith('__main__'):\n"
        "            importlib.import_module(info.name)\n"
        "            names.append(info.name)\n"
        "print(poller.__file__)\n"
        "print(len(names))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [interpreter, "-c", script], cwd=exe.parent, env=env, capture_output=True,
        text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    where, count = out.stdout.split()
    assert int(count) == len(tree_modules()) - 1 - len(PACKAGES)  # less __main__ and the tops
    if os.environ.get("OSRS_NOTIFY_COMMAND"):
        # The wheel's copy, not the checkout: otherwise this proves nothing about the wheel.
        assert not Path(where).resolve().is_relative_to(REPO), where


def test_the_installed_command_answers_help() -> None:
    out = subprocess.run(
        [osrs_notify_command(), "--help"], capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "poll" in out.stdout
