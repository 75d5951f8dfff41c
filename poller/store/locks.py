"""Named run locks: one `poll` at a time per database, across processes.

- SQLite file: ``flock`` on ``<database>.lock`` (``<database>.<name>.lock`` for other names).
  The kernel drops it when the holder exits for any reason, so a crashed cron run never leaves
  a stale lock. The file stays behind on purpose: deleting it would let a newcomer lock a fresh
  inode while an old holder still holds the unlinked one.
- SQLite ``:memory:``: the database exists in this process only, so a process-local lock.
- PostgreSQL: ``pg_try_advisory_lock`` on a dedicated connection (never the pool's, whose
  transactions come and go); the server drops it when that connection ends, crash included.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .migrations import advisory_key
from .values import LockHeld, StoreError

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"lock name {name!r}: use letters, digits, '.', '_' or '-'")
    return name


def lock_path(db_path: str, name: str) -> str:
    return f"{db_path}.lock" if name == "poll" else f"{db_path}.{name}.lock"


@contextmanager
def file_lock(path: str, name: str) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: no flock; the scheduler and cron are Unix tools anyway
        raise StoreError("run locks need fcntl.flock (Linux, macOS, BSD)") from None
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"cannot create lock file {path}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            raise LockHeld(
                f"another osrs-notify {name!r} run holds {path}{holder}"
            ) from None
        # Who holds it, for the message the next run prints; purely informational.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _read_holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode().strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""


_memory_guard = threading.Lock()


@contextmanager
def memory_lock(locks: dict[str, threading.Lock], name: str) -> Iterator[None]:
    with _memory_guard:
        lock = locks.setdefault(name, threading.Lock())
    if not lock.acquire(blocking=False):
        raise LockHeld(f"another {name!r} run holds this in-memory database")
    try:
        yield
    finally:
        lock.release()


@contextmanager
def advisory_lock(dsn: str, params: dict[str, Any], name: str, where: str) -> Iterator[None]:
    from ..redact import scrub
    from .backend import psycopg2_module

    psycopg2 = psycopg2_module()
    try:
        conn = psycopg2.connect(dsn, **params)
    except psycopg2.Error as exc:
        text = scrub(" ".join(str(exc).split()), dsn)
        raise StoreError(f"cannot connect to {where} for the {name!r} lock: {text}") from None
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            # Per schema, so two installations sharing one database do not block each other.
            cur.execute("SELECT current_schema()")
            schema = cur.fetchone()[0]
            key = advisory_key(f"osrs-notify:lock:{schema}:{name}")
            cur.execute("SELECT pg_try_advisory_lock(%s)", (key,))
            if not cur.fetchone()[0]:
                raise LockHeld(f"another osrs-notify {name!r} run holds its lock on {where}")
        try:
            yield
        finally:
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT pg_advisory_unlock(%s)", (key,))
            except psycopg2.Error:
                pass  # closing the connection below releases it anyway
    finally:
        conn.close()
