"""Shared test fixtures: the captured API responses and the real database servers.

Real servers come from environment variables so a user without them still gets a green run;
CI sets OSRS_REQUIRE_SERVICES=1 so that a missing server fails instead of skipping.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
