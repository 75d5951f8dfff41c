"""The store's vocabulary: errors, name keys and the frozen values it hands out.

Callers never see a peewee row: everything leaving the store is one of these immutable values,
so a row cannot be edited behind the store's back and no query runs lazily after a transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from ..names import normalize_name
from ..snapshot import Snapshot

PLAYER_STATUSES: frozenset[str] = frozenset({"ok", "missing"})


class StoreError(Exception):
    """A database problem worth one clear line to the user (bad URL, unreachable server,
    schema from a newer release, a refused rename). Never carries a password."""


class DatabaseFull(StoreError):
    """The disk (or the server's disk) holding the database is full: not a configuration
    error, so a command that meets it exits 1, as for any other failure mid-run."""


class LockHeld(StoreError):
    """Another process (or another part of this one) holds the named lock: skip this run."""


@dataclass(frozen=True, slots=True)
class PlayerState:
    """One player as the pipeline needs it: identity, poll bookkeeping, last known stats.

    ``reference`` is the snapshot events are judged against (the pipeline's high-water mark
    after a rollback); it *is* ``last_snapshot`` unless the pipeline stored a different one.
    ``renamed_to`` is set on the tombstone a rename leaves under the old name.
    ``account_type`` is the type ``mode = "auto"`` last settled (None: never), at
    ``account_type_at``. Timestamps are timezone-aware UTC.
    """

    id: int
    name: str
    mode: str
    active: bool
    status: str
    not_found_streak: int
    last_polled_at: datetime | None
    last_changed_at: datetime | None
    last_snapshot: Snapshot | None
    last_snapshot_at: datetime | None
    last_error: str | None
    reference: Snapshot | None = None
    renamed_to: str | None = None
    created_at: datetime | None = None
    account_type: str | None = None
    account_type_at: datetime | None = None

    @property
    def key(self) -> str:
        return normalize_name(self.name)


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What mirroring the config changed (display names; empty tuples = nothing)."""

    added: tuple[str, ...] = ()
    reactivated: tuple[str, ...] = ()
    deactivated: tuple[str, ...] = ()
    updated_mode: tuple[str, ...] = ()
    updated_name: tuple[str, ...] = ()
    # (name in the config, name it was renamed to): the config still uses an old name.
    redirected: tuple[tuple[str, str], ...] = ()

    @property
    def changed(self) -> bool:
        return any(
            (self.added, self.reactivated, self.deactivated, self.updated_mode, self.updated_name)
        )


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One event to store, and the webhooks (by config name) that should receive it.

    No webhooks is allowed: the event is kept for history and ``stats`` but nothing is sent.
    """

    kind: str
    payload: Mapping[str, object]
    webhooks: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PollRecord:
    """The outcome of polling one player, written by :meth:`Store.record_poll`.

    ``snapshot`` None means the fetch failed or the player was not found: nothing about their
    stats changes. The store decides itself whether ``snapshot`` differs from the last one
    (ranks ignored); only a different one becomes a new row. ``status``/``not_found_streak``
    None leave the stored values as they are; ``error`` always replaces ``last_error`` (None
    clears it after a good poll). ``reference`` None leaves the stored reference untouched.
    ``anomalies`` are (metric, old, new, reason). ``archive`` first moves the player's whole
    history (snapshots, events, anomalies) to a new inactive player row: the name now belongs
    to another account, whose ``snapshot`` starts a fresh history under the same player row.
    ``account_type_at`` records when a type check settled, ``account_type`` what it found; None
    leaves the stored value as it is (a check that found the player on no board keeps the type).
    """

    player_id: int
    taken_at: datetime
    snapshot: Snapshot | None
    outbox: Sequence[OutboxEntry] = ()
    anomalies: Sequence[tuple[str, int, int, str]] = ()
    status: str | None = None
    not_found_streak: int | None = None
    error: str | None = None
    reference: Snapshot | None = None
    archive: bool = False
    account_type: str | None = None
    account_type_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RecordStats:
    snapshots_added: int = 0
    events_added: int = 0
    deliveries_added: int = 0
    anomalies_added: int = 0

    def __add__(self, other: RecordStats) -> RecordStats:
        return RecordStats(
            self.snapshots_added + other.snapshots_added,
            self.events_added + other.events_added,
            self.deliveries_added + other.deliveries_added,
            self.anomalies_added + other.anomalies_added,
        )


@dataclass(frozen=True, slots=True)
class PendingDelivery:
    """An outbox row due for sending, with its event's payload already parsed."""

    delivery_id: int
    event_id: int
    webhook: str
    kind: str
    payload: dict[str, object]
    player_name: str | None
    created_at: datetime
    attempts: int


@dataclass(frozen=True, slots=True)
class EventRow:
    id: int
    player_name: str | None
    kind: str
    payload: dict[str, object]
    created_at: datetime
    snapshot_id: int | None


@dataclass(frozen=True, slots=True)
class AnomalyRow:
    id: int
    player_name: str
    taken_at: datetime
    metric: str
    old: int
    new: int
    created_at: datetime
    reviewed: bool
    reason: str | None = None  # "rollback", or why a snapshot was refused


@dataclass(frozen=True, slots=True)
class WebhookState:
    """A webhook Discord refused for good (404 unknown webhook / 401 bad token).

    ``address_hash`` fingerprints the URL it was disabled with (never the token itself), so
    fixing the URL in the config re-enables it on the next run.
    """

    name: str
    disabled: bool
    reason: str | None
    address_hash: str | None
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class AttemptRow:
    """One HTTP send of one message (which may carry several deliveries)."""

    webhook: str
    at: datetime
    outcome: str
    status_code: int | None
    error: str | None
    elapsed_ms: int
    deliveries: int
