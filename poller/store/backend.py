"""Database URLs → connected peewee databases, with errors fit for one line.

URLs accepted (anything else is a :class:`StoreError`):

- ``sqlite:///relative.db`` (relative to the working directory), ``sqlite:////abs/path.db``,
  ``sqlite:///:memory:``;
- ``postgresql://user:pass@host:port/db`` or ``postgres://…``. libpq reads query parameters,
  so ``?options=-c%20search_path%3Dmy_schema`` selects a schema; keyword arguments given to
  :func:`poller.store.open_store` are passed to ``psycopg2.connect`` and win over the URL.

psycopg2 is imported only here, and only for a PostgreSQL URL.
"""

from __future__ import annotations

import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

from ..errors import one_line
from ..redact import mask_dsn, scrub
from .orm import pw
from .values import DatabaseFull, StoreError

SQLITE_BUSY_TIMEOUT_MS = 5000
PG_CONNECT_TIMEOUT_S = 10

# The first 16 bytes of every SQLite database file (https://sqlite.org/fileformat.html).
SQLITE_HEADER = b"SQLite format 3\x00"

# SQLite's own words (sqlite3_errstr) for a full disk and a damaged file, and PostgreSQL's
# SQLSTATE and errno text for a full disk: matched on the text because peewee re-raises driver
# errors under its own classes and only the message is common to every wrapping.
_SQLITE_FULL = "database or disk is full"
_SQLITE_DAMAGED = ("database disk image is malformed", "file is not a database")
_PG_DISK_FULL = "53100"
_NO_SPACE = "No space left on device"
# What a ROLLBACK says when SQLite has already rolled the transaction back by itself (as it does
# on a full disk): peewee's rollback on the way out then fails too, and that echo would be the
# error the user sees instead of the one that caused it.
_ROLLBACK_ECHOES = ("cannot rollback - no transaction is active", "no such savepoint")


@dataclass(frozen=True, slots=True)
class Target:
    """Where a URL points, resolved once (paths made absolute, scheme normalised)."""

    kind: Literal["sqlite", "postgresql"]
    location: str  # absolute SQLite path, ":memory:", or a postgresql:// DSN
    masked: str  # the URL as it may be shown to a user

    @property
    def memory(self) -> bool:
        return self.kind == "sqlite" and self.location == ":memory:"


def parse_url(url: str) -> Target:
    masked = mask_dsn(url)
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise StoreError(
            f"database URL {masked!r} has no scheme: use sqlite:///path.db or "
            "postgresql://user@host/db"
        )
    if scheme == "sqlite":
        return _sqlite_target(url, rest, masked)
    if scheme in ("postgresql", "postgres"):
        # libpq accepts both spellings, peewee only recognises "postgresql://" as a DSN.
        return Target("postgresql", "postgresql://" + rest, masked)
    raise StoreError(
        f"unsupported database URL scheme {scheme!r} in {masked!r}: use sqlite:///path.db "
        "or postgresql://user@host/db"
    )


def _sqlite_target(url: str, rest: str, masked: str) -> Target:
    host, slash, path = rest.partition("/")
    if host or not slash:
        raise StoreError(
            f"SQLite URL {masked!r} must look like sqlite:///relative.db or "
            "sqlite:////absolute/path.db (three slashes, no host)"
        )
    if "?" in path:
        raise StoreError(f"SQLite URL {masked!r}: query options are not supported")
    path = unquote(path)
    if not path:
        raise StoreError(f"SQLite URL {masked!r} names no database file")
    if path == ":memory:":
        return Target("sqlite", ":memory:", masked)
    file = Path(path).expanduser()
    file = file if file.is_absolute() else Path.cwd() / file
    if not file.parent.is_dir():
        raise StoreError(f"database directory {file.parent} does not exist (from {masked})")
    if file.is_dir():
        raise StoreError(f"database path {file} is a directory, not a file (from {masked})")
    return Target("sqlite", str(file), masked)


def connect(target: Target, **connect_kwargs: Any) -> pw.Database:
    """A connected peewee database for ``target``; every failure is a one-line StoreError."""
    if target.kind == "sqlite":
        if connect_kwargs:
            raise StoreError(f"SQLite takes no connection options (got {sorted(connect_kwargs)})")
        if not target.memory:
            check_sqlite_file(Path(target.location))
        db: pw.Database = _sqlite(target)
    else:
        db = _postgres(target, connect_kwargs)
    try:
        db.connect()
    except Exception as exc:  # driver errors differ per backend; all mean "cannot open"
        raise database_error(exc, target, f"cannot open database {target.masked}") from None
    return db


def check_sqlite_file(file: Path) -> None:
    """Refuse, before SQLite opens it, a file that exists but is no database of ours to start:
    SQLite would take an empty file for a new database (and every player would be silently
    baselined again), and its "file is not a database" says nothing of what to do."""
    try:
        with file.open("rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return  # a new database: SQLite creates it
    except OSError as exc:
        raise StoreError(f"cannot read database file {file}: {exc.strerror or exc}") from None
    if not head:
        # Our own first run writes the header within microseconds of creating the file, so an
        # empty file is someone else's (`touch`, a failed copy or restore), not a fresh start.
        raise StoreError(
            f"database file {file} is empty (0 bytes), not an osrs-notify database: remove it "
            "to start a new database there, or point the database setting at the right file"
        )
    if head != SQLITE_HEADER:
        raise StoreError(
            f"database file {file} is not a SQLite database: point the database setting at "
            "the right file, or move this one aside to start a new database"
        )


def _sqlite(target: Target) -> pw.SqliteDatabase:
    pragmas: list[tuple[str, object]] = [
        ("foreign_keys", 1),
        ("busy_timeout", SQLITE_BUSY_TIMEOUT_MS),
    ]
    if not target.memory:
        # NORMAL is durable across an application crash (only an OS crash can lose the last
        # commit), and far faster. WAL is set by use_wal() once the file is known to be ours.
        pragmas.append(("synchronous", "normal"))
    return pw.SqliteDatabase(
        target.location,
        pragmas=pragmas,
        timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
        # Writers take the lock when they begin, not on their first write: a transaction
        # that read first and then fails to upgrade gets SQLITE_BUSY with no retry at all.
        lock_type="IMMEDIATE",
        # An in-memory database exists once per connection, so it must be one connection
        # shared by every thread rather than peewee's usual connection per thread.
        thread_safe=not target.memory,
        check_same_thread=not target.memory,
    )


def use_wal(db: pw.Database, target: Target) -> None:
    """WAL lets `players list` read while a poll writes. Set only after the schema check, since
    switching the journal mode writes to the file and a file that is not ours is left as it
    was; the mode is kept in the file, so every later connection (any thread's) uses it."""
    if target.kind == "sqlite" and not target.memory:
        db.execute_sql("PRAGMA journal_mode = wal")


def _postgres(target: Target, kwargs: dict[str, Any]) -> pw.PostgresqlDatabase:
    cls = _postgres_class()
    params = dict(kwargs)
    dsn = target.location
    if "connect_timeout" not in dsn:
        # A cron run must fail in seconds when the server is down, not hang for minutes.
        params.setdefault("connect_timeout", PG_CONNECT_TIMEOUT_S)
    if "application_name" not in dsn:
        params.setdefault("application_name", "osrs-notify")
    db: pw.PostgresqlDatabase = cls(dsn, **params)
    return db


_pg_class: type[pw.PostgresqlDatabase] | None = None


def psycopg2_module() -> Any:
    try:
        import psycopg2
        import psycopg2.extensions
        import psycopg2.extras  # noqa: F401  (execute_values / execute_batch for bulk writes)
    except ImportError:
        raise StoreError(
            "PostgreSQL URLs need the psycopg2 driver: pip install 'osrs-notify[postgres]'"
        ) from None
    return psycopg2


def _postgres_class() -> type[pw.PostgresqlDatabase]:
    """peewee's PostgresqlDatabase with an adapter that brings psycopg2 in on first use."""
    global _pg_class
    if _pg_class is not None:
        return _pg_class
    psycopg2 = psycopg2_module()
    ext = psycopg2.extensions

    class _Adapter(pw.Psycopg2Adapter):  # type: ignore[misc,name-defined]
        txn_idle = ext.TRANSACTION_STATUS_IDLE
        txn_inerror = ext.TRANSACTION_STATUS_INERROR
        txn_unknown = ext.TRANSACTION_STATUS_UNKNOWN

        def check_driver(self) -> None:
            return None

        def get_binary_type(self) -> Any:
            return psycopg2.Binary

        def connect(self, db: Any, **params: Any) -> Any:
            return psycopg2.connect(db.database, **params)

    class _Database(pw.PostgresqlDatabase):  # type: ignore[misc,name-defined]
        # peewee's own adapter uses the driver it saw at import time (none, when we hid it);
        # ours imports psycopg2 itself.
        psycopg2_adapter = _Adapter

    _pg_class = _Database
    return _Database


def first_cause(exc: BaseException) -> BaseException:
    """The error that started a failure rather than the failed ROLLBACK it provoked (see
    ``_ROLLBACK_ECHOES``): follows the implicit chain past each echo."""
    seen: set[int] = set()
    while exc.__context__ is not None and id(exc) not in seen:
        if not any(echo in str(exc) for echo in _ROLLBACK_ECHOES):
            break
        seen.add(id(exc))
        exc = exc.__context__
    return exc


def is_disk_full(exc: BaseException) -> bool:
    """Whether a database failure comes down to a full disk."""
    cause = first_cause(exc)
    return _disk_full(cause, one_line(cause, None))


def _disk_full(exc: BaseException, text: str) -> bool:
    if _SQLITE_FULL in text or _NO_SPACE in text:
        return True
    # peewee keeps the driver's exception as its first argument and as the implicit context.
    return any(
        getattr(e, "pgcode", None) == _PG_DISK_FULL for e in (exc, exc.__context__, *exc.args)
    )


def database_error(exc: BaseException, target: Target, context: str) -> StoreError:
    """One line for a database failure, scrubbed of secrets: a full disk or a damaged SQLite
    file named as such with what to do, anything else as ``context: driver text``."""
    cause = first_cause(exc)
    if isinstance(cause, StoreError):
        return cause  # already one line (a migration step that failed, say)
    text = scrub(one_line(cause, None), target.location)
    if _disk_full(cause, text):
        if target.kind == "postgresql":
            return DatabaseFull(
                f"the database server's disk is full ({text}): could not write to "
                f"{target.masked} (the failed write was undone); free space on the server "
                "and run again"
            )
        where = (
            "memory" if target.memory
            else f"space on the disk holding {Path(target.location).parent}"
        )
        return DatabaseFull(
            f"{_SQLITE_FULL}: could not write to {target.masked} (the failed write was "
            f"undone); free {where} and run again"
        )
    if target.kind == "sqlite" and any(damage in text for damage in _SQLITE_DAMAGED):
        return StoreError(
            f"database file {target.location} is damaged ({text}): restore it from a backup, "
            "or move it aside to start a new database"
        )
    return StoreError(f"{context}: {text}")


def from_the_database(exc: BaseException) -> bool:
    """peewee's errors, and the driver's own: rows fetched after ``execute_sql`` returned (a
    damaged page met mid-read, say) and the batch writes on the raw cursor raise outside
    peewee's wrapper."""
    if isinstance(exc, (pw.PeeweeException, sqlite3.Error)):
        return True
    psycopg2 = sys.modules.get("psycopg2")  # never imported just to ask
    return psycopg2 is not None and isinstance(exc, psycopg2.Error)
