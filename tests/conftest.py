"""Shared test fixtures: the captured API responses, the real database servers, and
``poller.cli.main`` run in-process against `responses`-mocked endpoints (helpers: support.py).

Real servers come from environment variables so a user without them still gets a green run;
CI sets OSRS_REQUIRE_SERVICES=1 so that a missing server fails instead of skipping.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import responses

from poller.cli import main

from support import DISCORD, HISCORES, Run, logging_restored

SHARED_FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"


def _need(var: str, what: str) -> str:
    value = os.environ.get(var, "")
    if not value:
        reason = f"{what} tests need {var} (e.g. set by .ci/run)"
        if os.environ.get("OSRS_REQUIRE_SERVICES") == "1":
            pytest.fail(f"OSRS_REQUIRE_SERVICES=1 but {reason}")
        pytest.skip(reason)
    return value


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """../shared/fixtures beside the checkout; absent in a user's fresh clone."""
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"captured API responses not present at {SHARED_FIXTURES}")
    return SHARED_FIXTURES


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return _need("OSRS_TEST_POSTGRES_URL", "PostgreSQL")


@pytest.fixture(scope="session")
def redis_url() -> str:
    return _need("OSRS_TEST_REDIS_URL", "Redis")


@pytest.fixture(scope="session")
def wheel_path() -> Path:
    """The built wheel (.ci/run builds it and sets OSRS_NOTIFY_WHEEL)."""
    path = Path(_need("OSRS_NOTIFY_WHEEL", "Packaging"))
    if not path.is_file():
        pytest.fail(f"OSRS_NOTIFY_WHEEL={path} is not a file")
    return path


# -- poller.cli.main in-process, against `responses`-mocked endpoints ----------------------------


@pytest.fixture
def main_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A clean environment in tmp_path pointing at the fake hiscores and Discord, with the rate
    limit lifted and no HTTP cache; root logging restored after main() rewired it."""
    monkeypatch.chdir(tmp_path)
    for var in ("OSRS_NOTIFY_CONFIG", "DATABASE_URL", "REDIS_URL", "OSRS_API_KEY",
                "OSRS_PRICES_ENDPOINT", "CLAN_URL", "OSRS_METRICS_FILE"):
        monkeypatch.delenv(var, raising=False)
    # The HTTP cache would serve a test's second poll the first poll's body.
    monkeypatch.setenv("OSRS_CACHE_TTL", "0")
    monkeypatch.setenv("OSRS_API_ENDPOINT", HISCORES)
    monkeypatch.setenv("OSRS_RATE_LIMIT", "6000")
    monkeypatch.setenv("DISCORD_API_BASE", DISCORD)
    with logging_restored():
        yield


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    """Calls ``poller.cli.main(argv)``; its exit code and what it printed."""

    def invoke(*argv: str) -> Run:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            main(list(argv))
        code = exit_info.value.code
        captured = capsys.readouterr()
        return Run(0 if code is None else int(code), captured.out, captured.err)

    return invoke


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
