"""peewee models over the tables :mod:`.migrations` creates.

The migrations own the DDL (frozen SQL, one version at a time); these classes only describe the
current columns for queries and value conversion, so changing a model never changes a schema
behind a migration's back. Models are built per database by :func:`make_models`, because two
stores open in one process (tests, or a SQLite export from PostgreSQL) must not share a global
binding.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ._peewee import peewee as pw


def to_db_time(value: datetime | None, as_text: bool) -> Any:
    """UTC, stored without a zone: aware values are converted, naive ones are taken as UTC.

    SQLite gets fixed-width text (always with microseconds) so that string comparison in SQL
    orders like time; PostgreSQL gets a naive datetime for its TIMESTAMP columns.
    """
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds") if as_text else value


def from_db_time(value: Any) -> datetime | None:
    """Whatever the driver returned → an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


class UTCDateTimeField(pw.FieldDatabaseHook, pw.DateTimeField):  # type: ignore[misc,name-defined]
    """A DATETIME/TIMESTAMP column that reads back aware UTC and sorts correctly on SQLite."""

    _as_text = True

    def _db_hook(self, database: Any) -> None:
        self._as_text = database is None or isinstance(database, pw.SqliteDatabase)

    def db_value(self, value: Any) -> Any:
        return to_db_time(value, self._as_text)

    def python_value(self, value: Any) -> Any:
        return from_db_time(value)


class BytesField(pw.BlobField):  # type: ignore[misc,name-defined]
    """BLOB/BYTEA that always reads back as ``bytes`` (psycopg2 returns memoryview)."""

    def python_value(self, value: Any) -> Any:
        return None if value is None else bytes(value)


@dataclass(frozen=True)
class Models:
    MetaEntry: Any
    Player: Any
    Snapshot: Any
    Event: Any
    Delivery: Any
    Anomaly: Any
    WebhookState: Any
    Attempt: Any
    Item: Any
    PriceSample: Any
    WatchState: Any
    Run: Any


def make_models(db: pw.Database) -> Models:
    class Base(pw.Model):  # type: ignore[misc,name-defined]
        class Meta:
            database = db

    class MetaEntry(Base):
        key = pw.TextField(primary_key=True)
        value = pw.TextField()

        class Meta:
            table_name = "meta"

    class Player(Base):
        id = pw.AutoField()
        key = pw.TextField(unique=True)
        name = pw.TextField()
        mode = pw.TextField()
        active = pw.BooleanField()
        created_at = UTCDateTimeField()
        last_polled_at = UTCDateTimeField(null=True)
        last_changed_at = UTCDateTimeField(null=True)
        # A plain column here: player ↔ snapshot reference each other, and the constraint
        # lives in the DDL; joins name it explicitly.
        last_snapshot_id = pw.IntegerField(null=True)
        reference = BytesField(null=True)
        status = pw.TextField()
        not_found_streak = pw.IntegerField()
        last_error = pw.TextField(null=True)
        renamed_to = pw.TextField(null=True)
        lease_until = UTCDateTimeField(null=True)
        lease_owner = pw.TextField(null=True)

        class Meta:
            table_name = "player"

    class Snapshot(Base):
        id = pw.AutoField()
        player = pw.ForeignKeyField(Player, column_name="player_id", lazy_load=False)
        taken_at = UTCDateTimeField()
        data = BytesField()

        class Meta:
            table_name = "snapshot"

    class Event(Base):
        id = pw.AutoField()
        player = pw.ForeignKeyField(Player, column_name="player_id", null=True, lazy_load=False)
        snapshot = pw.ForeignKeyField(
            Snapshot, column_name="snapshot_id", null=True, lazy_load=False
        )
        kind = pw.TextField()
        payload = pw.TextField()
        created_at = UTCDateTimeField()

        class Meta:
            table_name = "event"

    class Delivery(Base):
        id = pw.AutoField()
        event = pw.ForeignKeyField(Event, column_name="event_id", lazy_load=False)
        webhook = pw.TextField()
        status = pw.TextField()
        attempts = pw.IntegerField()
        next_attempt_at = UTCDateTimeField()
        last_error = pw.TextField(null=True)
        created_at = UTCDateTimeField()
        sent_at = UTCDateTimeField(null=True)
        lease_until = UTCDateTimeField(null=True)
        lease_owner = pw.TextField(null=True)

        class Meta:
            table_name = "delivery"

    class Anomaly(Base):
        id = pw.AutoField()
        player = pw.ForeignKeyField(Player, column_name="player_id", lazy_load=False)
        taken_at = UTCDateTimeField()
        metric = pw.TextField()
        old = pw.BigIntegerField()
        new = pw.BigIntegerField()
        created_at = UTCDateTimeField()
        reviewed = pw.BooleanField()
        reason = pw.TextField(null=True)

        class Meta:
            table_name = "anomaly"

    class WebhookState(Base):
        name = pw.TextField(primary_key=True)
        disabled = pw.BooleanField()
        reason = pw.TextField(null=True)
        address_hash = pw.TextField(null=True)
        changed_at = UTCDateTimeField()

        class Meta:
            table_name = "webhook_state"

    class Attempt(Base):
        id = pw.AutoField()
        webhook = pw.TextField()
        at = UTCDateTimeField()
        outcome = pw.TextField()
        status_code = pw.IntegerField(null=True)
        error = pw.TextField(null=True)
        elapsed_ms = pw.IntegerField()
        deliveries = pw.IntegerField()
        first_delivery_id = pw.IntegerField(null=True)

        class Meta:
            table_name = "attempt"

    class Item(Base):
        id = pw.IntegerField(primary_key=True)
        name = pw.TextField()
        name_key = pw.TextField()
        members = pw.BooleanField()
        buy_limit = pw.IntegerField(null=True)
        value = pw.IntegerField(null=True)
        highalch = pw.IntegerField(null=True)
        lowalch = pw.IntegerField(null=True)
        icon = pw.TextField(null=True)
        examine = pw.TextField(null=True)
        updated_at = UTCDateTimeField()

        class Meta:
            table_name = "item"

    class PriceSample(Base):
        id = pw.AutoField()
        item_id = pw.IntegerField()
        at = UTCDateTimeField()
        high = pw.BigIntegerField(null=True)
        low = pw.BigIntegerField(null=True)
        average = pw.BigIntegerField(null=True)

        class Meta:
            table_name = "price_sample"

    class WatchState(Base):
        key = pw.TextField(primary_key=True)
        item_id = pw.IntegerField()
        state = pw.TextField()  # JSON of alerts.WatchState
        updated_at = UTCDateTimeField()

        class Meta:
            table_name = "watch_state"

    class Run(Base):
        id = pw.AutoField()
        kind = pw.TextField()
        started_at = UTCDateTimeField()
        finished_at = UTCDateTimeField()
        host = pw.TextField(null=True)
        metrics = pw.TextField()  # JSON

        class Meta:
            table_name = "run"

    return Models(
        MetaEntry, Player, Snapshot, Event, Delivery, Anomaly, WebhookState, Attempt,
        Item, PriceSample, WatchState, Run,
    )
