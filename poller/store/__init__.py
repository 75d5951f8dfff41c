"""Persistence: players, snapshots, events and the delivery outbox (SQLite or PostgreSQL).

    store = open_store("sqlite:///osrs-notify.db")
    with store.lock("poll"):
        store.sync_players([("Lynx Titan", "regular")], now)
        players = store.active_players()
        store.record_poll([...])     # snapshots + events + deliveries, one transaction
    store.close()

Layout, each module importing only those above it:

- :mod:`.values` — the frozen values and errors callers see; :mod:`.orm` — peewee, lazily;
- :mod:`.backend` — URLs, connections, one-line errors; :mod:`.migrations` — versioned schema;
  :mod:`.locks` — run locks;
- :mod:`.models` — the models, bound per database; :mod:`.db` — :class:`~.db.Db`, the handle
  (database, dialect, bound models) every repository takes, and the error guard;
- repositories taking a ``Db``: :mod:`.polls` (record_poll's batch write), :mod:`.players`,
  :mod:`.outbox`, :mod:`.webhooks`, :mod:`.meta`, :mod:`.leases` (one generic claim),
  :mod:`.prices` (:class:`~.prices.PriceStore`), :mod:`.runs` (``store.runs``); :mod:`.sync`
  plans a config sync (pure);
- :mod:`.facade` — the :class:`Store`, composed here by :func:`open_store`.
"""

from __future__ import annotations

from typing import Any

from .backend import connect, database_error, parse_url, use_wal
from .db import Db
from .facade import Store
from .migrations import MIGRATIONS, current_version, migrate
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
    return Store(Db.bind(db, target))
