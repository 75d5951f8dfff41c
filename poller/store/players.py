"""Players and their snapshots: the roster as the pipeline loads it, the config sync, renames,
and the history commands read.

Every function takes the :class:`~.db.Db` first; those that hand out last snapshots also take
the store's :class:`~.polls.KnownSnapshots` and refill it, so the next ``record_poll`` compares
values instead of encoding (see :mod:`.polls`).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from ..adaptive import Activity
from ..names import normalize_name
from ..snapshot import Snapshot
from .db import Db, chunks
from .models import from_db_time
from .orm import pw
from .polls import KnownSnapshots
from .sync import PlayerRow, plan_sync
from .values import AnomalyRow, EventRow, PlayerState, StoreError, SyncReport


def _decode(blob: Any) -> Snapshot | None:
    return None if blob is None else Snapshot.decode(bytes(blob))


def _query(db: Db, with_snapshots: bool = True) -> Any:
    P, S = db.models.Player, db.models.Snapshot
    columns = [
        P.id, P.name, P.mode, P.active, P.status, P.not_found_streak, P.last_polled_at,
        P.last_changed_at, S.taken_at, P.last_error, P.renamed_to, P.created_at,
        P.last_snapshot_id, P.account_type, P.account_type_at,
    ]
    if with_snapshots:
        columns += [S.data, P.reference]
    return (
        P.select(*columns)
        .join(S, pw.JOIN.LEFT_OUTER, on=(S.id == P.last_snapshot_id))
        .order_by(P.key)
        .tuples()
    )


def _state(row: Sequence[Any]) -> tuple[PlayerState, int | None]:
    """A row of :func:`_query` → the player and their last snapshot's row id."""
    (pid, name, mode, active, status, streak, polled, changed, snap_at, error, renamed,
     created, snapshot_id, account_type, account_type_at, *blobs) = row
    last = _decode(blobs[0]) if blobs else None
    reference = _decode(blobs[1]) if blobs and blobs[1] is not None else last
    state = PlayerState(
        id=pid, name=name, mode=mode, active=bool(active), status=status,
        not_found_streak=streak, last_polled_at=polled, last_changed_at=changed,
        last_snapshot=last, last_snapshot_at=snap_at, last_error=error,
        reference=reference, renamed_to=renamed, created_at=created,
        account_type=account_type, account_type_at=account_type_at,
    )
    return state, snapshot_id


def _load(query: Any, known: KnownSnapshots) -> list[PlayerState]:
    states = []
    for row in query:
        state, snapshot_id = _state(row)
        if state.last_snapshot is not None and snapshot_id is not None:
            known.remember(state.id, snapshot_id, state.last_snapshot)
        states.append(state)
    return states


def active(db: Db, known: KnownSnapshots, *, with_snapshots: bool = True) -> list[PlayerState]:
    """Players to poll, ordered by name (see :meth:`Store.active_players`)."""
    known.reset()
    return _load(_query(db, with_snapshots).where(db.models.Player.active == True), known)  # noqa: E712


def by_ids(db: Db, known: KnownSnapshots, ids: Sequence[int]) -> list[PlayerState]:
    """The players with ``ids``, with their last snapshots, ordered by name."""
    P = db.models.Player
    known.reset()
    states: list[PlayerState] = []
    for chunk in chunks(list(ids)):
        states += _load(_query(db).where(P.id.in_(chunk)), known)
    states.sort(key=lambda s: s.key)
    return states


def every(db: Db) -> list[PlayerState]:
    return [_state(r)[0] for r in _query(db)]


def named(db: Db, name: str) -> PlayerState | None:
    rows = list(_query(db).where(db.models.Player.key == normalize_name(name)))
    return _state(rows[0])[0] if rows else None


def last_snapshots(
    db: Db, known: KnownSnapshots, player_ids: Iterable[int]
) -> dict[int, tuple[Snapshot, Snapshot]]:
    """``{player id: (last snapshot, reference)}`` for those that have one."""
    P, S = db.models.Player, db.models.Snapshot
    out: dict[int, tuple[Snapshot, Snapshot]] = {}
    known.reset()
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
            known.remember(pid, sid, last)
    return out


def suggest_names(db: Db, name: str, n: int = 3) -> list[str]:
    """Display names close to ``name`` (for "did you mean" in errors)."""
    P = db.models.Player
    names = {key: display for key, display in P.select(P.key, P.name).tuples()}
    close = difflib.get_close_matches(normalize_name(name), list(names), n=n, cutoff=0.6)
    return [names[k] for k in close]


# -- config sync ------------------------------------------------------------------------------


def _rows(db: Db) -> list[PlayerRow]:
    P = db.models.Player
    query = P.select(P.id, P.key, P.name, P.mode, P.active, P.renamed_to).tuples()
    return [PlayerRow(i, k, n, m, bool(a), r) for i, k, n, m, a, r in query]


def sync(db: Db, players: Sequence[tuple[str, str]], now: datetime) -> SyncReport:
    """Mirror the config's ``(name, mode)`` list, in one transaction (see
    :meth:`Store.sync_players`)."""
    P = db.models.Player
    with db.atomic():
        plan = plan_sync(players, _rows(db))
        db.many(
            db.q(
                'INSERT INTO player ("key", name, mode, active, created_at, status, '
                "not_found_streak) VALUES (?, ?, ?, ?, ?, 'ok', 0) "
                'ON CONFLICT ("key") DO NOTHING'
            ),
            [(k, n, m, True, db.t(now)) for k, n, m in plan.inserts],
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


def preview(db: Db, players: Sequence[tuple[str, str]]) -> list[PlayerState]:
    """What :func:`active` would return after ``sync(players)``, without writing anything.
    Players not yet stored get negative ids."""
    plan = plan_sync(players, _rows(db))
    states = {s.id: s for s in every(db) if s.id in plan.wanted}
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
                account_type=st.account_type, account_type_at=st.account_type_at,
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


# -- rename -----------------------------------------------------------------------------------


def rename(db: Db, old: str, new: str, now: datetime) -> None:
    """Carry OLD's history to NEW (see :meth:`Store.rename_player`)."""
    m = db.models
    P, S = m.Player, m.Snapshot
    old_key, new_key = normalize_name(old), normalize_name(new)
    new_name = " ".join(new.split())
    if not new_key:
        raise StoreError("the new name is empty")
    with db.atomic():
        src = P.get_or_none(P.key == old_key)
        if src is None:
            close = suggest_names(db, old)
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
            P.insert(  # the tombstone under the old name
                key=old_key, name=src.name, mode=src.mode, active=False, created_at=now,
                status="ok", not_found_streak=0, renamed_to=new_name,
            ).execute()
            return
        src_count = S.select().where(S.player_id == src.id).count()
        dst_count = S.select().where(S.player_id == dst.id).count()
        if src_count and dst_count:
            raise StoreError(
                f"cannot rename {src.name} to {dst.name}: both have history "
                f"({src_count} and {dst_count} snapshots), and merging two histories "
                f"would announce false events; remove one of them first"
            )
        for model in (S, m.Event, m.Anomaly):
            model.update(player_id=dst.id).where(model.player_id == src.id).execute()
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


# -- history, for commands and tests ----------------------------------------------------------


def _player_id(db: Db, name: str) -> int | None:
    P = db.models.Player
    row = P.select(P.id).where(P.key == normalize_name(name)).tuples().first()
    return row[0] if row else None


def history(db: Db, name: str) -> list[tuple[datetime, Snapshot]]:
    """Every stored snapshot of a player, oldest first ([] for an unknown name)."""
    S = db.models.Snapshot
    pid = _player_id(db, name)
    if pid is None:
        return []
    query = S.select(S.taken_at, S.data).where(S.player_id == pid).order_by(S.taken_at, S.id)
    return [(at, Snapshot.decode(data)) for at, data in query.tuples()]


def recent_events(db: Db, player: str | None = None, limit: int = 50) -> list[EventRow]:
    """Newest first."""
    E, P = db.models.Event, db.models.Player
    query = (
        E.select(E.id, P.name, E.kind, E.payload, E.created_at, E.snapshot_id)
        .join(P, pw.JOIN.LEFT_OUTER, on=(E.player_id == P.id))
        .order_by(E.id.desc())
        .limit(limit)
    )
    if player is not None:
        pid = _player_id(db, player)
        if pid is None:
            return []
        query = query.where(E.player_id == pid)
    return [
        EventRow(id=i, player_name=n, kind=k, payload=json.loads(p), created_at=c,
                 snapshot_id=s)
        for i, n, k, p, c, s in query.tuples()
    ]


def events_between(
    db: Db, start: datetime, end: datetime, kinds: Sequence[str]
) -> list[EventRow]:
    """Events of ``kinds`` recorded in ``[start, end)``, oldest first (a digest's "this
    week's 99s")."""
    E, P = db.models.Event, db.models.Player
    query = (
        E.select(E.id, P.name, E.kind, E.payload, E.created_at, E.snapshot_id)
        .join(P, pw.JOIN.LEFT_OUTER, on=(E.player_id == P.id))
        .where(E.created_at >= start, E.created_at < end, E.kind.in_(list(kinds)))
        .order_by(E.id)
    )
    return [
        EventRow(id=i, player_name=n, kind=k, payload=json.loads(p), created_at=c,
                 snapshot_id=s)
        for i, n, k, p, c, s in query.tuples()
    ]


def anomalies(db: Db, player: str | None = None, *, unreviewed: bool = False) -> list[AnomalyRow]:
    """Recorded decreases, newest first."""
    A, P = db.models.Anomaly, db.models.Player
    query = (
        A.select(
            A.id, P.name, A.taken_at, A.metric, A.old, A.new, A.created_at, A.reviewed,
            A.reason,
        )
        .join(P, on=(A.player_id == P.id))
        .order_by(A.id.desc())
    )
    if player is not None:
        pid = _player_id(db, player)
        if pid is None:
            return []
        query = query.where(A.player_id == pid)
    if unreviewed:
        query = query.where(A.reviewed == False)  # noqa: E712
    return [
        AnomalyRow(id=i, player_name=n, taken_at=t, metric=m, old=o, new=nw, created_at=c,
                   reviewed=bool(r), reason=why)
        for i, n, t, m, o, nw, c, r, why in query.tuples()
    ]


def review_anomalies(db: Db, ids: Iterable[int]) -> int:
    A = db.models.Anomaly
    changed = 0
    with db.atomic():
        for chunk in chunks(list(ids)):
            changed += A.update(reviewed=True).where(A.id.in_(chunk)).execute()
    return changed


_BEFORE = """
SELECT s.player_id, s.taken_at, s.data FROM snapshot s
JOIN (SELECT t.player_id AS pid, MAX(t.taken_at) AS last_at FROM snapshot t
      WHERE t.taken_at <= ? AND NOT EXISTS (
          SELECT 1 FROM anomaly a WHERE a.player_id = t.player_id AND a.taken_at = t.taken_at)
      GROUP BY t.player_id) b ON b.pid = s.player_id AND b.last_at = s.taken_at
"""
_DURING = """
SELECT s.player_id, s.taken_at, s.data, NOT EXISTS (
    SELECT 1 FROM anomaly a WHERE a.player_id = s.player_id AND a.taken_at = s.taken_at)
FROM snapshot s WHERE s.taken_at > ? AND s.taken_at <= ?
"""


def snapshots_between(
    db: Db, start: datetime, end: datetime
) -> dict[str, list[tuple[datetime, Snapshot, bool]]]:
    """Every player's history for a period, by display name, oldest first: their latest
    snapshot without an anomaly at or before ``start`` (their state when it began), then every
    snapshot in ``(start, end]`` with whether it is free of anomalies. Two queries for the
    whole clan, whatever its size."""
    P = db.models.Player
    names = dict(P.select(P.id, P.name).tuples())
    out: dict[str, list[tuple[datetime, Snapshot, bool]]] = {}
    rows = [(pid, at, data, True) for pid, at, data in db.execute(_BEFORE, [db.t(start)])]
    rows += db.execute(_DURING, [db.t(start), db.t(end)]).fetchall()
    for pid, at, data, trusted in rows:
        taken = from_db_time(at)
        assert taken is not None  # a NOT NULL column
        out.setdefault(names[pid], []).append((taken, Snapshot.decode(bytes(data)), bool(trusted)))
    for points in out.values():
        points.sort(key=lambda p: p[0])
    return out


def activity(db: Db, now: datetime) -> list[Activity]:
    """Every active player as the polling rule sees them (:mod:`poller.adaptive`): last polled,
    last changed, and the times of their stored snapshots over the rule's history — each row
    is a poll that saw a change. A few queries, whatever the clan's size."""
    from ..adaptive import HISTORY

    P = db.models.Player
    changes: dict[int, list[datetime]] = {}
    rows = db.execute(
        "SELECT s.player_id, s.taken_at FROM snapshot s JOIN player p ON p.id = s.player_id "
        "WHERE p.active = ? AND s.taken_at > ?", [True, db.t(now - HISTORY)],
    )
    for pid, at in rows:
        taken = from_db_time(at)
        if taken is not None:
            changes.setdefault(pid, []).append(taken)
    # A player's first row is the baseline their first poll stored, not a change: looked up
    # (by index) only for the players with rows in the window, not over the whole table.
    first = {pid: from_db_time(at) for pid, at in db.select_in(
        "SELECT player_id, MIN(taken_at) FROM snapshot WHERE player_id IN ({}) "
        "GROUP BY player_id", list(changes))}
    for pid, times in changes.items():
        changes[pid] = [t for t in times if t != first.get(pid)]
    query = P.select(P.id, P.last_polled_at, P.last_changed_at, P.created_at).where(
        P.active == True  # noqa: E712 - peewee builds SQL from the comparison
    )
    return [Activity(pid, polled, None if changed == first.get(pid) else changed,
                     tuple(changes.get(pid, ())), first.get(pid) or created)
            for pid, polled, changed, created in query.tuples()]
