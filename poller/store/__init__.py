"""Persistence: players, snapshots, events and the delivery outbox (SQLite or PostgreSQL).

    store = open_store("sqlite:///osrs-notify.db")
    with store.lock("poll"):
        store.sync_players([("Lynx Titan", "regular")], now)
        players = store.active_players()
        store.record_poll([...])     # snapshots + events + deliveries, one transaction
    store.close()

Layout: :mod:`.values` (the frozen values and errors callers see), :mod:`.backend` (URLs and
connections), :mod:`.migrations` (versioned schema), :mod:`.models` (peewee models),
:mod:`.queries` (the :class:`Store`), :mod:`.locks` (run locks).
"""

from __future__ import annotations

from typing import Any

from .backend import connect, database_error, parse_url, use_wal
from .migrations import MIGRATIONS, current_version, migrate
from .queries import Store
from .values import (
    AnomalyRow,
    AttemptRow,
    DatabaseFull,
    EventRow,
    LockHeld,
    OutboxEntry,
    PendingDelivery,
    PlayerState,
    PollRecord,
    RecordStats,
    StoreError,
    SyncReport,
    WebhookState,
)

__all__ = [
    "MIGRATIONS",
    "AnomalyRow",
    "AttemptRow",
    "DatabaseFull",
    "EventRow",
    "LockHeld",
    "OutboxEntry",
    "PendingDelivery",
    "PlayerState",
    "PollRecord",
    "RecordStats",
    "Store",
    "StoreError",
    "SyncReport",
    "WebhookState",
    "current_version",
    "open_store",
]


def open_store(url: str, **connect_kwargs: Any) -> Store:
    """Open (creating or upgrading the schema as needed) the database at ``url``.

    ``connect_kwargs`` go to ``psycopg2.connect`` for PostgreSQL (e.g.
    ``options="-c search_path=osrs"``); SQLite takes none. Every failure — unknown scheme,
    missing directory, unreachable server, a schema from a newer release, a file or database
    that is not osrs-notify's (an empty file included: only a missing file or a database with
    no tables is new), a damaged file — is a one-line :class:`StoreError` with any password
    masked; a full disk is its subclass :class:`DatabaseFull`.
    """
    target = parse_url(url)
    db = connect(target, **connect_kwargs)
    try:
        migrate(db, target.masked)
        use_wal(db, target)
    except StoreError:
        db.close()
        raise
    except Exception as exc:
        db.close()
        raise database_error(exc, target, f"cannot prepare database {target.masked}") from exc
    return Store(db, target)
