"""peewee models over the tables :mod:`.migrations` creates, and their binding to a database.

The migrations own the DDL (frozen SQL, one version at a time); these classes only describe the
current columns for queries and value conversion, so changing a model never changes a schema
behind a migration's back. References between tables are plain integer columns here: the
constraints live in the DDL, and every join names its condition.

The classes below are bound to no database. :func:`bind_models` gives each open database its own
bound subclasses, because one process may hold several stores at once (tests, a SQLite export
from PostgreSQL, `run`'s jobs in threads): a single global binding, or a proxy re-pointed per
call, would let one store's query run on another's connection. Subclasses also let each column
learn its database's dialect once (text timestamps on SQLite, naive ``TIMESTAMP`` values on
PostgreSQL) when it is bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar, cast

from .orm import pw


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

    as_text = True

    def _db_hook(self, database: Any) -> None:  # peewee's hook, called when the model is bound
        self.as_text = database is None or isinstance(database, pw.SqliteDatabase)

    def db_value(self, value: Any) -> Any:
        return to_db_time(value, self.as_text)

    def python_value(self, value: Any) -> Any:
        return from_db_time(value)


class BytesField(pw.Field):  # type: ignore[misc,name-defined]
    """BLOB/BYTEA as ``bytes`` both ways: both drivers take bytes, and psycopg2's memoryview
    is turned back into bytes on reading."""

    field_type = "BLOB"

    def python_value(self, value: Any) -> Any:
        return None if value is None else bytes(value)


class Base(pw.Model):  # type: ignore[misc,name-defined]
    """Unbound: the classes below describe the columns; :func:`bind_models` binds them."""

    TABLE = ""  # the table each model reads and writes, named on the bound subclasses

    class Meta:
        database = None


class MetaEntry(Base):
    TABLE = "meta"

    key = pw.TextField(primary_key=True)
    value = pw.TextField()


class Player(Base):
    TABLE = "player"

    id = pw.AutoField()
    key = pw.TextField(unique=True)
    name = pw.TextField()
    mode = pw.TextField()
    active = pw.BooleanField()
    created_at = UTCDateTimeField()
    last_polled_at = UTCDateTimeField(null=True)
    last_changed_at = UTCDateTimeField(null=True)
    last_snapshot_id = pw.IntegerField(null=True)
    reference = BytesField(null=True)
    status = pw.TextField()
    not_found_streak = pw.IntegerField()
    last_error = pw.TextField(null=True)
    renamed_to = pw.TextField(null=True)
    lease_until = UTCDateTimeField(null=True)
    lease_owner = pw.TextField(null=True)
    account_type = pw.TextField(null=True)
    account_type_at = UTCDateTimeField(null=True)


class Snapshot(Base):
    TABLE = "snapshot"

    id = pw.AutoField()
    player_id = pw.IntegerField()
    taken_at = UTCDateTimeField()
    data = BytesField()


class Event(Base):
    TABLE = "event"

    id = pw.AutoField()
    player_id = pw.IntegerField(null=True)
    snapshot_id = pw.IntegerField(null=True)
    kind = pw.TextField()
    payload = pw.TextField()
    created_at = UTCDateTimeField()


class Delivery(Base):
    TABLE = "delivery"

    id = pw.AutoField()
    event_id = pw.IntegerField()
    webhook = pw.TextField()
    status = pw.TextField()
    attempts = pw.IntegerField()
    next_attempt_at = UTCDateTimeField()
    last_error = pw.TextField(null=True)
    created_at = UTCDateTimeField()
    sent_at = UTCDateTimeField(null=True)
    lease_until = UTCDateTimeField(null=True)
    lease_owner = pw.TextField(null=True)


class Anomaly(Base):
    TABLE = "anomaly"

    id = pw.AutoField()
    player_id = pw.IntegerField()
    taken_at = UTCDateTimeField()
    metric = pw.TextField()
    old = pw.BigIntegerField()
    new = pw.BigIntegerField()
    created_at = UTCDateTimeField()
    reviewed = pw.BooleanField()
    reason = pw.TextField(null=True)


class WebhookState(Base):
    TABLE = "webhook_state"

    name = pw.TextField(primary_key=True)
    disabled = pw.BooleanField()
    reason = pw.TextField(null=True)
    address_hash = pw.TextField(null=True)
    changed_at = UTCDateTimeField()


class Attempt(Base):
    TABLE = "attempt"

    id = pw.AutoField()
    webhook = pw.TextField()
    at = UTCDateTimeField()
    outcome = pw.TextField()
    status_code = pw.IntegerField(null=True)
    error = pw.TextField(null=True)
    elapsed_ms = pw.IntegerField()
    deliveries = pw.IntegerField()
    first_delivery_id = pw.IntegerField(null=True)


class Item(Base):
    TABLE = "item"

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


class PriceSample(Base):
    TABLE = "price_sample"

    id = pw.AutoField()
    item_id = pw.IntegerField()
    at = UTCDateTimeField()
    high = pw.BigIntegerField(null=True)
    low = pw.BigIntegerField(null=True)
    average = pw.BigIntegerField(null=True)


class WatchState(Base):
    TABLE = "watch_state"

    key = pw.TextField(primary_key=True)
    item_id = pw.IntegerField()
    state = pw.TextField()  # JSON of alerts.WatchState
    updated_at = UTCDateTimeField()


class Run(Base):
    TABLE = "run"

    id = pw.AutoField()
    kind = pw.TextField()
    started_at = UTCDateTimeField()
    finished_at = UTCDateTimeField()
    host = pw.TextField(null=True)
    metrics = pw.TextField()  # JSON


@dataclass(frozen=True, slots=True)
class Models:
    """The models bound to one database (see :func:`bind_models`)."""

    MetaEntry: type[MetaEntry]
    Player: type[Player]
    Snapshot: type[Snapshot]
    Event: type[Event]
    Delivery: type[Delivery]
    Anomaly: type[Anomaly]
    WebhookState: type[WebhookState]
    Attempt: type[Attempt]
    Item: type[Item]
    PriceSample: type[PriceSample]
    WatchState: type[WatchState]
    Run: type[Run]


M = TypeVar("M", bound=Base)


def _bound(model: type[M], database: pw.Database) -> type[M]:
    # peewee copies the fields into a subclass, whose columns then run their dialect hook
    # against ``database``; peewee does not inherit table names, so it is given here.
    meta = type("Meta", (), {"database": database, "table_name": model.TABLE})
    return cast("type[M]", type(model.__name__, (model,), {"Meta": meta, "__module__": __name__}))


def bind_models(database: pw.Database) -> Models:
    """Every model, as subclasses bound to ``database`` (cheap: twelve small classes)."""
    return Models(
        MetaEntry=_bound(MetaEntry, database),
        Player=_bound(Player, database),
        Snapshot=_bound(Snapshot, database),
        Event=_bound(Event, database),
        Delivery=_bound(Delivery, database),
        Anomaly=_bound(Anomaly, database),
        WebhookState=_bound(WebhookState, database),
        Attempt=_bound(Attempt, database),
        Item=_bound(Item, database),
        PriceSample=_bound(PriceSample, database),
        WatchState=_bound(WatchState, database),
        Run=_bound(Run, database),
    )
