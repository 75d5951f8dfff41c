"""The batch write behind :meth:`Store.record_poll`: decide which snapshots are new, then write
snapshots, events, deliveries, anomalies and player bookkeeping with one statement per table.

Deciding "changed" must not cost a decode or an encode per player: a poll of 2,000 players has
to fit in well under a second on SQLite. So the store remembers the snapshots it last handed
out (:class:`KnownSnapshots`: player id → (snapshot row id, value)); when that row is still the
player's last one, a value comparison settles it and only changed snapshots are encoded. Rows
are never updated and their ids never reused for committed rows, so a remembered (row id,
value) pair cannot go stale — another process writing in between just makes the ids differ,
and then the stored bytes are compared instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .. import game
from ..names import normalize_name
from ..snapshot import Snapshot
from .db import Db
from .values import PLAYER_STATUSES, PollRecord, RecordStats

MAX_ERROR = 1000  # characters of an error message worth keeping per row

Known = dict[int, tuple[int, Snapshot]]  # player id → (snapshot row id, value)

_KNOWN_METRICS = frozenset(game.STORAGE_ORDER)


class KnownSnapshots:
    """The snapshots a store last handed out, by player (see the module's docstring).

    Replaced on each roster load, so it never holds more than the caller's working set; added
    to only once a write has committed (a rolled-back row id may be reused for other stats).
    """

    __slots__ = ("rows",)

    def __init__(self) -> None:
        self.rows: Known = {}

    def reset(self) -> None:
        self.rows = {}

    def remember(self, player_id: int, row_id: int, snapshot: Snapshot) -> None:
        self.rows[player_id] = (row_id, snapshot)

    def forget(self, player_id: int) -> None:
        self.rows.pop(player_id, None)

    def update(self, pairs: Known) -> None:
        self.rows.update(pairs)


def to_json(payload: Mapping[str, object], what: str) -> str:
    try:
        return json.dumps(dict(payload), separators=(",", ":"), sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what}: payload is not JSON-serialisable ({exc})") from exc


def clip(text: str | None) -> str | None:
    return None if text is None else text[:MAX_ERROR]


def canonical(snapshot: Snapshot) -> bool:
    """Whether ``snapshot.encode()`` is the one possible encoding of its value.

    Known metrics with non-negative values are stored as (code, value) pairs sorted by code:
    one value, one byte string. Anything else goes into a JSON tail in dict order, so equal
    snapshots may then encode differently and only decoding can tell.
    """
    return all(
        values.keys() <= _KNOWN_METRICS and (not values or min(values.values()) >= 0)
        for values in (snapshot.skills, snapshot.activities)
    )


@dataclass(slots=True)
class Prepared:
    """A PollRecord validated and serialised before the write transaction starts, so the
    database lock is held for writing only."""

    record: PollRecord
    blob: bytes | None
    set_reference: bool
    reference: bytes | None
    outbox: list[tuple[str, str, tuple[str, ...]]]
    anomalies: list[tuple[str, int, int, str]]
    # The remembered snapshot already compared with, and the verdict (saves a second compare).
    compared_with: Snapshot | None = None
    same: bool = False

    def encoded(self) -> bytes:
        if self.blob is None:
            assert self.record.snapshot is not None
            self.blob = self.record.snapshot.encode()
        return self.blob


def prepare(record: PollRecord, known: Known) -> Prepared:
    if record.status is not None and record.status not in PLAYER_STATUSES:
        raise ValueError(
            f"player {record.player_id}: status {record.status!r} is not one of "
            f"{sorted(PLAYER_STATUSES)}"
        )
    if record.not_found_streak is not None and record.not_found_streak < 0:
        raise ValueError(f"player {record.player_id}: negative not_found_streak")
    outbox = [
        (e.kind, to_json(e.payload, f"player {record.player_id} {e.kind} event"), tuple(e.webhooks))
        for e in record.outbox
    ]
    anomalies = [(str(m), int(o), int(n), str(why)) for m, o, n, why in record.anomalies]
    snap, ref = record.snapshot, record.reference
    blob = None
    compared_with, same = None, False
    if snap is not None:
        remembered = known.get(record.player_id)
        if remembered is not None:
            compared_with, same = remembered[1], remembered[1] == snap
        if not same:
            blob = snap.encode()  # probably needed: encode now, outside the transaction
    return Prepared(
        record=record,
        blob=blob,
        # The reference column stays NULL while it equals the snapshot (the usual case), so a
        # normal poll neither encodes nor stores the same stats twice.
        set_reference=ref is not None,
        reference=ref.encode() if ref is not None and ref != snap else None,
        outbox=outbox,
        anomalies=anomalies,
        compared_with=compared_with,
        same=same,
    )


def _row_of(known: Known, player_id: int) -> int | None:
    remembered = known.get(player_id)
    return remembered[0] if remembered else None


def write_polls(db: Db, prepared: list[Prepared], known: Known) -> tuple[RecordStats, Known]:
    """Inside the caller's transaction. Returns the stats and the (row id, value) pairs to
    remember once the transaction has committed."""
    ids = sorted({p.record.player_id for p in prepared})
    last = dict(db.select_in("SELECT id, last_snapshot_id FROM player WHERE id IN ({})", ids))
    missing = [i for i in ids if i not in last]
    if missing:
        raise ValueError(f"record_poll: no player with id {missing[0]}")

    # Each player's previous snapshot: the remembered value if it is still the stored row,
    # else the stored bytes (one query for all of those).
    stale = [pid for pid in ids if last[pid] is not None and _row_of(known, pid) != last[pid]]
    blobs = dict(db.select_in(
        "SELECT p.id, s.data FROM player p JOIN snapshot s ON s.id = p.last_snapshot_id "
        "WHERE p.id IN ({})",
        stale,
    ))
    previous: dict[int, Snapshot | bytes | None] = {}
    for pid in ids:
        if last[pid] is None:
            previous[pid] = None
        elif pid in blobs:
            previous[pid] = bytes(blobs[pid])
        else:
            previous[pid] = known[pid][1]

    # Which snapshots are new; a player twice in one batch compares with the earlier record.
    changed: list[bool] = []
    for p in prepared:
        snap, pid = p.record.snapshot, p.record.player_id
        before = previous[pid]
        if snap is None:
            new = False
        elif before is None:
            new = True
        elif isinstance(before, Snapshot):
            new = not p.same if before is p.compared_with else before != snap
        else:
            # Equal bytes settle it; unequal bytes prove a change when the encoding is
            # canonical; otherwise decode and compare values (ranks ignored either way).
            blob = p.encoded()
            new = blob != before and (canonical(snap) or Snapshot.decode(before) != snap)
        if new:
            previous[pid] = snap
            p.encoded()
        changed.append(new)

    snap_ids = iter(db.allocate_ids("snapshot", sum(changed)))
    event_ids = iter(db.allocate_ids("event", sum(len(p.outbox) for p in prepared)))
    current: dict[int, int | None] = dict(last)  # the player's snapshot row as the batch goes
    remember: Known = {}
    snapshot_rows: list[tuple[Any, ...]] = []
    event_rows: list[tuple[Any, ...]] = []
    delivery_rows: list[tuple[Any, ...]] = []
    anomaly_rows: list[tuple[Any, ...]] = []
    player_rows: list[tuple[Any, ...]] = []

    for p, is_new in zip(prepared, changed, strict=True):
        r = p.record
        at = db.t(r.taken_at)
        snapshot_id: int | None = None
        if is_new:
            snapshot_id = next(snap_ids)
            current[r.player_id] = snapshot_id
            snapshot_rows.append((snapshot_id, r.player_id, at, p.blob))
        elif r.snapshot is not None:
            snapshot_id = current[r.player_id]  # unchanged: events point at the last row
        if r.snapshot is not None and snapshot_id is not None:
            remember[r.player_id] = (snapshot_id, r.snapshot)
        for kind, payload, webhooks in p.outbox:
            event_id = next(event_ids)
            event_rows.append((event_id, r.player_id, snapshot_id, kind, payload, at))
            delivery_rows.extend((event_id, hook, "pending", 0, at, at) for hook in webhooks)
        anomaly_rows.extend(
            (r.player_id, at, metric, old, new, at, False, clip(why))
            for metric, old, new, why in p.anomalies
        )
        player_rows.append((
            at,
            at if is_new else None,
            snapshot_id if is_new else None,
            r.status,
            r.not_found_streak,
            clip(r.error),
            p.set_reference,
            p.reference,
            r.account_type,
            db.t(r.account_type_at),
            r.player_id,
        ))

    db.many(
        "INSERT INTO snapshot (id, player_id, taken_at, data) VALUES (?, ?, ?, ?)",
        snapshot_rows, insert=True,
    )
    write_events(db, event_rows, delivery_rows)
    db.many(
        'INSERT INTO anomaly (player_id, taken_at, metric, "old", "new", created_at, reviewed, '
        "reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        anomaly_rows, insert=True,
    )
    db.many(
        "UPDATE player SET last_polled_at = ?, "
        "last_changed_at = COALESCE(?, last_changed_at), "
        "last_snapshot_id = COALESCE(?, last_snapshot_id), "
        "status = COALESCE(?, status), "
        "not_found_streak = COALESCE(?, not_found_streak), "
        "last_error = ?, "
        "reference = CASE WHEN ? THEN ? ELSE reference END, "
        "account_type = COALESCE(?, account_type), "
        "account_type_at = COALESCE(?, account_type_at) "
        "WHERE id = ?",
        player_rows,
    )
    stats = RecordStats(
        snapshots_added=len(snapshot_rows),
        events_added=len(event_rows),
        deliveries_added=len(delivery_rows),
        anomalies_added=len(anomaly_rows),
    )
    return stats, remember


def write_events(
    db: Db, event_rows: list[tuple[Any, ...]], delivery_rows: list[tuple[Any, ...]]
) -> None:
    """Events (ids already allocated) and their pending deliveries."""
    db.many(
        "INSERT INTO event (id, player_id, snapshot_id, kind, payload, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        event_rows, insert=True,
    )
    db.many(
        "INSERT INTO delivery (event_id, webhook, status, attempts, next_attempt_at, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?)",
        delivery_rows, insert=True,
    )


def record_poll(db: Db, known: KnownSnapshots, records: Sequence[PollRecord]) -> RecordStats:
    """The body of :meth:`Store.record_poll` (its docstring says what is written)."""
    if not records:
        return RecordStats()
    for r in records:
        if r.archive:
            known.forget(r.player_id)  # the old account's stats are not "last"
    prepared = [prepare(r, known.rows) for r in records]
    nested = db.in_transaction()
    with db.atomic():
        for r in records:
            if r.archive:
                archive_history(db, r.player_id, r.taken_at)
        stats, remember = write_polls(db, prepared, known.rows)
    if not nested:
        # Only once committed: a rolled-back row id may be reused for other stats later.
        known.update(remember)
    return stats


def archive_history(db: Db, player_id: int, now: datetime) -> str:
    """Move a player's history to a new inactive row named "NAME (until DATE)" and leave
    the player row without snapshots (its next snapshot is a fresh baseline). Inside the
    caller's transaction. Returns the archive's display name."""
    m = db.models
    P = m.Player
    src = P.select().where(P.id == player_id).get()
    label = f"{src.name} (until {now:%Y-%m-%d})"
    key, n = normalize_name(label), 1
    while P.select().where(P.key == key).exists():  # archived twice the same day
        n += 1
        key = normalize_name(f"{label} {n}")
    archive_id = P.insert(
        key=key, name=label if n == 1 else f"{label} {n}", mode=src.mode, active=False,
        created_at=src.created_at, last_polled_at=src.last_polled_at,
        last_changed_at=src.last_changed_at, last_snapshot_id=src.last_snapshot_id,
        reference=src.reference, status=src.status, not_found_streak=0,
    ).execute()
    for model in (m.Snapshot, m.Event, m.Anomaly):
        model.update(player_id=archive_id).where(model.player_id == player_id).execute()
    P.update(
        last_snapshot_id=None, reference=None, last_changed_at=None, status="ok",
        not_found_streak=0,
    ).where(P.id == player_id).execute()
    return label if n == 1 else f"{label} {n}"
