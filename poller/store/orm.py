"""peewee, imported without the database drivers it would otherwise load eagerly.

peewee imports psycopg2 (and psycopg, pymysql, MySQLdb) at import time when they are installed,
which costs a cron run on SQLite ~15-20 ms for nothing. Hiding the drivers while peewee loads
makes it record "not installed"; :mod:`.backend` then brings psycopg2 in itself, through its
own adapter, only when a PostgreSQL URL is opened. If something imported peewee before us,
the drivers are already loaded and this is a no-op: the store works either way.

Every store module takes peewee from here (``from .orm import pw``), never directly.
"""

from __future__ import annotations

from ..imports import import_without

pw = import_without("peewee", ("psycopg2", "psycopg", "pymysql", "MySQLdb"))
