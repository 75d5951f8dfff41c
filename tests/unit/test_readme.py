"""The README's two set-up commands are a promise: keep them and CI in step."""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
FIRST_SCREEN = "\n".join(README.splitlines()[:30])


def _commands() -> list[str]:
    block = re.search(r"```sh\n(.*?)```", FIRST_SCREEN, re.S)
    assert block, "the README's first screen has no ```sh block"
    return [ln for ln in block.group(1).splitlines() if ln and not ln.startswith("#")]


def test_first_screen_has_exactly_two_setup_commands() -> None:
    install_and_run, install_and_test = _commands()
    assert "pip install" in install_and_run and "osrs-notify" in install_and_run
    assert "config/osrs-notify.example.toml" in install_and_run
    assert " poll" in install_and_run
    assert "pytest" in install_and_test and "[test]" in install_and_test


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert _commands()[1] in ci.splitlines()


def test_the_example_config_the_readme_runs_exists() -> None:
    assert (ROOT / "config" / "osrs-notify.example.toml").is_file()
    assert (ROOT / "config" / ".env.example").is_file()


def test_console_script_and_dependencies_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["osrs-notify"] == "poller.cli:main"
    deps = " ".join(project["dependencies"]).lower()
    for name in ("apscheduler", "requests", "requests-cache", "peewee", "redis", "python-dotenv"):
        assert name in deps
    assert "apscheduler>=3.10,<4" in deps
