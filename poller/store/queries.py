"""The :class:`Store`: every read and write the rest of the program makes.

Reads and small updates go through the peewee models; the batch write behind
:meth:`Store.record_poll` lives in :mod:`.polls`, config-sync planning in :mod:`.sync`.
"""

from __future__ import annotations

import difflib
import json
import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, TypeVar

from ..names import normalize_name
from ..snapshot import Snapshot
from . import leases, locks, migrations, outbox, polls
from ._peewee import peewee as pw
from .backend import Target, store_errors
from .models import make_models
from .runs import RunLog
from .sql import Sql, chunks, driver_errors
from .sync import PlayerRow, plan_sync
from .values import (
    AnomalyRow,
    AttemptRow,
    EventRow,
    OutboxEntry,
    PendingDelivery,
    PlayerState,
    PollRecord,
    RecordStats,
    StoreError,
    SyncReport,
    WebhookState,
)

F = TypeVar("F", bound=Callable[..., Any])


_guard = store_errors(lambda store: store)


def _decode(blob: Any) -> Snapshot | None:
    return None if blob is None else Snapshot.decode(bytes(blob))


class Store:
    """One open database. Create it with :func:`poller.store.open_store`.

    Use it from one thread at a time (the pipeline fetches in workers and writes from the main
    thread). On a SQLite file each thread that touches it gets its own connection; ``close()``
    closes the calling thread's.
    """

    def __init__(self, db: pw.Database, target: Target) -> None:
        self._db = db
        self._target = target
        self._m = make_models(db)
        self._sql = Sql(db)
        self._memory_locks: dict[str, threading.Lock] = {}
        # Snapshots last handed out, by player: lets record_poll compare values instead of
        # encoding every poll (see .polls). Replaced on each roster load, so it never holds
        # more than the caller's working set.
        self._known: polls.Known = {}

    # -- plumbing --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The database URL with any password masked."""
        return self._target.masked

    @property
    def backend(self) -> str:
        return self._target.kind

    def close(self) -> None:
        self._known = {}
        if not self._db.is_closed():
            self._db.close()

    def integrity_problems(self, limit: int = 5) -> list[str]:
        """SQLite's integrity check, for `check`: every page, index and constraint read, one
        line per problem (at most ``limit``), none when the file is sound. A damaged file can
        open and answer queries for months until a poll reaches the broken page; this finds it
        first. It reads the whole file: seconds on a large one. PostgreSQL has no built-in
        equivalent (amcheck is an extension), so nothing is reported there."""
        if self._target.kind != "sqlite":
            return []
        try:
            with driver_errors:  # the rows are read after execute_sql has returned
                rows = self._db.execute_sql(f"PRAGMA integrity_check({int(limit)})").fetchall()
        except pw.DatabaseError as exc:  # damage where the check itself must read
            return [" ".join(str(exc).split())]
        found = [" ".join(str(row[0]).split()) for row in rows]
        return [] if found == ["ok"] else found

    def _drop_broken_connection(self) -> None:
        """After a failure: if the server connection is dead (PostgreSQL restarted, network
        cut), forget it so the next call reconnects instead of failing forever in `run`."""
        db = self._db
        try:
            if db.is_closed() or db.in_transaction() or db.is_connection_usable():
                return
            db.close()
        except Exception:  # closing a dead connection may itself fail: just forget it
            db.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- players ---------------------------------------------------------------------------

    def _player_query(self, with_snapshots: bool = True) -> Any:
        P, S = self._m.Player, self._m.Snapshot
        columns = [
            P.id, P.name, P.mode, P.active, P.status, P.not_found_streak, P.last_polled_at,
            P.last_changed_at, S.taken_at, P.last_error, P.renamed_to, P.created_at,
            P.last_snapshot_id,
        ]
        if with_snapshots:
            columns += [S.data, P.reference]
        return (
            P.select(*columns)
            .join(S, pw.JOIN.LEFT_OUTER, on=(S.id == P.last_snapshot_id))
            .order_by(P.key)
            .tuples()
        )

    @staticmethod
    def _state(row: Sequence[Any]) -> PlayerState:
        (pid, name, mode, active, status, streak, polled, changed, snap_at, error, renamed,
         created, _, *blobs) = row
        last = _decode(blobs[0]) if blobs else None
        reference = _decode(blobs[1]) if blobs and blobs[1] is not None else last
        return PlayerState(
            id=pid, name=name, mode=mode, active=bool(active), status=status,
            not_found_streak=streak, last_polled_at=polled, last_changed_at=changed,
            last_snapshot=last, last_snapshot_at=snap_at, last_error=error,
            reference=reference, renamed_to=renamed, created_at=created,
        )

    @_guard
    def active_players(self, *, with_snapshots: bool = True) -> list[PlayerState]:
        """Players to poll, ordered by name. ``with_snapshots=False`` leaves ``last_snapshot``
        and ``reference`` None — for 10,000 players, load them per batch with
        :meth:`last_snapshots` instead of all at once (a decoded snapshot is ~8 KB)."""
        query = self._player_query(with_snapshots).where(self._m.Player.active == True)  # noqa: E712
        self._known = {}
        states = []
        for row in query:
            state = self._state(row)
            if state.last_snapshot is not None:
                self._known[state.id] = (row[12], state.last_snapshot)  # 12: last_snapshot_id
            states.append(state)
        return states

    @_guard
    def all_players(self) -> list[PlayerState]:
        """Every player the database knows, inactive ones and rename tombstones included."""
        return [self._state(r) for r in self._player_query()]

    @_guard
    def get_player(self, name: str) -> PlayerState | None:
        rows = list(self._player_query().where(self._m.Player.key == normalize_name(name)))
        return self._state(rows[0]) if rows else None

    @_guard
    def last_snapshots(self, player_ids: Iterable[int]) -> dict[int, tuple[Snapshot, Snapshot]]:
        """``{player id: (last snapshot, reference)}`` for those that have one: one batch of
        a roster loaded with ``active_players(with_snapshots=False)``."""
        P, S = self._m.Player, self._m.Snapshot
        out: dict[int, tuple[Snapshot, Snapshot]] = {}
        self._known = {}
        for chunk in chunks(list(player_ids)):
            query = (
                P.select(P.id, S.id, S.data, P.reference)
                .join(S, on=(S.id == P.last_snapshot_id))
                .where(P.id.in_(chunk))
                .tuples()
            )
            for pid, sid, data, ref in query:
                last = Snapshot.decode(data)
                out[pid] = (last, Snapshot.decode(ref) if ref is not None else last)
                self._known[pid] = (sid, last)
        return out

    @_guard
    def suggest_names(self, name: str, n: int = 3) -> list[str]:
        """Display names close to ``name`` (for "did you mean" in errors)."""
        P = self._m.Player
        names = {key: display for key, display in P.select(P.key, P.name).tuples()}
        close = difflib.get_close_matches(normalize_name(name), list(names), n=n, cutoff=0.6)
        return [names[k] for k in close]

    # -- config sync -----------------------------------------------------------------------

    def _rows(self) -> list[PlayerRow]:
        P = self._m.Player
        query = P.select(P.id, P.key, P.name, P.mode, P.active, P.renamed_to).tuples()
        return [PlayerRow(i, k, n, m, bool(a), r) for i, k, n, m, a, r in query]

    @_guard
    def sync_players(self, players: Sequence[tuple[str, str]], now: datetime) -> SyncReport:
        """Mirror the config's ``(name, mode)`` list, in one transaction.

        New names are added active with no snapshot (their first poll is a silent baseline);
        names gone from the config are deactivated, history kept; names back in the config are
        reactivated; display-name and mode changes are applied. A name that was renamed with
        ``players rename`` follows the rename (reported in ``redirected``).
        """
        P = self._m.Player
        with self._db.atomic():
            plan = plan_sync(players, self._rows())
            self._sql.many(
                self._sql.q(
                    'INSERT INTO player ("key", name, mode, active, created_at, status, '
                    "not_found_streak) VALUES (?, ?, ?, ?, ?, 'ok', 0) "
                    'ON CONFLICT ("key") DO NOTHING'
                ),
                [(k, n, m, True, self._sql.t(now)) for k, n, m in plan.inserts],
            )
            for chunk in chunks(plan.activate):
                P.update(active=True, renamed_to=None).where(P.id.in_(chunk)).execute()
            for chunk in chunks(plan.deactivate):
                P.update(active=False).where(P.id.in_(chunk)).execute()
            for pid, name in plan.set_name.items():
                P.update(name=name).where(P.id == pid).execute()
            for pid, mode in plan.set_mode.items():
                P.update(mode=mode).where(P.id == pid).execute()
        return plan.report

    @_guard
    def preview_players(self, players: Sequence[tuple[str, str]]) -> list[PlayerState]:
        """What :meth:`active_players` would return after ``sync_players(players)``, without
        writing anything (for ``poll --dry-run``). Players not yet stored get negative ids."""
        plan = plan_sync(players, self._rows())
        states = {s.id: s for s in self.all_players() if s.id in plan.wanted}
        out: list[PlayerState] = []
        for pid, (name, mode) in plan.wanted.items():
            st = states[pid]
            out.append(
                PlayerState(
                    id=st.id, name=name, mode=mode, active=True, status=st.status,
                    not_found_streak=st.not_found_streak, last_polled_at=st.last_polled_at,
                    last_changed_at=st.last_changed_at, last_snapshot=st.last_snapshot,
                    last_snapshot_at=st.last_snapshot_at, last_error=st.last_error,
                    reference=st.reference, renamed_to=None, created_at=st.created_at,
                )
            )
        for n, (_, name, mode) in enumerate(plan.inserts, start=1):
            out.append(PlayerState(
                id=-n, name=name, mode=mode, active=True, status="ok", not_found_streak=0,
                last_polled_at=None, last_changed_at=None, last_snapshot=None,
                last_snapshot_at=None, last_error=None,
            ))
        out.sort(key=lambda s: s.key)
        return out

    # -- polls -----------------------------------------------------------------------------

    @_guard
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
        if not records:
            return RecordStats()
        for r in records:
            if r.archive:
                self._known.pop(r.player_id, None)  # the old account's stats are not "last"
        prepared = [polls.prepare(r, self._known) for r in records]
        nested = self._db.in_transaction()
        with self._db.atomic():
            for r in records:
                if r.archive:
                    self._archive_history(r.player_id, r.taken_at)
            stats, remember = polls.write_polls(self._sql, prepared, self._known)
        if not nested:
            # Only once committed: a rolled-back row id may be reused for other stats later.
            self._known.update(remember)
        return stats

    @_guard
    def record_events(
        self, entries: Sequence[OutboxEntry], now: datetime, player_id: int | None = None
    ) -> RecordStats:
        """Store events that come from no snapshot (price alerts, run summaries) with their
        pending deliveries, in one transaction."""
        prepared = [
            (e.kind, polls.to_json(e.payload, f"{e.kind} event"), tuple(e.webhooks))
            for e in entries
        ]
        if not prepared:
            return RecordStats()
        at = self._sql.t(now)
        with self._db.atomic():
            ids = self._sql.allocate_ids("event", len(prepared))
            pairs = list(zip(ids, prepared, strict=True))
            events = [(i, player_id, None, kind, payload, at) for i, (kind, payload, _) in pairs]
            deliveries = [
                (i, hook, "pending", 0, at, at) for i, (_, _, hooks) in pairs for hook in hooks
            ]
            polls.write_events(self._sql, events, deliveries)
        return RecordStats(events_added=len(events), deliveries_added=len(deliveries))

    # -- delivery outbox -------------------------------------------------------------------

    @_guard
    def pending_deliveries(
        self, now: datetime, limit: int | None = None, webhook: str | None = None
    ) -> list[PendingDelivery]:
        """Deliveries due by ``now`` (status pending), oldest first."""
        D, E, P = self._m.Delivery, self._m.Event, self._m.Player
        query = (
            D.select(D.id, E.id, D.webhook, E.kind, E.payload, P.name, D.created_at, D.attempts)
            .join(E, on=(D.event == E.id))
            .join(P, pw.JOIN.LEFT_OUTER, on=(E.player == P.id))
            .where((D.status == "pending") & (D.next_attempt_at <= now))
            .order_by(D.id)
        )
        if webhook is not None:
            query = query.where(D.webhook == webhook)
        if limit is not None:
            query = query.limit(limit)
        return [
            PendingDelivery(
                delivery_id=did, event_id=eid, webhook=hook, kind=kind,
                payload=json.loads(payload), player_name=name, created_at=created,
                attempts=attempts,
            )
            for did, eid, hook, kind, payload, name, created, attempts in query.tuples()
        ]

    def _update_deliveries(self, ids: Iterable[int], where: Any, **values: Any) -> int:
        D = self._m.Delivery
        ids = list(ids)
        changed = 0
        with self._db.atomic():
            for chunk in chunks(ids):
                changed += D.update(**values).where(D.id.in_(chunk) & where).execute()
        return changed

    @_guard
    def mark_delivered(self, ids: Iterable[int], now: datetime) -> int:
        """Sent: whatever we thought of it before, it reached Discord. Returns rows changed."""
        D = self._m.Delivery
        return self._update_deliveries(
            ids, D.status != "sent",
            status="sent", sent_at=now, attempts=D.attempts + 1, last_error=None, lease_until=None,
            lease_owner=None,
        )

    @_guard
    def mark_retry(
        self, ids: Iterable[int], now: datetime, next_attempt_at: datetime, error: str
    ) -> int:
        """A transient failure (5xx, timeout, 429): stays pending until ``next_attempt_at``.
        Only pending rows change: a row held meanwhile stays held."""
        D = self._m.Delivery
        return self._update_deliveries(
            ids, D.status == "pending",
            attempts=D.attempts + 1, next_attempt_at=next_attempt_at, last_error=polls.clip(error),
            lease_until=None, lease_owner=None,
        )

    @_guard
    def defer_deliveries(self, ids: Iterable[int], until: datetime) -> int:
        """Untried messages queued behind one that failed: due no earlier than it (so a channel
        reads in order), without counting an attempt they never had."""
        D = self._m.Delivery
        return self._update_deliveries(
            ids, (D.status == "pending") & (D.next_attempt_at < until), next_attempt_at=until
        )

    @_guard
    def mark_failed(self, ids: Iterable[int], now: datetime, error: str) -> int:
        """A permanent failure (400: our payload is wrong): kept with its error, never retried."""
        D = self._m.Delivery
        return self._update_deliveries(
            ids, D.status.in_(["pending", "held"]),
            status="failed", attempts=D.attempts + 1, last_error=polls.clip(error),
            lease_until=None, lease_owner=None,
        )

    @_guard
    def hold_webhook(self, webhook: str, error: str) -> int:
        """Park every pending message of a disabled webhook (404/401), keeping them."""
        D = self._m.Delivery
        return (
            D.update(status="held", last_error=polls.clip(error))
            .where((D.webhook == webhook) & (D.status == "pending"))
            .execute()
        )

    @_guard
    def release_webhook(self, webhook: str) -> int:
        """Held messages back to pending (due at once: their next attempt time has passed)."""
        D = self._m.Delivery
        return (
            D.update(status="pending")
            .where((D.webhook == webhook) & (D.status == "held"))
            .execute()
        )

    @_guard
    def count_pending(self, *, include_held: bool = False) -> dict[str, int]:
        """Messages waiting per webhook (due or not); ``include_held`` adds parked ones."""
        D = self._m.Delivery
        statuses = ["pending", "held"] if include_held else ["pending"]
        query = (
            D.select(D.webhook, pw.fn.COUNT(D.id))
            .where(D.status.in_(statuses))
            .group_by(D.webhook)
            .tuples()
        )
        return {hook: count for hook, count in query}

    @_guard
    def backlog(self, now: datetime, *, owner: str | None = None) -> dict[str, outbox.Backlog]:
        """What waits for each webhook and why (due, back-off, leases, held, failed); see
        :func:`.outbox.backlog`."""
        return outbox.backlog(self, now, owner=owner)

    @_guard
    def failed_events(
        self, webhook: str | None = None, *, limit: int = 100
    ) -> list[outbox.FailedEvent]:
        """Messages Discord refused for good, newest first, with the player and the error."""
        return outbox.failed_events(self, webhook, limit=limit)

    @_guard
    def retry_failed(self, now: datetime, webhooks: Iterable[str] | None = None) -> int:
        """Failed messages back to pending, due at once; how many."""
        return outbox.retry_failed(self, now, webhooks)

    @_guard
    def drop_webhook(self, name: str) -> int:
        """A webhook gone from the config: its unsent messages are dropped; how many."""
        return outbox.drop_webhook(self, name)

    @_guard
    def unsent_webhooks(self) -> set[str]:
        """Webhooks with unsent messages or a stored state."""
        return outbox.unsent_webhooks(self)

    @_guard
    def delivery_statuses(self, ids: Iterable[int]) -> dict[int, str]:
        """Current status per delivery id (tests and the deliver loop's bookkeeping)."""
        D = self._m.Delivery
        out: dict[int, str] = {}
        for chunk in chunks(list(ids)):
            out.update(dict(D.select(D.id, D.status).where(D.id.in_(chunk)).tuples()))
        return out

    # -- leases: several `run` processes on one database (bodies in .leases) ---------------

    @_guard
    def claim_due_players(
        self, owner: str, now: datetime, interval: timedelta | None, lease: timedelta,
        limit: int, *, window_start: datetime | None = None,
    ) -> list[PlayerState]:
        """Lease up to ``limit`` due, unleased active players to ``owner``; see
        :func:`.leases.claim_due_players`."""
        return leases.claim_due_players(
            self, owner, now, interval, lease, limit, window_start=window_start
        )

    @_guard
    def record_claimed(
        self, owner: str, records: Sequence[PollRecord], *, polled_at: datetime | None = None
    ) -> RecordStats:
        """``record_poll`` for the players ``owner`` still holds; releases their leases."""
        return leases.record_claimed(self, owner, records, polled_at=polled_at)

    @_guard
    def release_players(self, owner: str, ids: Iterable[int] | None = None) -> int:
        return leases.release_players(self, owner, ids)

    @_guard
    def claim_deliveries(
        self, owner: str, now: datetime, lease: timedelta, limit: int,
        *, due_by: datetime | None = None, webhooks: Iterable[str] | None = None,
    ) -> list[PendingDelivery]:
        """Lease due pending deliveries to ``owner``, one webhook per process at a time."""
        return leases.claim_deliveries(
            self, owner, now, lease, limit, due_by=due_by, webhooks=webhooks
        )

    @_guard
    def confirm_deliveries(
        self, owner: str, ids: Iterable[int], now: datetime, lease: timedelta
    ) -> list[int]:
        """Renew ``owner``'s lease on ``ids`` right before sending; the ids it still holds."""
        return leases.confirm_deliveries(self, owner, ids, now, lease)

    @_guard
    def release_deliveries(self, owner: str) -> int:
        return leases.release_deliveries(self, owner)

    @_guard
    def shared_fraction(self, key: str) -> float:
        """A random [0, 1) chosen once per database (kept in ``meta``)."""
        return leases.shared_fraction(self, key)

    # -- webhook state and attempts --------------------------------------------------------

    def transaction(self) -> AbstractContextManager[Any]:
        """Group writes (e.g. an attempt and the deliveries it settled) into one commit."""
        return self._db.atomic()

    @_guard
    def webhook_states(self) -> dict[str, WebhookState]:
        W = self._m.WebhookState
        return {
            r.name: WebhookState(r.name, r.disabled, r.reason, r.address_hash, r.changed_at)
            for r in W.select()
        }

    def _set_webhook(
        self, name: str, disabled: bool, reason: str | None, address_hash: str | None,
        now: datetime,
    ) -> None:
        W = self._m.WebhookState
        values = {"disabled": disabled, "reason": polls.clip(reason),
                  "address_hash": address_hash, "changed_at": now}
        if W.update(**values).where(W.name == name).execute() == 0:
            W.insert(name=name, **values).execute()

    @_guard
    def disable_webhook(
        self, name: str, reason: str, address_hash: str | None, now: datetime
    ) -> int:
        """Mark a webhook disabled and park its pending messages (kept, not dropped).
        Returns how many messages were parked."""
        with self._db.atomic():
            self._set_webhook(name, True, reason, address_hash, now)
            return self.hold_webhook(name, reason)

    @_guard
    def enable_webhook(self, name: str, address_hash: str | None, now: datetime) -> int:
        """Re-enable a webhook (its URL was fixed); parked messages become due again."""
        with self._db.atomic():
            self._set_webhook(name, False, None, address_hash, now)
            return self.release_webhook(name)

    @_guard
    def record_attempt(
        self, webhook: str, now: datetime, *, outcome: str, status_code: int | None,
        error: str | None, elapsed_ms: int, delivery_ids: Sequence[int],
    ) -> None:
        A = self._m.Attempt
        A.insert(
            webhook=webhook, at=now, outcome=outcome, status_code=status_code,
            error=polls.clip(error), elapsed_ms=elapsed_ms, deliveries=len(delivery_ids),
            first_delivery_id=min(delivery_ids) if delivery_ids else None,
        ).execute()

    @_guard
    def attempts(self, webhook: str | None = None, limit: int = 100) -> list[AttemptRow]:
        """Most recent send attempts first."""
        A = self._m.Attempt
        query = A.select().order_by(A.id.desc()).limit(limit)
        if webhook is not None:
            query = query.where(A.webhook == webhook)
        return [
            AttemptRow(a.webhook, a.at, a.outcome, a.status_code, a.error, a.elapsed_ms,
                       a.deliveries)
            for a in query
        ]

    @_guard
    def get_meta(self, key: str) -> str | None:
        M = self._m.MetaEntry
        row = M.get_or_none(M.key == key)
        return None if row is None else row.value

    @_guard
    def set_meta(self, key: str, value: str | None) -> None:
        M = self._m.MetaEntry
        if value is None:
            M.delete().where(M.key == key).execute()
        elif M.update(value=value).where(M.key == key).execute() == 0:
            M.insert(key=key, value=value).execute()

    # -- rename ----------------------------------------------------------------------------

    @_guard
    def rename_player(self, old: str, new: str, now: datetime) -> None:
        """Carry OLD's history (snapshots, events, anomalies) to NEW.

        NEW unknown: the row is renamed. NEW known with no snapshots (e.g. just added from the
        config): OLD's rows move onto NEW. Both with snapshots: refused, because interleaving
        two histories would derive false events. OLD is left as an inactive tombstone with
        ``renamed_to`` set, so ``players list`` can say where it went and a config that still
        names OLD follows to NEW.
        """
        P, S, E, A = self._m.Player, self._m.Snapshot, self._m.Event, self._m.Anomaly
        old_key, new_key = normalize_name(old), normalize_name(new)
        new_name = " ".join(new.split())
        if not new_key:
            raise StoreError("the new name is empty")
        with self._db.atomic():
            src = P.get_or_none(P.key == old_key)
            if src is None:
                close = self.suggest_names(old)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                raise StoreError(f"no player named {old!r} in the database{hint}")
            if src.renamed_to is not None:
                raise StoreError(f"{src.name} was already renamed to {src.renamed_to}")
            if new_key == old_key:
                raise StoreError(f"{old!r} and {new!r} are the same player name")
            dst = P.get_or_none(P.key == new_key)
            if dst is None:
                P.update(
                    key=new_key, name=new_name, status="ok", not_found_streak=0, last_error=None
                ).where(P.id == src.id).execute()
                self._tombstone(old_key, src.name, src.mode, new_name, now)
                return
            src_count = S.select().where(S.player == src.id).count()
            dst_count = S.select().where(S.player == dst.id).count()
            if src_count and dst_count:
                raise StoreError(
                    f"cannot rename {src.name} to {dst.name}: both have history "
                    f"({src_count} and {dst_count} snapshots), and merging two histories "
                    f"would announce false events; remove one of them first"
                )
            for model in (S, E, A):
                model.update(player=dst.id).where(model.player == src.id).execute()
            updates: dict[str, Any] = {"renamed_to": None}
            if dst.renamed_to is not None or not dst.active:
                # NEW was itself a tombstone (a rename undone) or dropped: it takes OLD's place.
                updates.update(active=src.active, mode=src.mode)
            if src_count:
                updates.update(
                    last_snapshot_id=src.last_snapshot_id, last_changed_at=src.last_changed_at,
                    reference=src.reference, status="ok", not_found_streak=0, last_error=None,
                )
            P.update(**updates).where(P.id == dst.id).execute()
            P.update(
                active=False, renamed_to=dst.name, last_snapshot_id=None, reference=None,
                last_polled_at=None, last_changed_at=None, status="ok", not_found_streak=0,
                last_error=None,
            ).where(P.id == src.id).execute()

    def _archive_history(self, player_id: int, now: datetime) -> str:
        """Move a player's history to a new inactive row named "NAME (until DATE)" and leave
        the player row without snapshots (its next snapshot is a fresh baseline). Inside the
        caller's transaction. Returns the archive's display name."""
        P, S, E, A = self._m.Player, self._m.Snapshot, self._m.Event, self._m.Anomaly
        src = P.get_by_id(player_id)
        label = f"{src.name} (until {now:%Y-%m-%d})"
        key, n = normalize_name(label), 1
        while P.select().where(P.key == key).exists():  # archived twice the same day
            n += 1
            key = normalize_name(f"{label} {n}")
        archive = P.create(
            key=key, name=label if n == 1 else f"{label} {n}", mode=src.mode, active=False,
            created_at=src.created_at, last_polled_at=src.last_polled_at,
            last_changed_at=src.last_changed_at, last_snapshot_id=src.last_snapshot_id,
            reference=src.reference, status=src.status, not_found_streak=0,
        )
        for model in (S, E, A):
            model.update(player=archive.id).where(model.player == player_id).execute()
        P.update(
            last_snapshot_id=None, reference=None, last_changed_at=None, status="ok",
            not_found_streak=0,
        ).where(P.id == player_id).execute()
        return str(archive.name)

    def _tombstone(self, key: str, name: str, mode: str, renamed_to: str, now: datetime) -> None:
        P = self._m.Player
        P.insert(
            key=key, name=name, mode=mode, active=False, created_at=now, status="ok",
            not_found_streak=0, renamed_to=renamed_to,
        ).execute()

    # -- history, for commands and tests ---------------------------------------------------

    def _player_id(self, name: str) -> int | None:
        P = self._m.Player
        row = P.select(P.id).where(P.key == normalize_name(name)).tuples().first()
        return row[0] if row else None

    @_guard
    def player_history(self, name: str) -> list[tuple[datetime, Snapshot]]:
        """Every stored snapshot of a player, oldest first ([] for an unknown name)."""
        S = self._m.Snapshot
        pid = self._player_id(name)
        if pid is None:
            return []
        query = S.select(S.taken_at, S.data).where(S.player == pid).order_by(S.taken_at, S.id)
        return [(at, Snapshot.decode(data)) for at, data in query.tuples()]

    @_guard
    def recent_events(self, player: str | None = None, limit: int = 50) -> list[EventRow]:
        """Newest first."""
        E, P = self._m.Event, self._m.Player
        query = (
            E.select(E.id, P.name, E.kind, E.payload, E.created_at, E.snapshot)
            .join(P, pw.JOIN.LEFT_OUTER, on=(E.player == P.id))
            .order_by(E.id.desc())
            .limit(limit)
        )
        if player is not None:
            pid = self._player_id(player)
            if pid is None:
                return []
            query = query.where(E.player == pid)
        return [
            EventRow(id=i, player_name=n, kind=k, payload=json.loads(p), created_at=c,
                     snapshot_id=s)
            for i, n, k, p, c, s in query.tuples()
        ]

    @_guard
    def anomalies(self, player: str | None = None, *, unreviewed: bool = False) -> list[AnomalyRow]:
        """Recorded decreases, newest first."""
        A, P = self._m.Anomaly, self._m.Player
        query = (
            A.select(
                A.id, P.name, A.taken_at, A.metric, A.old, A.new, A.created_at, A.reviewed,
                A.reason,
            )
            .join(P, on=(A.player == P.id))
            .order_by(A.id.desc())
        )
        if player is not None:
            pid = self._player_id(player)
            if pid is None:
                return []
            query = query.where(A.player == pid)
        if unreviewed:
            query = query.where(A.reviewed == False)  # noqa: E712
        return [
            AnomalyRow(id=i, player_name=n, taken_at=t, metric=m, old=o, new=nw, created_at=c,
                       reviewed=bool(r), reason=why)
            for i, n, t, m, o, nw, c, r, why in query.tuples()
        ]

    @_guard
    def review_anomalies(self, ids: Iterable[int]) -> int:
        A = self._m.Anomaly
        changed = 0
        with self._db.atomic():
            for chunk in chunks(list(ids)):
                changed += A.update(reviewed=True).where(A.id.in_(chunk)).execute()
        return changed

    @_guard
    def schema_version(self) -> int:
        return migrations.schema_version(self._db)

    @_guard
    def counts(self) -> dict[str, int]:
        """Rows per table (for ``stats`` and tests)."""
        m = self._m
        return {
            model._meta.table_name: model.select().count()
            for model in (m.Player, m.Snapshot, m.Event, m.Delivery, m.Anomaly, m.Attempt)
        }

    # -- locks -----------------------------------------------------------------------------

    def lock(self, name: str = "poll") -> AbstractContextManager[None]:
        """Hold the named run lock for a ``with`` block, or raise :class:`LockHeld` at once."""
        locks.check_name(name)
        target = self._target
        if target.memory:
            return locks.memory_lock(self._memory_locks, name)
        if target.kind == "sqlite":
            return locks.file_lock(locks.lock_path(target.location, name), name)
        return locks.advisory_lock(
            target.location, dict(self._db.connect_params), name, target.masked
        )

    # -- run metrics -----------------------------------------------------------------------

    @property
    def runs(self) -> RunLog:
        """Recorded runs and running totals (see :mod:`.runs`)."""
        return RunLog(self)
