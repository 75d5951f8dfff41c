"""Leases: several `run` processes share one database without doing anything twice.

A process claims work by writing its owner id and a lease expiry on the rows it takes, in one
short transaction; other processes skip rows whose lease has not expired. A process that dies
(kill -9, power cut) leaves its leases behind, and they simply run out: the work goes to whoever
claims next. So that a process whose lease ran out while it was still working cannot undo the
guarantee, its results are *fenced*: a poll is recorded only for players whose ``lease_owner``
is still this process (checked and written in one transaction), and a message is sent only
after its deliveries' leases were renewed by this owner just before the send.

Players and deliveries are claimed by the one :func:`claim`, told what to take by a
:class:`Claim`:

- PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED`` inside the claiming ``UPDATE``, so concurrent
  claimers never wait on each other nor take the same row. Delivery claims additionally take a
  transaction-scoped advisory lock, so that claims take turns and a webhook's pending messages
  go to one process at a time (Discord's rate limit is per webhook, and a channel should read
  in order).
- SQLite: the same statements in one ``BEGIN IMMEDIATE`` transaction (one writer at a time).

These functions are the bodies of the ``Store`` methods of the same names; they take the
:class:`~.db.Db` first and run inside the Store's error guard.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from . import outbox, players, polls
from .db import Db, chunks, marks
from .polls import KnownSnapshots
from .values import PendingDelivery, PlayerState, PollRecord, RecordStats

log = logging.getLogger("osrs_notify.store")

# Delivery claims take turns on PostgreSQL: (class id, hash of the schema) as the advisory key.
_CLAIM_LOCK_CLASS = 0x05B5


@dataclass(frozen=True, slots=True)
class Claim:
    """Which rows of ``table`` (aliased ``t`` in ``where`` and ``order``) a claim takes."""

    table: str
    where: str
    params: Sequence[Any]
    order: str
    take_turns: bool = False  # PostgreSQL: one claimer at a time (an advisory lock)


def claim(db: Db, what: Claim, owner: str, until: datetime, limit: int) -> list[int]:
    """Lease up to ``limit`` rows matching ``what`` to ``owner`` until ``until``, in one
    transaction; their ids, ascending."""
    select = f"SELECT t.id FROM {what.table} t WHERE {what.where} ORDER BY {what.order} LIMIT ?"
    lease = [owner, db.t(until)]
    with db.atomic():
        if not db.sqlite:
            if what.take_turns:
                db.execute(
                    "SELECT pg_advisory_xact_lock(?, hashtext(current_schema()))",
                    [_CLAIM_LOCK_CLASS],
                )
            rows = db.execute(
                f"WITH c AS MATERIALIZED ({select} FOR UPDATE SKIP LOCKED) "
                f"UPDATE {what.table} SET lease_owner = ?, lease_until = ? FROM c "
                f"WHERE {what.table}.id = c.id RETURNING {what.table}.id",
                [*what.params, limit, *lease],
            ).fetchall()
            return sorted(r[0] for r in rows)
        ids = [r[0] for r in db.execute(select, [*what.params, limit]).fetchall()]
        if ids:
            db.execute(
                f"UPDATE {what.table} SET lease_owner = ?, lease_until = ? "
                f"WHERE id IN ({marks(len(ids))})",
                [*lease, *ids],
            )
    return sorted(ids)


def _release(db: Db, table: str, owner: str, ids: Sequence[int] | None, where: str = "") -> int:
    """Clear ``owner``'s leases on ``table`` (only ``ids`` when given); inside a transaction."""
    base = f"UPDATE {table} SET lease_owner = NULL, lease_until = NULL WHERE {where}lease_owner = ?"
    if ids is None:
        return int(db.execute(base, [owner]).rowcount)
    changed = 0
    for chunk in chunks(list(ids)):
        changed += int(
            db.execute(f"{base} AND id IN ({marks(len(chunk))})", [owner, *chunk]).rowcount
        )
    return changed


# -- players --------------------------------------------------------------------------------


def claim_due_players(
    db: Db,
    known: KnownSnapshots,
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
    due: list[str] = []
    params: list[Any] = [True]
    if interval is not None:
        due.append("t.last_polled_at <= ?")
        params.append(db.t(now - interval))
    if window_start is not None:
        due.append("t.last_polled_at < ?")
        params.append(db.t(window_start))
    params.append(db.t(now))
    what = Claim(
        table="player",
        where=(
            f"t.active = ? AND (t.last_polled_at IS NULL OR ({' AND '.join(due)})) "
            "AND (t.lease_until IS NULL OR t.lease_until <= ?)"
        ),
        params=params,
        # Never polled first, then the longest unpolled (NULLS FIRST, spelled for both).
        order="t.last_polled_at IS NOT NULL, t.last_polled_at, t.id",
    )
    ids = claim(db, what, owner, now + lease, limit)
    return players.by_ids(db, known, ids) if ids else []


def claim_listed_players(
    db: Db, known: KnownSnapshots, owner: str, ids: Sequence[int], now: datetime,
    lease: timedelta,
) -> list[PlayerState]:
    """Lease the players among ``ids`` that are active and not leased by anyone else (the ones
    the polling rule chose); returned with their last snapshots, ready for ``run_once``."""
    if not ids:
        return []
    what = Claim(
        table="player",
        where=(f"t.active = ? AND t.id IN ({marks(len(ids))}) "
               "AND (t.lease_until IS NULL OR t.lease_until <= ?)"),
        params=[True, *ids, db.t(now)],
        order="t.last_polled_at IS NOT NULL, t.last_polled_at, t.id",
    )
    taken = claim(db, what, owner, now + lease, len(ids))
    return players.by_ids(db, known, taken) if taken else []


def record_claimed(
    db: Db,
    known: KnownSnapshots,
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
    if not records:
        return RecordStats()
    prepared = [polls.prepare(r, known.rows) for r in records]
    ids = sorted({r.player_id for r in records})
    lock = "" if db.sqlite else " FOR UPDATE"
    nested = db.in_transaction()
    with db.atomic():
        held: set[int] = set()
        for chunk in chunks(ids):
            held.update(
                r[0]
                for r in db.execute(
                    f"SELECT id FROM player WHERE id IN ({marks(len(chunk))}) "
                    f"AND lease_owner = ?{lock}",
                    [*chunk, owner],
                ).fetchall()
            )
        keep = [p for p in prepared if p.record.player_id in held]
        stats, remember = (
            polls.write_polls(db, keep, known.rows) if keep else (RecordStats(), {})
        )
        if polled_at is not None:
            for chunk in chunks(sorted(held)):
                db.execute(
                    f"UPDATE player SET last_polled_at = ? WHERE id IN ({marks(len(chunk))})",
                    [db.t(polled_at), *chunk],
                )
        _release(db, "player", owner, sorted(held))
    if not nested:
        known.update(remember)
    lost = len(ids) - len(held)
    if lost:
        log.warning(
            "%d player(s) were taken over by another process after this one's lease ran out: "
            "their poll is not recorded here (the other process records it)", lost,
        )
    return stats


def release_players(db: Db, owner: str, ids: Iterable[int] | None = None) -> int:
    """Give back ``owner``'s player leases (all of them, or only ``ids``) without recording."""
    with db.atomic():
        return _release(db, "player", owner, None if ids is None else sorted(set(ids)))


# -- deliveries ------------------------------------------------------------------------------


def claim_deliveries(
    db: Db,
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
    at = db.t(now)
    where = (
        "t.status = 'pending' AND t.next_attempt_at <= ? "
        "AND (t.lease_until IS NULL OR t.lease_until <= ?) "
        "AND NOT EXISTS (SELECT 1 FROM delivery o WHERE o.webhook = t.webhook "
        "AND o.status IN ('pending', 'held') AND o.lease_owner <> ? AND o.lease_until > ?)"
    )
    params: list[Any] = [db.t(due_by if due_by is not None else now), at, owner, at]
    if webhooks is not None:
        names = sorted(set(webhooks))
        if not names:
            return []
        where += f" AND t.webhook IN ({marks(len(names))})"
        params += names
    what = Claim("delivery", where, params, order="t.id", take_turns=True)
    ids = claim(db, what, owner, now + lease, limit)
    return outbox.by_ids(db, ids) if ids else []


def confirm_deliveries(
    db: Db, owner: str, ids: Iterable[int], now: datetime, lease: timedelta
) -> list[int]:
    """Just before a send: renew ``owner``'s lease on ``ids`` and return those it still holds
    (pending, ``lease_owner`` = owner). Anything else was taken over or settled meanwhile and
    must not be sent again."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    until = db.t(now + lease)
    held: list[int] = []
    with db.atomic():
        for chunk in chunks(wanted):
            cond = f"id IN ({marks(len(chunk))}) AND lease_owner = ? AND status = 'pending'"
            db.execute(f"UPDATE delivery SET lease_until = ? WHERE {cond}", [until, *chunk, owner])
            held += [
                r[0] for r in db.execute(f"SELECT id FROM delivery WHERE {cond}", [*chunk, owner])
            ]
    return sorted(held)


def release_deliveries(db: Db, owner: str) -> int:
    """Give back every delivery lease ``owner`` still holds (those it did not settle)."""
    with db.atomic():
        return _release(db, "delivery", owner, None, where="status IN ('pending', 'held') AND ")
