"""The ``meta`` table: small values kept per database (the schema version lives there too, read
by :mod:`.migrations`), counters several processes bump together, and a random fraction every
process sharing the database agrees on."""

from __future__ import annotations

import random

from .db import Db

_INSERT = 'INSERT INTO meta ("key", value) VALUES (?, ?) ON CONFLICT ("key") DO NOTHING'


def get(db: Db, key: str) -> str | None:
    M = db.models.MetaEntry
    row = M.get_or_none(M.key == key)
    return None if row is None else str(row.value)


def put(db: Db, key: str, value: str | None) -> None:
    """Set ``key`` (``None`` deletes it)."""
    M = db.models.MetaEntry
    if value is None:
        M.delete().where(M.key == key).execute()
    elif M.update(value=value).where(M.key == key).execute() == 0:
        M.insert(key=key, value=value).execute()


def bump(db: Db, key: str, amount: int) -> None:
    """Add ``amount`` to the integer under ``key`` (0 when missing). One ``UPDATE … SET value =
    value + n`` that SQLite and PostgreSQL both apply atomically, so processes sharing the
    database count correctly; inside the caller's transaction."""
    db.execute(_INSERT, (key, "0"))
    db.execute(
        'UPDATE meta SET value = CAST(CAST(value AS BIGINT) + ? AS TEXT) WHERE "key" = ?',
        (amount, key),
    )


def shared_fraction(db: Db, key: str) -> float:
    """A random number in [0, 1) chosen once per database and kept under ``key``: every process
    sharing the database reads the same one (the first to ask chooses it)."""
    value = f"{random.random():.6f}"
    with db.atomic():
        db.execute(_INSERT, [key, value])
        row = db.execute('SELECT value FROM meta WHERE "key" = ?', [key]).fetchone()
    try:
        fraction = float(row[0])
    except (TypeError, ValueError):
        return 0.0
    return fraction % 1.0
