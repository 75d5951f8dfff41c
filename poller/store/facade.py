"""The :class:`Store`: every read and write the rest of the program makes, in one object.

Each public method is one call into a repository module that takes the store's
:class:`~.db.Db` explicitly: :mod:`.players` (roster, config sync, renames, history),
:mod:`.polls` (the batch write behind ``record_poll``), :mod:`.outbox` (deliveries),
:mod:`.webhooks` (webhook state, send attempts), :mod:`.leases` (several processes on one
database), :mod:`.meta`; :mod:`.prices` and :mod:`.runs` are reached as objects. The Store adds
what a repository must not own: the one error guard per public call, the snapshots it last
handed out (:class:`~.polls.KnownSnapshots`), and the run locks.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..snapshot import Snapshot
from . import leases, locks, meta, migrations, outbox, polls, webhooks
from . import players as roster  # (`players` is a parameter name callers pass)
from .competitions import CompetitionLog
from .db import Db, guarded
from .orm import pw
from .posts import PostLog
from .runs import RunLog

if TYPE_CHECKING:
    from ..adaptive import Activity
from .values import (
    AnomalyRow,
    AttemptRow,
    EventRow,
    OutboxEntry,
    PendingDelivery,
    PlayerState,
    PollRecord,
    RecordStats,
    SyncReport,
    WebhookState,
)

# What `counts` reports (for ``stats`` and tests).
_COUNTED = ("player", "snapshot", "event", "delivery", "anomaly", "attempt")


class Store:
    """One open database. Create it with :func:`poller.store.open_store`.

    Use it from one thread at a time (the pipeline fetches in workers and writes from the main
    thread). On a SQLite file each thread that touches it gets its own connection; ``close()``
    closes the calling thread's.
    """

    def __init__(self, db: Db) -> None:
        self.db = db  # public: PriceStore, RunLog and tests that need raw SQL share it
        self._memory_locks: dict[str, threading.Lock] = {}
        self._known = polls.KnownSnapshots()

    # -- plumbing --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The database URL with any password masked."""
        return self.db.target.masked

    @property
    def backend(self) -> str:
        return self.db.target.kind

    def close(self) -> None:
        self._known.reset()
        self.db.close()

    def integrity_problems(self, limit: int = 5) -> list[str]:
        """SQLite's integrity check, for `check`: every page, index and constraint read, one
        line per problem (at most ``limit``), none when the file is sound. A damaged file can
        open and answer queries for months until a poll reaches the broken page; this finds it
        first. It reads the whole file: seconds on a large one. PostgreSQL has no built-in
        equivalent (amcheck is an extension), so nothing is reported there."""
        if not self.db.sqlite:
            return []
        try:
            rows = self.db.execute(f"PRAGMA integrity_check({int(limit)})").fetchall()
        # Damage where the check itself must read: peewee's error, or the driver's own for the
        # rows fetched after execute_sql returned.
        except (pw.DatabaseError, sqlite3.DatabaseError) as exc:
            return [" ".join(str(exc).split())]
        found = [" ".join(str(row[0]).split()) for row in rows]
        return [] if found == ["ok"] else found

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transaction(self) -> AbstractContextManager[Any]:
        """Group writes (e.g. an attempt and the deliveries it settled) into one commit."""
        return self.db.atomic()

    # -- players (see .players) ------------------------------------------------------------

    @guarded
    def active_players(self, *, with_snapshots: bool = True) -> list[PlayerState]:
        """Players to poll, ordered by name. ``with_snapshots=False`` leaves ``last_snapshot``
        and ``reference`` None — for 10,000 players, load them per batch with
        :meth:`last_snapshots` instead of all at once (a decoded snapshot is ~8 KB)."""
        return roster.active(self.db, self._known, with_snapshots=with_snapshots)

    @guarded
    def all_players(self) -> list[PlayerState]:
        """Every player the database knows, inactive ones and rename tombstones included."""
        return roster.every(self.db)

    @guarded
    def get_player(self, name: str) -> PlayerState | None:
        return roster.named(self.db, name)

    @guarded
    def with_last_snapshots(self, batch: Sequence[PlayerState]) -> list[PlayerState]:
        """``batch`` with each player's last snapshot and rollback reference attached."""
        from dataclasses import replace

        loaded = self.last_snapshots([p.id for p in batch])
        return [replace(p, last_snapshot=pair[0], reference=pair[1])
                if (pair := loaded.get(p.id)) is not None else p for p in batch]

    @guarded
    def last_snapshots(self, player_ids: Iterable[int]) -> dict[int, tuple[Snapshot, Snapshot]]:
        """``{player id: (last snapshot, reference)}`` for those that have one: one batch of
        a roster loaded with ``active_players(with_snapshots=False)``."""
        return roster.last_snapshots(self.db, self._known, player_ids)

    @guarded
    def suggest_names(self, name: str, n: int = 3) -> list[str]:
        """Display names close to ``name`` (for "did you mean" in errors)."""
        return roster.suggest_names(self.db, name, n)

    @guarded
    def sync_players(self, players: Sequence[tuple[str, str]], now: datetime) -> SyncReport:
        """Mirror the config's ``(name, mode)`` list, in one transaction.

        New names are added active with no snapshot (their first poll is a silent baseline);
        names gone from the config are deactivated, history kept; names back in the config are
        reactivated; display-name and mode changes are applied. A name that was renamed with
        ``players rename`` follows the rename (reported in ``redirected``).
        """
        return roster.sync(self.db, players, now)

    @guarded
    def preview_players(self, players: Sequence[tuple[str, str]]) -> list[PlayerState]:
        """What :meth:`active_players` would return after ``sync_players(players)``, without
        writing anything (for ``poll --dry-run``). Players not yet stored get negative ids."""
        return roster.preview(self.db, players)

    @guarded
    def rename_player(self, old: str, new: str, now: datetime) -> None:
        """Carry OLD's history (snapshots, events, anomalies) to NEW.

        NEW unknown: the row is renamed. NEW known with no snapshots (e.g. just added from the
        config): OLD's rows move onto NEW. Both with snapshots: refused, because interleaving
        two histories would derive false events. OLD is left as an inactive tombstone with
        ``renamed_to`` set, so ``players list`` can say where it went and a config that still
        names OLD follows to NEW.
        """
        roster.rename(self.db, old, new, now)

    @guarded
    def player_history(self, name: str) -> list[tuple[datetime, Snapshot]]:
        """Every stored snapshot of a player, oldest first ([] for an unknown name)."""
        return roster.history(self.db, name)

    @guarded
    def snapshots_between(
        self, start: datetime, end: datetime
    ) -> dict[str, list[tuple[datetime, Snapshot, bool]]]:
        """``{player name: [(taken_at, snapshot, trusted), ...]}`` for a period, oldest first:
        each player's last anomaly-free snapshot at or before ``start``, then every snapshot
        in ``(start, end]`` (``trusted`` is False on those that carry an anomaly)."""
        return roster.snapshots_between(self.db, start, end)

    @guarded
    def recent_events(self, player: str | None = None, limit: int = 50) -> list[EventRow]:
        """Newest first."""
        return roster.recent_events(self.db, player, limit)

    @guarded
    @guarded
    def events_between(
        self, start: datetime, end: datetime, kinds: Sequence[str]
    ) -> list[EventRow]:
        return roster.events_between(self.db, start, end, kinds)

    def anomalies(self, player: str | None = None, *, unreviewed: bool = False) -> list[AnomalyRow]:
        """Recorded decreases, newest first."""
        return roster.anomalies(self.db, player, unreviewed=unreviewed)

    @guarded
    def review_anomalies(self, ids: Iterable[int]) -> int:
        return roster.review_anomalies(self.db, ids)

    # -- polls (see .polls) ----------------------------------------------------------------

    @guarded
    def record_poll(self, records: Sequence[PollRecord]) -> RecordStats:
        """Write a batch of polls in ONE transaction: new snapshots, their events, a pending
        delivery per event and webhook, anomalies, and each player's bookkeeping.

        A snapshot equal to the player's last one (ranks ignored) adds no row: only
        ``last_polled_at`` moves. A different one becomes a row and the new ``last_snapshot``
        — also when it carries anomalies: after a rollback the lower values are the truth the
        next poll is compared with (the pipeline keeps its high-water mark in ``reference``).
        Events point at the snapshot that produced them (the new row, or the unchanged last
        one; none when the fetch failed). Any error rolls the whole batch back.
        """
        return polls.record_poll(self.db, self._known, records)

    @guarded
    def record_events(
        self, entries: Sequence[OutboxEntry], now: datetime, player_id: int | None = None
    ) -> RecordStats:
        """Store events that come from no snapshot (price alerts, run summaries) with their
        pending deliveries, in one transaction."""
        return outbox.record_events(self.db, entries, now, player_id)

    # -- delivery outbox (see .outbox) -----------------------------------------------------

    @guarded
    def pending_deliveries(
        self, now: datetime, limit: int | None = None, webhook: str | None = None
    ) -> list[PendingDelivery]:
        """Deliveries due by ``now`` (status pending), oldest first."""
        return outbox.pending(self.db, now, limit, webhook)

    @guarded
    def mark_delivered(self, ids: Iterable[int], now: datetime) -> int:
        """Sent: whatever we thought of it before, it reached Discord. Returns rows changed."""
        return outbox.mark_delivered(self.db, ids, now)

    @guarded
    def mark_retry(
        self, ids: Iterable[int], now: datetime, next_attempt_at: datetime, error: str
    ) -> int:
        """A transient failure (5xx, timeout, 429): stays pending until ``next_attempt_at``.
        Only pending rows change: a row held meanwhile stays held."""
        return outbox.mark_retry(self.db, ids, now, next_attempt_at, error)

    @guarded
    def defer_deliveries(self, ids: Iterable[int], until: datetime) -> int:
        """Untried messages queued behind one that failed: due no earlier than it (so a channel
        reads in order), without counting an attempt they never had."""
        return outbox.defer(self.db, ids, until)

    @guarded
    def mark_failed(self, ids: Iterable[int], now: datetime, error: str) -> int:
        """A permanent failure (400: our payload is wrong): kept with its error, never retried."""
        return outbox.mark_failed(self.db, ids, now, error)

    @guarded
    def hold_webhook(self, webhook: str, error: str) -> int:
        """Park every pending message of a disabled webhook (404/401), keeping them."""
        return outbox.hold_webhook(self.db, webhook, error)

    @guarded
    def release_webhook(self, webhook: str) -> int:
        """Held messages back to pending (due at once: their next attempt time has passed)."""
        return outbox.release_webhook(self.db, webhook)

    @guarded
    def count_pending(self, *, include_held: bool = False) -> dict[str, int]:
        """Messages waiting per webhook (due or not); ``include_held`` adds parked ones."""
        return outbox.count_pending(self.db, include_held=include_held)

    @guarded
    def backlog(self, now: datetime, *, owner: str | None = None) -> dict[str, outbox.Backlog]:
        """What waits for each webhook and why (due, back-off, leases, held, failed)."""
        return outbox.backlog(self.db, now, owner=owner)

    @guarded
    def failed_events(
        self, webhook: str | None = None, *, limit: int = 100
    ) -> list[outbox.FailedEvent]:
        """Messages Discord refused for good, newest first, with the player and the error."""
        return outbox.failed_events(self.db, webhook, limit=limit)

    @guarded
    def retry_failed(self, now: datetime, webhooks: Iterable[str] | None = None) -> int:
        """Failed messages back to pending, due at once; how many."""
        return outbox.retry_failed(self.db, now, webhooks)

    @guarded
    def drop_webhook(self, name: str) -> int:
        """A webhook gone from the config: its unsent messages are dropped; how many."""
        return outbox.drop_webhook(self.db, name)

    @guarded
    def unsent_webhooks(self) -> set[str]:
        """Webhooks with unsent messages or a stored state."""
        return outbox.unsent_webhooks(self.db)

    @guarded
    def delivery_statuses(self, ids: Iterable[int]) -> dict[int, str]:
        """Current status per delivery id (tests and the deliver loop's bookkeeping)."""
        return outbox.statuses(self.db, ids)

    # -- webhook state and attempts (see .webhooks) ----------------------------------------

    @guarded
    def webhook_states(self) -> dict[str, WebhookState]:
        return webhooks.states(self.db)

    @guarded
    def disable_webhook(
        self, name: str, reason: str, address_hash: str | None, now: datetime
    ) -> int:
        """Mark a webhook disabled and park its pending messages (kept, not dropped).
        Returns how many messages were parked."""
        return webhooks.disable(self.db, name, reason, address_hash, now)

    @guarded
    def enable_webhook(self, name: str, address_hash: str | None, now: datetime) -> int:
        """Re-enable a webhook (its URL was fixed); parked messages become due again."""
        return webhooks.enable(self.db, name, address_hash, now)

    @guarded
    def record_attempt(
        self, webhook: str, now: datetime, *, outcome: str, status_code: int | None,
        error: str | None, elapsed_ms: int, delivery_ids: Sequence[int],
    ) -> None:
        webhooks.record_attempt(
            self.db, webhook, now, outcome=outcome, status_code=status_code, error=error,
            elapsed_ms=elapsed_ms, delivery_ids=delivery_ids,
        )

    @guarded
    def attempts(self, webhook: str | None = None, limit: int = 100) -> list[AttemptRow]:
        """Most recent send attempts first."""
        return webhooks.attempts(self.db, webhook, limit)

    # -- leases: several `run` processes on one database (see .leases) ---------------------

    @guarded
    def claim_due_players(
        self, owner: str, now: datetime, interval: timedelta | None, lease: timedelta,
        limit: int, *, window_start: datetime | None = None,
    ) -> list[PlayerState]:
        """Lease up to ``limit`` due, unleased active players to ``owner``; see
        :func:`.leases.claim_due_players`."""
        return leases.claim_due_players(
            self.db, self._known, owner, now, interval, lease, limit, window_start=window_start
        )

    @guarded
    def claim_listed_players(
        self, owner: str, ids: Sequence[int], now: datetime, lease: timedelta
    ) -> list[PlayerState]:
        """Lease those of ``ids`` that no one else holds (the polling rule's choice)."""
        return leases.claim_listed_players(self.db, self._known, owner, ids, now, lease)

    @guarded
    def activity(self, now: datetime) -> list[Activity]:
        """Every active player as the polling rule sees them (:mod:`poller.adaptive`)."""
        return roster.activity(self.db, now)

    @guarded
    def record_claimed(
        self, owner: str, records: Sequence[PollRecord], *, polled_at: datetime | None = None
    ) -> RecordStats:
        """``record_poll`` for the players ``owner`` still holds; releases their leases."""
        return leases.record_claimed(self.db, self._known, owner, records, polled_at=polled_at)

    @guarded
    def release_players(self, owner: str, ids: Iterable[int] | None = None) -> int:
        return leases.release_players(self.db, owner, ids)

    @guarded
    def claim_deliveries(
        self, owner: str, now: datetime, lease: timedelta, limit: int,
        *, due_by: datetime | None = None, webhooks: Iterable[str] | None = None,
    ) -> list[PendingDelivery]:
        """Lease due pending deliveries to ``owner``, one webhook per process at a time."""
        return leases.claim_deliveries(
            self.db, owner, now, lease, limit, due_by=due_by, webhooks=webhooks
        )

    @guarded
    def confirm_deliveries(
        self, owner: str, ids: Iterable[int], now: datetime, lease: timedelta
    ) -> list[int]:
        """Renew ``owner``'s lease on ``ids`` right before sending; the ids it still holds."""
        return leases.confirm_deliveries(self.db, owner, ids, now, lease)

    @guarded
    def release_deliveries(self, owner: str) -> int:
        return leases.release_deliveries(self.db, owner)

    # -- meta, schema, counts (see .meta) --------------------------------------------------

    @guarded
    def shared_fraction(self, key: str) -> float:
        """A random [0, 1) chosen once per database (kept in ``meta``)."""
        return meta.shared_fraction(self.db, key)

    @guarded
    def get_meta(self, key: str) -> str | None:
        return meta.get(self.db, key)

    @guarded
    def set_meta(self, key: str, value: str | None) -> None:
        meta.put(self.db, key, value)

    @guarded
    def schema_version(self) -> int:
        return migrations.schema_version(self.db.database)

    @guarded
    def counts(self) -> dict[str, int]:
        """Rows per table (for ``stats`` and tests)."""
        return self.db.count_rows(_COUNTED)

    # -- locks -----------------------------------------------------------------------------

    def lock(self, name: str = "poll") -> AbstractContextManager[None]:
        """Hold the named run lock for a ``with`` block, or raise :class:`LockHeld` at once."""
        locks.check_name(name)
        target = self.db.target
        if target.memory:
            return locks.memory_lock(self._memory_locks, name)
        if target.kind == "sqlite":
            return locks.file_lock(locks.lock_path(target.location, name), name)
        return locks.advisory_lock(
            target.location, dict(self.db.database.connect_params), name, target.masked
        )

    # -- run metrics -----------------------------------------------------------------------

    @property
    def runs(self) -> RunLog:
        """Recorded runs and running totals (see :mod:`.runs`)."""
        return RunLog(self.db)

    @property
    def posts(self) -> PostLog:
        """Scheduled posts: digests, once per period, live ones edited (see :mod:`.posts`)."""
        return PostLog(self.db)

    @property
    def competitions(self) -> CompetitionLog:
        """Competition rounds, start snapshots and results (see :mod:`.competitions`)."""
        return CompetitionLog(self.db)
