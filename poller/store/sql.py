"""The few raw-SQL helpers the batch paths share: one placeholder style, one time format, the
fastest ``executemany`` each driver has, and ids allocated before the rows exist."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from ._peewee import peewee as pw
from .backend import psycopg2_module
from .models import to_db_time

# Rows per IN (...) list / per multi-row statement: under SQLite's oldest variable limit (999).
CHUNK = 500

# peewee's context manager that turns driver errors into peewee's exception classes, for the
# statements we run on the raw cursor. (Looked up by string: a dunder name written inside a
# class body would be mangled.)
driver_errors = vars(pw)["__exception_wrapper__"]


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Sql:
    def __init__(self, db: pw.Database) -> None:
        self.db = db
        self.sqlite = isinstance(db, pw.SqliteDatabase)

    def t(self, value: datetime | None) -> Any:
        return to_db_time(value, self.sqlite)

    def q(self, text: str) -> str:
        """Statements are written with ``?``; psycopg2 wants ``%s``."""
        return text if self.sqlite else text.replace("?", "%s")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.db.execute_sql(self.q(sql), params)

    def select_in(self, sql: str, ids: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Run ``sql`` (ending in ``IN ({})``) for ``ids`` in chunks; all rows."""
        rows: list[tuple[Any, ...]] = []
        for chunk in chunks(ids):
            marks = ", ".join("?" * len(chunk))
            rows += self.execute(sql.format(marks), chunk).fetchall()
        return rows

    def many(self, sql: str, rows: Sequence[Sequence[Any]], *, insert: bool = False) -> None:
        """One statement for many rows, the fast way each driver offers."""
        if not rows:
            return
        with driver_errors:
            cursor = self.db.cursor()
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
