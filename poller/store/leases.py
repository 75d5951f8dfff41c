"""Leases: several `run` processes share one database without doing anything twice.

A process claims work by writing its owner id and a lease expiry on the rows it takes, in one
short transaction; other processes skip rows whose lease has not expired. A process that dies
(kill -9, power cut) leaves its leases behind, and they simply run out: the work goes to whoever
claims next. So that a process whose lease ran out while it was still working cannot undo the
guarantee, its results are *fenced*: a poll is recorded only for players whose ``lease_owner``
is still this process (checked and written in one transaction), and a message is sent only
after its deliveries' leases were renewed by this owner just before the send.

- PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED`` inside the claiming ``UPDATE``, so concurrent
  claimers never wait on each other nor take the same row. Delivery claims additionally take a
  transaction-scoped advisory lock, so that claims take turns and a webhook's pending messages
  go to one process at a time (Discord's rate limit is per webhook, and a channel should read
  in order).
- SQLite: the same statements in one ``BEGIN IMMEDIATE`` transaction (one writer at a time).

These functions are the bodies of the ``Store`` methods of the same names; they take the store
as their first argument and run inside its error guard.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ._peewee import peewee as pw
from .sql import chunks
from .values import PendingDelivery, PlayerState, PollRecord, RecordStats

if TYPE_CHECKING:
    from .queries import Store

log = logging.getLogger("osrs_notify.store")

# Delivery claims take turns on PostgreSQL: (class id, hash of the schema) as the advisory key.
_CLAIM_LOCK_CLASS = 0x05B5


def _pg(store: Store) -> bool:
    return not store._sql.sqlite


def _ids_sql(n: int) -> str:
    return ", ".join("?" * n)


# -- players --------------------------------------------------------------------------------


def claim_due_players(
    store: Store,
    owner: str,
    now: datetime,
    interval: timedelta | None,
    lease: timedelta,
    limit: int,
    *,
    window_start: datetime | None = None,
) -> list[PlayerState]:
    """Take up to ``limit`` active players that are due and not leased by anyone else.

    Due: never polled, or last polled at or before ``now - interval`` and (when given) before
    ``window_start`` — the scheduler's "once per window" rule, with ``interval`` as the least
    gap between two polls. Oldest first. The claimed rows carry ``owner`` until
    ``now + lease``; they are returned with their last snapshots (ordered by name), ready for
    ``run_once(players=...)``.
    """
    if limit <= 0:
        return []
    if interval is None and window_start is None:
        raise ValueError("claim_due_players needs an interval or a window_start")
    sql = store._sql
    due: list[str] = []
    params: list[Any] = [True]
    if interval is not None:
        due.append("last_polled_at <= ?")
        params.append(sql.t(now - interval))
    if window_start is not None:
        due.append("last_polled_at < ?")
        params.append(sql.t(window_start))
    free = "(lease_until IS NULL OR lease_until <= ?)"
    where = f"active = ? AND (last_polled_at IS NULL OR ({' AND '.join(due)})) AND {free}"
    params.append(sql.t(now))
    until = sql.t(now + lease)
    with store._db.atomic():
        if _pg(store):
            rows = sql.execute(
                "WITH c AS MATERIALIZED ("
                f"  SELECT id FROM player WHERE {where}"
                "   ORDER BY last_polled_at NULLS FIRST, id LIMIT ? FOR UPDATE SKIP LOCKED) "
                "UPDATE player SET lease_owner = ?, lease_until = ? FROM c "
                "WHERE player.id = c.id RETURNING player.id",
                [*params, limit, owner, until],
            ).fetchall()
            ids = [r[0] for r in rows]
        else:
            rows = sql.execute(
                f"SELECT id FROM player WHERE {where} "
                "ORDER BY last_polled_at IS NOT NULL, last_polled_at, id LIMIT ?",
                [*params, limit],
            ).fetchall()
            ids = [r[0] for r in rows]
            if ids:
                sql.execute(
                    f"UPDATE player SET lease_owner = ?, lease_until = ? "
                    f"WHERE id IN ({_ids_sql(len(ids))})",
                    [owner, until, *ids],
                )
    if not ids:
        return []
    return _load_players(store, ids)


def _load_players(store: Store, ids: Sequence[int]) -> list[PlayerState]:
    P = store._m.Player
    store._known = {}
    states: list[PlayerState] = []
    for chunk in chunks(list(ids)):
        for row in store._player_query().where(P.id.in_(chunk)):
            state = store._state(row)
            if state.last_snapshot is not None:
                store._known[state.id] = (row[12], state.last_snapshot)  # 12: last_snapshot_id
            states.append(state)
    states.sort(key=lambda s: s.key)
    return states


def record_claimed(
    store: Store,
    owner: str,
    records: Sequence[PollRecord],
    *,
    polled_at: datetime | None = None,
) -> RecordStats:
    """``record_poll`` for claimed players, fenced: in one transaction, keep only the records
    of players ``owner`` still holds (a lease that ran out and was taken by another process
    means that process polls them; recording ours too would announce events twice), write
    them, and release those leases.

    ``polled_at`` (the time of the claim) becomes their ``last_polled_at`` instead of the time
    the fetch finished, so a batch claimed just before a window ends counts in that window and
    is due again in the next one.
    """
    from . import polls

    if not records:
        return RecordStats()
    sql = store._sql
    prepared = [polls.prepare(r, store._known) for r in records]
    ids = sorted({r.player_id for r in records})
    lock = " FOR UPDATE" if _pg(store) else ""
    nested = store._db.in_transaction()
    with store._db.atomic():
        held: set[int] = set()
        for chunk in chunks(ids):
            held.update(
                r[0]
                for r in sql.execute(
                    f"SELECT id FROM player WHERE id IN ({_ids_sql(len(chunk))}) "
                    f"AND lease_owner = ?{lock}",
                    [*chunk, owner],
                ).fetchall()
            )
        keep = [p for p in prepared if p.record.player_id in held]
        stats, remember = (
            polls.write_polls(sql, keep, store._known) if keep else (RecordStats(), {})
        )
        if polled_at is not None:
            for chunk in chunks(sorted(held)):
                sql.execute(
                    f"UPDATE player SET last_polled_at = ? WHERE id IN ({_ids_sql(len(chunk))})",
                    [sql.t(polled_at), *chunk],
                )
        _release_players(store, owner, sorted(held))
    if not nested:
        store._known.update(remember)
    lost = len(ids) - len(held)
    if lost:
        log.warning(
            "%d player(s) were taken over by another process after this one's lease ran out: "
            "their poll is not recorded here (the other process records it)", lost,
        )
    return stats


def _release_players(store: Store, owner: str, ids: Sequence[int] | None) -> int:
    sql = store._sql
    base = "UPDATE player SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?"
    if ids is None:
        return int(sql.execute(base, [owner]).rowcount)
    changed = 0
    for chunk in chunks(list(ids)):
        changed += int(
            sql.execute(f"{base} AND id IN ({_ids_sql(len(chunk))})", [owner, *chunk]).rowcount
        )
    return changed


def release_players(store: Store, owner: str, ids: Iterable[int] | None = None) -> int:
    """Give back ``owner``'s player leases (all of them, or only ``ids``) without recording."""
    with store._db.atomic():
        return _release_players(store, owner, None if ids is None else sorted(set(ids)))


# -- deliveries ------------------------------------------------------------------------------


def claim_deliveries(
    store: Store,
    owner: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    *,
    due_by: datetime | None = None,
    webhooks: Iterable[str] | None = None,
) -> list[PendingDelivery]:
    """Take up to ``limit`` pending deliveries due by ``due_by`` (default ``now``), oldest
    first, from webhooks no other process is sending to right now (and only of ``webhooks``,
    when given: those that can be sent to).

    A webhook whose messages another owner holds an unexpired lease on is left alone, so each
    webhook is served by one process at a time; a lease that ran out (its process died) frees
    the webhook again.
    """
    if limit <= 0:
        return []
    sql = store._sql
    at, until = sql.t(now), sql.t(now + lease)
    due = sql.t(due_by if due_by is not None else now)
    where = (
        "d.status = 'pending' AND d.next_attempt_at <= ? "
        "AND (d.lease_until IS NULL OR d.lease_until <= ?) "
        "AND NOT EXISTS (SELECT 1 FROM delivery o WHERE o.webhook = d.webhook "
        "AND o.status IN ('pending', 'held') AND o.lease_owner <> ? AND o.lease_until > ?)"
    )
    params: list[Any] = [due, at, owner, at]
    if webhooks is not None:
        names = sorted(set(webhooks))
        if not names:
            return []
        where += f" AND d.webhook IN ({_ids_sql(len(names))})"
        params += names
    with store._db.atomic():
        if _pg(store):
            sql.execute(
                "SELECT pg_advisory_xact_lock(?, hashtext(current_schema()))",
                [_CLAIM_LOCK_CLASS],
            )
            rows = sql.execute(
                "WITH c AS MATERIALIZED ("
                f"  SELECT d.id FROM delivery d WHERE {where}"
                "   ORDER BY d.id LIMIT ? FOR UPDATE SKIP LOCKED) "
                "UPDATE delivery SET lease_owner = ?, lease_until = ? FROM c "
                "WHERE delivery.id = c.id RETURNING delivery.id",
                [*params, limit, owner, until],
            ).fetchall()
            ids = sorted(r[0] for r in rows)
        else:
            rows = sql.execute(
                f"SELECT d.id FROM delivery d WHERE {where} ORDER BY d.id LIMIT ?",
                [*params, limit],
            ).fetchall()
            ids = [r[0] for r in rows]
            if ids:
                sql.execute(
                    f"UPDATE delivery SET lease_owner = ?, lease_until = ? "
                    f"WHERE id IN ({_ids_sql(len(ids))})",
                    [owner, until, *ids],
                )
    return _load_deliveries(store, ids) if ids else []


def _load_deliveries(store: Store, ids: Sequence[int]) -> list[PendingDelivery]:
    D, E, P = store._m.Delivery, store._m.Event, store._m.Player
    out: list[PendingDelivery] = []
    for chunk in chunks(list(ids)):
        query = (
            D.select(D.id, E.id, D.webhook, E.kind, E.payload, P.name, D.created_at, D.attempts)
            .join(E, on=(D.event == E.id))
            .join(P, pw.JOIN.LEFT_OUTER, on=(E.player == P.id))
            .where(D.id.in_(chunk))
            .order_by(D.id)
            .tuples()
        )
        out.extend(
            PendingDelivery(
                delivery_id=did, event_id=eid, webhook=hook, kind=kind,
                payload=json.loads(payload), player_name=name, created_at=created,
                attempts=attempts,
            )
            for did, eid, hook, kind, payload, name, created, attempts in query
        )
    out.sort(key=lambda d: d.delivery_id)
    return out


def confirm_deliveries(
    store: Store, owner: str, ids: Iterable[int], now: datetime, lease: timedelta
) -> list[int]:
    """Just before a send: renew ``owner``'s lease on ``ids`` and return those it still holds
    (pending, ``lease_owner`` = owner). Anything else was taken over or settled meanwhile and
    must not be sent again."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    sql = store._sql
    until = sql.t(now + lease)
    held: list[int] = []
    with store._db.atomic():
        for chunk in chunks(wanted):
            marks = _ids_sql(len(chunk))
            cond = f"id IN ({marks}) AND lease_owner = ? AND status = 'pending'"
            sql.execute(f"UPDATE delivery SET lease_until = ? WHERE {cond}", [until, *chunk, owner])
            held += [
                r[0]
                for r in sql.execute(f"SELECT id FROM delivery WHERE {cond}", [*chunk, owner])
            ]
    return sorted(held)


def release_deliveries(store: Store, owner: str) -> int:
    """Give back every delivery lease ``owner`` still holds (those it did not settle)."""
    with store._db.atomic():
        cur = store._sql.execute(
            "UPDATE delivery SET lease_owner = NULL, lease_until = NULL "
            "WHERE status IN ('pending', 'held') AND lease_owner = ?",
            [owner],
        )
        return int(cur.rowcount)


# -- shared settings -------------------------------------------------------------------------


def shared_fraction(store: Store, key: str) -> float:
    """A random number in [0, 1) chosen once per database and kept in ``meta``: every process
    sharing the database reads the same one (the first to ask chooses it)."""
    sql = store._sql
    value = f"{random.random():.6f}"
    with store._db.atomic():
        sql.execute(
            'INSERT INTO meta ("key", value) VALUES (?, ?) ON CONFLICT ("key") DO NOTHING',
            [key, value],
        )
        row = sql.execute('SELECT value FROM meta WHERE "key" = ?', [key]).fetchone()
    try:
        fraction = float(row[0])
    except (TypeError, ValueError):
        return 0.0
    return fraction % 1.0
