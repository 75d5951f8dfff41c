"""The handle every repository takes: one open database, its dialect and its bound models.

    db = Db.bind(database, target)
    with db.atomic():
        db.execute("UPDATE player SET active = ? WHERE id = ?", [False, 7])
        db.models.Player.select()...

Statements are written once with ``?`` placeholders and fixed-width UTC times (:meth:`Db.t`);
the batch paths use the fastest ``executemany`` each driver has and ids allocated before the
rows exist. :func:`guarded` turns a database failure leaving a public method into the one-line
:class:`StoreError` the CLI prints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from typing import Any, Protocol, TypeVar

from .backend import Target, database_error, from_the_database, psycopg2_module
from .models import Models, bind_models, to_db_time
from .orm import pw

# Rows per IN (...) list / per multi-row statement: under SQLite's oldest variable limit (999).
CHUNK = 500

F = TypeVar("F", bound=Callable[..., Any])


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def marks(n: int) -> str:
    """``?, ?, …`` for an ``IN (…)`` list of ``n`` values."""
    return ", ".join("?" * n)


@dataclass(frozen=True, slots=True)
class Db:
    """One open database as the repositories need it: the peewee database (connections,
    transactions), where it points (for messages and locks), the models bound to it, and its
    dialect. Shared by a Store and the objects built on it; holds no state of its own."""

    database: pw.Database
    target: Target
    models: Models
    sqlite: bool

    @classmethod
    def bind(cls, database: pw.Database, target: Target) -> Db:
        return cls(database, target, bind_models(database),
                   isinstance(database, pw.SqliteDatabase))

    # -- transactions and connections ------------------------------------------------------

    def atomic(self) -> AbstractContextManager[Any]:
        """A transaction, or a savepoint inside one (SQLite ones begin IMMEDIATE)."""
        return self.database.atomic()

    def in_transaction(self) -> bool:
        return bool(self.database.in_transaction())

    def close(self) -> None:
        if not self.database.is_closed():
            self.database.close()

    def drop_broken_connection(self) -> None:
        """After a failure: if the server connection is dead (PostgreSQL restarted, network
        cut), forget it so the next call reconnects instead of failing forever in `run`."""
        database = self.database
        try:
            if (database.is_closed() or database.in_transaction()
                    or database.is_connection_usable()):
                return
            database.close()
        except Exception:  # closing a dead connection may itself fail: just forget it
            database.dispose()

    # -- raw SQL ---------------------------------------------------------------------------

    def t(self, value: datetime | None) -> Any:
        """A time as this database stores it (see :func:`.models.to_db_time`)."""
        return to_db_time(value, self.sqlite)

    def q(self, text: str) -> str:
        """Statements are written with ``?``; psycopg2 wants ``%s``."""
        return text if self.sqlite else text.replace("?", "%s")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.database.execute_sql(self.q(sql), params)

    def select_in(self, sql: str, ids: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Run ``sql`` (ending in ``IN ({})``) for ``ids`` in chunks; all rows."""
        rows: list[tuple[Any, ...]] = []
        for chunk in chunks(ids):
            rows += self.execute(sql.format(marks(len(chunk))), chunk).fetchall()
        return rows

    def many(self, sql: str, rows: Sequence[Sequence[Any]], *, insert: bool = False) -> None:
        """One statement for many rows, the fast way each driver offers. The driver's own
        errors leave as they are: :func:`guarded` knows both drivers' exception classes."""
        if not rows:
            return
        cursor = self.database.cursor()
        if self.sqlite:
            cursor.executemany(sql, rows)  # compiled once, stepped per row in C
            return
        extras = psycopg2_module().extras
        if insert:
            # "VALUES (?, ?)" → one multi-row VALUES list per page: a round trip per page.
            head, _, values = sql.partition(" VALUES ")
            template = values.replace("?", "%s")
            extras.execute_values(cursor, f"{head} VALUES %s", rows, template, page_size=CHUNK)
        else:
            extras.execute_batch(cursor, sql.replace("?", "%s"), rows, page_size=100)

    def allocate_ids(self, table: str, count: int) -> list[int]:
        """Ids for rows about to be inserted in the current transaction, so child rows can
        point at them without a round trip per row."""
        if count == 0:
            return []
        if self.sqlite:
            # Transactions begin IMMEDIATE, so no other writer can take these ids meanwhile.
            (top,) = self.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()
            return list(range(top + 1, top + 1 + count))
        cur = self.execute(
            "SELECT nextval(pg_get_serial_sequence(?, 'id')) FROM generate_series(1, ?)",
            (table, count),
        )
        return [row[0] for row in cur.fetchall()]

    def count_rows(self, tables: Sequence[str]) -> dict[str, int]:
        """Rows per table (for ``stats`` and tests)."""
        return {t: int(self.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in tables}


class HasDb(Protocol):
    """What :func:`guarded` methods live on: an object holding its :class:`Db`."""

    @property
    def db(self) -> Db: ...


def guarded(method: F) -> F:
    """Decorate the public methods of the store's objects (each has a public ``db``): a
    database failure leaves as a one-line StoreError with secrets scrubbed (the CLI prints it),
    and a broken connection is dropped so the next call reconnects."""

    @wraps(method)
    def wrapper(self: HasDb, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            if not from_the_database(exc):
                raise
            db = self.db
            db.drop_broken_connection()
            raise database_error(exc, db.target, f"database error on {db.target.masked}") from exc

    return wrapper  # type: ignore[return-value]
