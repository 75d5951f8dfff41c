"""Import peewee without the database drivers it would otherwise load eagerly.

peewee imports psycopg2 (and psycopg, pymysql, MySQLdb) at import time when they are installed,
which costs a cron run on SQLite ~15-20 ms for nothing. Hiding the drivers while peewee loads
makes it record "not installed"; :mod:`.backend` then brings psycopg2 in itself, through its
own adapter, only when a PostgreSQL URL is opened. If something imported peewee before us,
the drivers are already loaded and this is a no-op: the store works either way.
"""

from __future__ import annotations

import sys
from types import ModuleType

_EAGER_DRIVERS = ("psycopg2", "psycopg", "pymysql", "MySQLdb")


def _load() -> ModuleType:
    loaded = sys.modules.get("peewee")
    if loaded is not None:
        return loaded
    hidden = [name for name in _EAGER_DRIVERS if name not in sys.modules]
    for name in hidden:
        # A None entry makes "import name" raise ImportError without touching the disk.
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        import peewee
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
    return peewee


peewee = _load()
