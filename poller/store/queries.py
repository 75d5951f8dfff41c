"""The :class:`Store`: every read and write the rest of the program makes.

Reads go through the peewee models. The batch write path (:meth:`Store.record_poll`) uses the
driver's ``executemany`` with ids allocated up front, because it must keep up with 2,000+
players a second on SQLite: one statement compiled once and run for every row, instead of a
query built per row, and no round trip to learn each new id.
"""

from __future__ import annotations

import difflib
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar

from ..snapshot import Snapshot
from . import locks, migrations
from ._peewee import peewee as pw
from .backend import Target, psycopg2_module, scrub
from .models import make_models, to_db_time
from .values import (
    PLAYER_STATUSES,
    AnomalyRow,
    EventRow,
    OutboxEntry,
    PendingDelivery,
    PlayerState,
    PollRecord,
    RecordStats,
    StoreError,
    SyncReport,
    normalize_name,
)

# Rows per IN (...) list / per multi-row statement: under SQLite's oldest variable limit (999).
_CHUNK = 500
_MAX_ERROR = 1000  # characters of an error message worth keeping per row

# peewee's context manager that turns driver errors into peewee's exception classes. A
# module-level alias, because the dunder name would be mangled inside a class body.
_driver_errors = vars(pw)["__exception_wrapper__"]

F = TypeVar("F", bound=Callable[..., Any])


def _guard(method: F) -> F:
    """Database failures leave a public method as one-line StoreErrors (the CLI prints them)."""

    @wraps(method)
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except pw.PeeweeException as exc:
            text = scrub(" ".join(str(exc).split()) or type(exc).__name__, self._target.location)
            raise StoreError(f"database error on {self.url}: {text}") from exc

    return wrapper  # type: ignore[return-value]


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _json(payload: Mapping[str, object], what: str) -> str:
    try:
        return json.dumps(dict(payload), separators=(",", ":"), sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what}: payload is not JSON-serialisable ({exc})") from exc


def _decode(blob: Any) -> Snapshot | None:
    return None if blob is None else Snapshot.decode(bytes(blob))


def _clip(text: str | None) -> str | None:
    return None if text is None else text[:_MAX_ERROR]


@dataclass(slots=True)
class _Prepared:
    """A PollRecord validated and serialised before the write transaction starts, so the
    database lock is held for writing only."""

    record: PollRecord
    blob: bytes | None
    reference: bytes | None
    outbox: list[tuple[str, str, tuple[str, ...]]]
    anomalies: list[tuple[str, int, int]]


@dataclass(slots=True)
class _Row:
    """The identity columns of a player row, for planning a config sync."""

    id: int
    key: str
    name: str
    mode: str
    active: bool
    renamed_to: str | None


@dataclass(slots=True)
class _SyncPlan:
    inserts: list[tuple[str, str, str]] = field(default_factory=list)  # key, name, mode
    activate: list[int] = field(default_factory=list)
    deactivate: list[int] = field(default_factory=list)
    set_name: dict[int, str] = field(default_factory=dict)
    set_mode: dict[int, str] = field(default_factory=dict)
    wanted: dict[int, tuple[str, str]] = field(default_factory=dict)  # id → name, mode
    report: SyncReport = field(default_factory=SyncReport)


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
        self._sqlite = isinstance(db, pw.SqliteDatabase)
        self._memory_locks: dict[str, threading.Lock] = {}

    # -- plumbing --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The database URL with any password masked."""
        return self._target.masked

    @property
    def backend(self) -> str:
        return self._target.kind

    def close(self) -> None:
        if not self._db.is_closed():
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _t(self, value: datetime | None) -> Any:
        return to_db_time(value, self._sqlite)

    def _sql(self, text: str) -> str:
        return text if self._sqlite else text.replace("?", "%s")

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._db.execute_sql(self._sql(sql), params)

    def _many(self, sql: str, rows: Sequence[Sequence[Any]], *, insert: bool = False) -> None:
        """Run one statement for many rows, the fast way each driver offers."""
        if not rows:
            return
        with _driver_errors:
            cursor = self._db.cursor()
            if self._sqlite:
                cursor.executemany(sql, rows)
                return
            extras = psycopg2_module().extras
            if insert:
                # "VALUES (?, ?)" → one multi-row VALUES list per page: one round trip each.
                head, _, values = sql.partition(" VALUES ")
                template = values.replace("?", "%s")
                extras.execute_values(cursor, f"{head} VALUES %s", rows, template, page_size=_CHUNK)
            else:
                extras.execute_batch(cursor, sql.replace("?", "%s"), rows, page_size=100)

    def _allocate_ids(self, table: str, count: int) -> list[int]:
        """Ids for rows about to be inserted in this transaction, so children can point at
        them without a round trip per row."""
        if count == 0:
            return []
        if self._sqlite:
            # Transactions begin IMMEDIATE, so no other writer can take these ids meanwhile.
            (top,) = self._execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()
            return list(range(top + 1, top + 1 + count))
        cur = self._execute(
            "SELECT nextval(pg_get_serial_sequence(?, 'id')) FROM generate_series(1, ?)",
            (table, count),
        )
        return [row[0] for row in cur.fetchall()]

    # -- players ---------------------------------------------------------------------------

    def _player_query(self, with_snapshots: bool = True) -> Any:
        P, S = self._m.Player, self._m.Snapshot
        columns = [
            P.id, P.name, P.mode, P.active, P.status, P.not_found_streak, P.last_polled_at,
            P.last_changed_at, S.taken_at, P.last_error, P.renamed_to, P.created_at,
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
         created, *blobs) = row
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
        :meth:`last_snapshots` instead of all at once."""
        query = self._player_query(with_snapshots).where(self._m.Player.active == True)  # noqa: E712
        return [self._state(r) for r in query]

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
        """``{player id: (last snapshot, reference)}`` for players that have one."""
        P, S = self._m.Player, self._m.Snapshot
        out: dict[int, tuple[Snapshot, Snapshot]] = {}
        for chunk in _chunks(list(player_ids)):
            query = (
                P.select(P.id, S.data, P.reference)
                .join(S, on=(S.id == P.last_snapshot_id))
                .where(P.id.in_(chunk))
                .tuples()
            )
            for pid, data, ref in query:
                last = Snapshot.decode(data)
                out[pid] = (last, Snapshot.decode(ref) if ref is not None else last)
        return out

    @_guard
    def suggest_names(self, name: str, n: int = 3) -> list[str]:
        """Display names close to ``name`` (for "did you mean" in errors)."""
        P = self._m.Player
        names = {key: display for key, display in P.select(P.key, P.name).tuples()}
        close = difflib.get_close_matches(normalize_name(name), list(names), n=n, cutoff=0.6)
        return [names[k] for k in close]

    # -- config sync -----------------------------------------------------------------------

    def _rows(self) -> list[_Row]:
        P = self._m.Player
        query = P.select(P.id, P.key, P.name, P.mode, P.active, P.renamed_to).tuples()
        return [_Row(i, k, n, m, bool(a), r) for i, k, n, m, a, r in query]

    @staticmethod
    def _plan_sync(players: Sequence[tuple[str, str]], rows: list[_Row]) -> _SyncPlan:
        by_key = {r.key: r for r in rows}
        entries: list[tuple[str, str, str]] = []
        seen: dict[str, str] = {}
        for name, mode in players:
            key = normalize_name(name)
            if not key:
                raise StoreError(f"player name {name!r} is empty")
            if key in seen:
                raise StoreError(f"players {seen[key]!r} and {name!r} are the same player")
            seen[key] = name
            entries.append((key, name.strip(), mode))

        def follow(row: _Row) -> _Row | None:
            """Where a rename tombstone leads (None: a broken chain, treat as fresh)."""
            hops = 0
            while row.renamed_to is not None:
                nxt = by_key.get(normalize_name(row.renamed_to))
                hops += 1
                if nxt is None or hops > len(by_key):
                    return None
                row = nxt
            return row

        plan = _SyncPlan()
        added: list[str] = []
        reactivated: list[str] = []
        modes: list[str] = []
        names: list[str] = []
        redirected: list[tuple[str, str]] = []
        later: list[tuple[str, _Row, str]] = []

        def want(row: _Row, name: str, mode: str, rename_ok: bool) -> None:
            plan.wanted[row.id] = (name if rename_ok else row.name, mode)
            if not row.active or (rename_ok and row.renamed_to is not None):
                plan.activate.append(row.id)
                if not row.active:
                    reactivated.append(name if rename_ok else row.name)
            if rename_ok and row.name != name:
                plan.set_name[row.id] = name
                names.append(name)
            if row.mode != mode:
                plan.set_mode[row.id] = mode
                modes.append(name if rename_ok else row.name)

        for key, name, mode in entries:
            row = by_key.get(key)
            if row is None:
                plan.inserts.append((key, name, mode))
                added.append(name)
                continue
            target = follow(row) if row.renamed_to is not None else row
            if target is None or target is row:
                want(row, name, mode, rename_ok=True)  # includes reviving a broken tombstone
            else:
                later.append((name, target, mode))
        # An old name in the config follows its rename, unless the new name is listed too.
        for name, target, mode in later:
            redirected.append((name, target.name))
            if target.id not in plan.wanted:
                want(target, name, mode, rename_ok=False)

        plan.deactivate = [r.id for r in rows if r.active and r.id not in plan.wanted]
        by_id = {r.id: r for r in rows}
        plan.report = SyncReport(
            added=tuple(added),
            reactivated=tuple(reactivated),
            deactivated=tuple(by_id[i].name for i in plan.deactivate),
            updated_mode=tuple(modes),
            updated_name=tuple(names),
            redirected=tuple(redirected),
        )
        return plan

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
            plan = self._plan_sync(players, self._rows())
            self._many(
                self._sql(
                    'INSERT INTO player ("key", name, mode, active, created_at, status, '
                    "not_found_streak) VALUES (?, ?, ?, ?, ?, 'ok', 0) "
                    'ON CONFLICT ("key") DO NOTHING'
                ),
                [(k, n, m, True, self._t(now)) for k, n, m in plan.inserts],
            )
            for chunk in _chunks(plan.activate):
                P.update(active=True, renamed_to=None).where(P.id.in_(chunk)).execute()
            for chunk in _chunks(plan.deactivate):
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
        plan = self._plan_sync(players, self._rows())
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

    @staticmethod
    def _prepare(record: PollRecord) -> _Prepared:
        if record.status is not None and record.status not in PLAYER_STATUSES:
            raise ValueError(
                f"player {record.player_id}: status {record.status!r} is not one of "
                f"{sorted(PLAYER_STATUSES)}"
            )
        if record.not_found_streak is not None and record.not_found_streak < 0:
            raise ValueError(f"player {record.player_id}: negative not_found_streak")
        outbox = [
            (
                e.kind,
                _json(e.payload, f"player {record.player_id} {e.kind} event"),
                tuple(e.webhooks),
            )
            for e in record.outbox
        ]
        anomalies = [(str(m), int(o), int(n)) for m, o, n in record.anomalies]
        return _Prepared(
            record=record,
            blob=record.snapshot.encode() if record.snapshot is not None else None,
            reference=record.reference.encode() if record.reference is not None else None,
            outbox=outbox,
            anomalies=anomalies,
        )

    def _last_blobs(self, ids: list[int]) -> dict[int, tuple[int | None, bytes | None]]:
        out: dict[int, tuple[int | None, bytes | None]] = {}
        for chunk in _chunks(ids):
            marks = ", ".join("?" * len(chunk))
            cur = self._execute(
                "SELECT p.id, p.last_snapshot_id, s.data FROM player p "
                f"LEFT JOIN snapshot s ON s.id = p.last_snapshot_id WHERE p.id IN ({marks})",
                chunk,
            )
            for pid, sid, data in cur.fetchall():
                out[pid] = (sid, None if data is None else bytes(data))
        return out

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
        prepared = [self._prepare(r) for r in records]
        with self._db.atomic():
            return self._write_polls(prepared)

    def _write_polls(self, prepared: list[_Prepared]) -> RecordStats:
        ids = sorted({p.record.player_id for p in prepared})
        last = self._last_blobs(ids)
        missing = [i for i in ids if i not in last]
        if missing:
            raise ValueError(f"record_poll: no player with id {missing[0]}")

        # The player's current snapshot id as the batch goes: events point at it.
        current: dict[int, int | None] = {pid: sid for pid, (sid, _) in last.items()}
        # Decide which snapshots are new; a player twice in one batch compares with the first.
        changed: list[bool] = []
        for p in prepared:
            pid = p.record.player_id
            prev = last[pid][1]
            # Equal bytes settle it cheaply; unequal bytes may still be an equal snapshot
            # (encoding order of unknown names), so only then decode and compare values.
            new = p.blob is not None and p.blob != prev and (
                prev is None or Snapshot.decode(prev) != p.record.snapshot
            )
            changed.append(new)
            if new:
                last[pid] = (None, p.blob)
        snap_ids = iter(self._allocate_ids("snapshot", sum(changed)))

        snapshot_rows: list[tuple[Any, ...]] = []
        event_rows: list[tuple[Any, ...]] = []
        delivery_rows: list[tuple[Any, ...]] = []
        anomaly_rows: list[tuple[Any, ...]] = []
        player_rows: list[tuple[Any, ...]] = []
        events_needed = sum(len(p.outbox) for p in prepared)
        event_ids = iter(self._allocate_ids("event", events_needed))

        for p, is_new in zip(prepared, changed, strict=True):
            r = p.record
            at = self._t(r.taken_at)
            snapshot_id: int | None = None
            if is_new:
                snapshot_id = next(snap_ids)
                current[r.player_id] = snapshot_id
                snapshot_rows.append((snapshot_id, r.player_id, at, p.blob))
            elif r.snapshot is not None:
                snapshot_id = current.get(r.player_id)
            for kind, payload, webhooks in p.outbox:
                event_id = next(event_ids)
                event_rows.append((event_id, r.player_id, snapshot_id, kind, payload, at))
                delivery_rows.extend(
                    (event_id, hook, "pending", 0, at, at) for hook in webhooks
                )
            anomaly_rows.extend(
                (r.player_id, at, metric, old, new, at, False) for metric, old, new in p.anomalies
            )
            # The reference column is NULL while it equals the last snapshot (the usual case),
            # so a normal poll stores each snapshot once.
            set_ref = p.reference is not None
            ref = p.reference if set_ref and r.reference != r.snapshot else None
            player_rows.append((
                at,
                at if is_new else None,
                snapshot_id if is_new else None,
                r.status,
                r.not_found_streak,
                _clip(r.error),
                set_ref,
                ref,
                r.player_id,
            ))

        self._many(
            "INSERT INTO snapshot (id, player_id, taken_at, data) VALUES (?, ?, ?, ?)",
            snapshot_rows, insert=True,
        )
        self._write_events(event_rows, delivery_rows)
        self._many(
            'INSERT INTO anomaly (player_id, taken_at, metric, "old", "new", created_at, '
            "reviewed) VALUES (?, ?, ?, ?, ?, ?, ?)",
            anomaly_rows, insert=True,
        )
        self._many(
            "UPDATE player SET last_polled_at = ?, "
            "last_changed_at = COALESCE(?, last_changed_at), "
            "last_snapshot_id = COALESCE(?, last_snapshot_id), "
            "status = COALESCE(?, status), "
            "not_found_streak = COALESCE(?, not_found_streak), "
            "last_error = ?, "
            "reference = CASE WHEN ? THEN ? ELSE reference END "
            "WHERE id = ?",
            player_rows,
        )
        return RecordStats(
            snapshots_added=len(snapshot_rows),
            events_added=len(event_rows),
            deliveries_added=len(delivery_rows),
            anomalies_added=len(anomaly_rows),
        )

    def _write_events(
        self, event_rows: list[tuple[Any, ...]], delivery_rows: list[tuple[Any, ...]]
    ) -> None:
        self._many(
            "INSERT INTO event (id, player_id, snapshot_id, kind, payload, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            event_rows, insert=True,
        )
        self._many(
            "INSERT INTO delivery (event_id, webhook, status, attempts, next_attempt_at, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?)",
            delivery_rows, insert=True,
        )

    @_guard
    def record_events(
        self, entries: Sequence[OutboxEntry], now: datetime, player_id: int | None = None
    ) -> RecordStats:
        """Store events that come from no snapshot (price alerts, run summaries) with their
        pending deliveries, in one transaction."""
        prepared = [
            (e.kind, _json(e.payload, f"{e.kind} event"), tuple(e.webhooks)) for e in entries
        ]
        if not prepared:
            return RecordStats()
        at = self._t(now)
        with self._db.atomic():
            ids = self._allocate_ids("event", len(prepared))
            pairs = list(zip(ids, prepared, strict=True))
            events = [(i, player_id, None, kind, payload, at) for i, (kind, payload, _) in pairs]
            deliveries = [
                (i, hook, "pending", 0, at, at) for i, (_, _, hooks) in pairs for hook in hooks
            ]
            self._write_events(events, deliveries)
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
            for chunk in _chunks(ids):
                changed += D.update(**values).where(D.id.in_(chunk) & where).execute()
        return changed

    @_guard
    def mark_delivered(self, ids: Iterable[int], now: datetime) -> int:
        """Sent: whatever we thought of it before, it reached Discord. Returns rows changed."""
        D = self._m.Delivery
        return self._update_deliveries(
            ids, D.status != "sent",
            status="sent", sent_at=now, attempts=D.attempts + 1, last_error=None, lease_until=None,
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
            attempts=D.attempts + 1, next_attempt_at=next_attempt_at, last_error=_clip(error),
            lease_until=None,
        )

    @_guard
    def mark_failed(self, ids: Iterable[int], now: datetime, error: str) -> int:
        """A permanent failure (400: our payload is wrong): kept with its error, never retried."""
        D = self._m.Delivery
        return self._update_deliveries(
            ids, D.status.in_(["pending", "held"]),
            status="failed", attempts=D.attempts + 1, last_error=_clip(error), lease_until=None,
        )

    @_guard
    def hold_webhook(self, webhook: str, error: str) -> int:
        """Park every pending message of a disabled webhook (404/401), keeping them."""
        D = self._m.Delivery
        return (
            D.update(status="held", last_error=_clip(error))
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
                last_changed_at=None, status="ok", not_found_streak=0, last_error=None,
            ).where(P.id == src.id).execute()

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
            A.select(A.id, P.name, A.taken_at, A.metric, A.old, A.new, A.created_at, A.reviewed)
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
                       reviewed=bool(r))
            for i, n, t, m, o, nw, c, r in query.tuples()
        ]

    @_guard
    def review_anomalies(self, ids: Iterable[int]) -> int:
        A = self._m.Anomaly
        changed = 0
        with self._db.atomic():
            for chunk in _chunks(list(ids)):
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
            for model in (m.Player, m.Snapshot, m.Event, m.Delivery, m.Anomaly)
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
