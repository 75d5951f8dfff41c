"""The batch write behind :meth:`Store.record_poll`: decide which snapshots are new, then write
snapshots, events, deliveries, anomalies and player bookkeeping with one statement per table.

Deciding "changed" must not cost a decode or an encode per player: a poll of 2,000 players has
to fit in well under a second on SQLite. So the store remembers the snapshots it last handed
out (``known``: player id → (snapshot row id, value)); when that row is still the player's
last one, a value comparison settles it and only changed snapshots are encoded. Rows are never
updated and their ids never reused for committed rows, so a remembered (row id, value) pair
cannot go stale — another process writing in between just makes the ids differ, and then the
stored bytes are compared instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .. import game
from ..snapshot import Snapshot
from .sql import Sql
from .values import PLAYER_STATUSES, PollRecord, RecordStats

MAX_ERROR = 1000  # characters of an error message worth keeping per row

Known = dict[int, tuple[int, Snapshot]]

_KNOWN_METRICS = frozenset(game.STORAGE_ORDER)


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


def write_polls(sql: Sql, prepared: list[Prepared], known: Known) -> tuple[RecordStats, Known]:
    """Inside the caller's transaction. Returns the stats and the (row id, value) pairs to
    remember once the transaction has committed."""
    ids = sorted({p.record.player_id for p in prepared})
    last = dict(sql.select_in("SELECT id, last_snapshot_id FROM player WHERE id IN ({})", ids))
    missing = [i for i in ids if i not in last]
    if missing:
        raise ValueError(f"record_poll: no player with id {missing[0]}")

    # Each player's previous snapshot: the remembered value if it is still the stored row,
    # else the stored bytes (one query for all of those).
    stale = [pid for pid in ids if last[pid] is not None and _row_of(known, pid) != last[pid]]
    blobs = dict(sql.select_in(
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

    snap_ids = iter(sql.allocate_ids("snapshot", sum(changed)))
    event_ids = iter(sql.allocate_ids("event", sum(len(p.outbox) for p in prepared)))
    current: dict[int, int | None] = dict(last)  # the player's snapshot row as the batch goes
    remember: Known = {}
    snapshot_rows: list[tuple[Any, ...]] = []
    event_rows: list[tuple[Any, ...]] = []
    delivery_rows: list[tuple[Any, ...]] = []
    anomaly_rows: list[tuple[Any, ...]] = []
    player_rows: list[tuple[Any, ...]] = []

    for p, is_new in zip(prepared, changed, strict=True):
        r = p.record
        at = sql.t(r.taken_at)
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
            r.player_id,
        ))

    sql.many(
        "INSERT INTO snapshot (id, player_id, taken_at, data) VALUES (?, ?, ?, ?)",
        snapshot_rows, insert=True,
    )
    write_events(sql, event_rows, delivery_rows)
    sql.many(
        'INSERT INTO anomaly (player_id, taken_at, metric, "old", "new", created_at, reviewed, '
        "reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        anomaly_rows, insert=True,
    )
    sql.many(
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
    stats = RecordStats(
        snapshots_added=len(snapshot_rows),
        events_added=len(event_rows),
        deliveries_added=len(delivery_rows),
        anomalies_added=len(anomaly_rows),
    )
    return stats, remember


def write_events(
    sql: Sql, event_rows: list[tuple[Any, ...]], delivery_rows: list[tuple[Any, ...]]
) -> None:
    """Events (ids already allocated) and their pending deliveries."""
    sql.many(
        "INSERT INTO event (id, player_id, snapshot_id, kind, payload, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        event_rows, insert=True,
    )
    sql.many(
        "INSERT INTO delivery (event_id, webhook, status, attempts, next_attempt_at, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?)",
        delivery_rows, insert=True,
    )
