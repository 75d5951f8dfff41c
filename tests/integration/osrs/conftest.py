"""Fixtures for the store-level integration tests: ``stores``, two stores (two processes, as
far as the database can tell) on one fresh database, SQLite and — when configured —
PostgreSQL in a schema of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from poller.store import Store, open_store

from support import pg_schema


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'c.db'}"
        return
    with pg_schema(request.getfixturevalue("postgres_url")) as schema_url:
        yield schema_url


@pytest.fixture
def stores(store_url: str) -> Iterator[tuple[Store, Store]]:
    one, two = open_store(store_url), open_store(store_url)
    try:
        yield one, two
    finally:
        one.close()
        two.close()
