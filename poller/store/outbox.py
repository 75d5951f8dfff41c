"""The delivery outbox: events stored with a pending delivery per webhook, the sender settling
them (sent, retry, failed, held), and what the status lines need: what waits for each webhook
and why, what failed for good, and the two ways back (a failed message queued again, a removed
webhook's messages dropped with a count).

These functions are the bodies of the ``Store`` methods of the same names; they take the
:class:`~.db.Db` first and run inside the Store's error guard. The values live here rather than
in :mod:`.values` because only the delivery status lines use them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .db import Db, chunks, marks
from .models import from_db_time
from .orm import pw
from .polls import clip, to_json, write_events
from .values import OutboxEntry, PendingDelivery, RecordStats

# Statuses a message can wait in: "pending" (due, backing off or leased) and "held" (its
# webhook cannot be sent to: no URL, or refused by Discord). "failed" waits for a person.
UNSENT = ("pending", "held", "failed")


def record_events(
    db: Db, entries: Sequence[OutboxEntry], now: datetime, player_id: int | None = None
) -> RecordStats:
    """Store events that come from no snapshot (price alerts, run summaries) with their
    pending deliveries, in one transaction."""
    prepared = [(e.kind, to_json(e.payload, f"{e.kind} event"), tuple(e.webhooks)) for e in entries]
    if not prepared:
        return RecordStats()
    at = db.t(now)
    with db.atomic():
        ids = db.allocate_ids("event", len(prepared))
        pairs = list(zip(ids, prepared, strict=True))
        events = [(i, player_id, None, kind, payload, at) for i, (kind, payload, _) in pairs]
        deliveries = [
            (i, hook, "pending", 0, at, at) for i, (_, _, hooks) in pairs for hook in hooks
        ]
        write_events(db, events, deliveries)
    return RecordStats(events_added=len(events), deliveries_added=len(deliveries))


def _pending_query(db: Db) -> Any:
    D, E, P = db.models.Delivery, db.models.Event, db.models.Player
    return (
        D.select(D.id, E.id, D.webhook, E.kind, E.payload, P.name, D.created_at, D.attempts)
        .join(E, on=(D.event_id == E.id))
        .join(P, pw.JOIN.LEFT_OUTER, on=(E.player_id == P.id))
        .order_by(D.id)
        .tuples()
    )


def _pending(rows: Iterable[tuple[Any, ...]]) -> list[PendingDelivery]:
    return [
        PendingDelivery(
            delivery_id=did, event_id=eid, webhook=hook, kind=kind, payload=json.loads(payload),
            player_name=name, created_at=created, attempts=attempts,
        )
        for did, eid, hook, kind, payload, name, created, attempts in rows
    ]


def pending(
    db: Db, now: datetime, limit: int | None = None, webhook: str | None = None
) -> list[PendingDelivery]:
    """Deliveries due by ``now`` (status pending), oldest first."""
    D = db.models.Delivery
    query = _pending_query(db).where((D.status == "pending") & (D.next_attempt_at <= now))
    if webhook is not None:
        query = query.where(D.webhook == webhook)
    if limit is not None:
        query = query.limit(limit)
    return _pending(query)


def by_ids(db: Db, ids: Sequence[int]) -> list[PendingDelivery]:
    """The deliveries ``ids`` (whatever their status), oldest first."""
    D = db.models.Delivery
    out: list[PendingDelivery] = []
    for chunk in chunks(list(ids)):
        out += _pending(_pending_query(db).where(D.id.in_(chunk)))
    out.sort(key=lambda d: d.delivery_id)
    return out


def _update(db: Db, ids: Iterable[int], where: Any, **values: Any) -> int:
    D = db.models.Delivery
    changed = 0
    with db.atomic():
        for chunk in chunks(list(ids)):
            changed += D.update(**values).where(D.id.in_(chunk) & where).execute()
    return changed


def mark_delivered(db: Db, ids: Iterable[int], now: datetime) -> int:
    D = db.models.Delivery
    return _update(
        db, ids, D.status != "sent",
        status="sent", sent_at=now, attempts=D.attempts + 1, last_error=None, lease_until=None,
        lease_owner=None,
    )


def mark_retry(
    db: Db, ids: Iterable[int], now: datetime, next_attempt_at: datetime, error: str
) -> int:
    D = db.models.Delivery
    return _update(
        db, ids, D.status == "pending",
        attempts=D.attempts + 1, next_attempt_at=next_attempt_at, last_error=clip(error),
        lease_until=None, lease_owner=None,
    )


def defer(db: Db, ids: Iterable[int], until: datetime) -> int:
    D = db.models.Delivery
    return _update(
        db, ids, (D.status == "pending") & (D.next_attempt_at < until), next_attempt_at=until
    )


def mark_failed(db: Db, ids: Iterable[int], now: datetime, error: str) -> int:
    D = db.models.Delivery
    return _update(
        db, ids, D.status.in_(["pending", "held"]),
        status="failed", attempts=D.attempts + 1, last_error=clip(error),
        lease_until=None, lease_owner=None,
    )


def hold_webhook(db: Db, webhook: str, error: str | None) -> int:
    D = db.models.Delivery
    return int(
        D.update(status="held", last_error=clip(error))
        .where((D.webhook == webhook) & (D.status == "pending"))
        .execute()
    )


def release_webhook(db: Db, webhook: str) -> int:
    D = db.models.Delivery
    return int(
        D.update(status="pending").where((D.webhook == webhook) & (D.status == "held")).execute()
    )


def count_pending(db: Db, *, include_held: bool = False) -> dict[str, int]:
    D = db.models.Delivery
    statuses = ["pending", "held"] if include_held else ["pending"]
    query = (
        D.select(D.webhook, pw.fn.COUNT(D.id))
        .where(D.status.in_(statuses))
        .group_by(D.webhook)
        .tuples()
    )
    return {hook: count for hook, count in query}


def statuses(db: Db, ids: Iterable[int]) -> dict[int, str]:
    D = db.models.Delivery
    out: dict[int, str] = {}
    for chunk in chunks(list(ids)):
        out.update(dict(D.select(D.id, D.status).where(D.id.in_(chunk)).tuples()))
    return out


# -- status lines -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LeaseHold:
    """Pending messages of one webhook under another process's unexpired lease."""

    owner: str
    count: int
    until: datetime


@dataclass(frozen=True, slots=True)
class FailedEvent:
    """One message Discord refused for good (400, or a 413 for a single event)."""

    delivery_id: int
    webhook: str
    player: str | None
    kind: str
    error: str | None


@dataclass(frozen=True, slots=True)
class Backlog:
    """What is not sent yet for one webhook, and why.

    ``due``: pending and free to send now. ``backoff``: pending, waiting out a retry delay,
    the last of them until ``backoff_until``. ``leased``: pending under another process's
    unexpired lease (it is sending them, or it died and the lease has yet to run out).
    ``held``: the webhook cannot be sent to (no URL, or disabled after a 404/401).
    ``failed``: Discord refused them; they wait for ``deliver --retry-failed``. Each ``*_error``
    is the newest such message's error.
    """

    webhook: str
    due: int = 0
    backoff: int = 0
    backoff_until: datetime | None = None
    backoff_error: str | None = None
    leased: tuple[LeaseHold, ...] = ()
    held: int = 0
    held_error: str | None = None
    failed: int = 0
    failed_error: str | None = None
    failed_events: tuple[FailedEvent, ...] = field(default=())

    @property
    def waiting(self) -> int:
        """Messages that will still go out without anyone acting (held ones once the webhook
        can be sent to); failed ones are not counted."""
        return self.due + self.backoff + sum(h.count for h in self.leased) + self.held


def backlog(
    db: Db, now: datetime, *, owner: str | None = None, failed_examples: int = 20
) -> dict[str, Backlog]:
    """Every webhook with unsent messages → its :class:`Backlog` at ``now``. Leases held by
    ``owner`` (the caller) count as unleased: they are the caller's own, given back next."""
    at = db.t(now)
    mine = owner or ""
    rows = db.execute(
        "SELECT webhook, status, "
        "CASE WHEN status = 'pending' AND lease_until > ? AND lease_owner <> ? "
        "THEN lease_owner ELSE '' END, "
        "CASE WHEN next_attempt_at > ? THEN 1 ELSE 0 END, "
        "COUNT(*), MAX(next_attempt_at), MAX(lease_until), "
        # The newest row that has an error: messages deferred behind a failed one have none.
        "MAX(CASE WHEN last_error IS NOT NULL THEN id END) "
        "FROM delivery WHERE status IN ('pending', 'held', 'failed') "
        "GROUP BY 1, 2, 3, 4",
        [at, mine, at],
    ).fetchall()
    newest = [r[7] for r in rows if r[7] is not None]
    errors: dict[int, str | None] = {}
    for chunk in chunks(newest):
        errors.update(db.execute(
            f"SELECT id, last_error FROM delivery WHERE id IN ({marks(len(chunk))})", list(chunk)
        ).fetchall())
    parts: dict[str, dict[str, Any]] = {}
    for hook, status, lessee, later, count, last_due, lease_until, top in rows:
        p = parts.setdefault(hook, {"webhook": hook, "leased": [], "tops": {}})
        error = errors.get(top)
        if status == "held":
            p["held"] = p.get("held", 0) + count
            _newest(p, "held", top, error)
        elif status == "failed":
            p["failed"] = p.get("failed", 0) + count
            _newest(p, "failed", top, error)
        elif lessee:
            p["leased"].append(LeaseHold(lessee, count, from_db_time(lease_until)))  # type: ignore[arg-type]
        elif later:
            p["backoff"] = count
            p["backoff_until"] = from_db_time(last_due)
            _newest(p, "backoff", top, error)
        else:
            p["due"] = count
    out: dict[str, Backlog] = {}
    for hook, p in sorted(parts.items()):
        tops = p.pop("tops")
        leased = tuple(sorted(p.pop("leased"), key=lambda h: (h.until, h.owner)))
        for what, (_, error) in tops.items():
            p[f"{what}_error"] = error
        if p.get("failed"):
            p["failed_events"] = tuple(failed_events(db, hook, limit=failed_examples))
        out[hook] = Backlog(leased=leased, **p)
    return out


def _newest(p: dict[str, Any], what: str, top: int | None, error: str | None) -> None:
    if top is None:
        return
    seen = p["tops"].get(what)
    if seen is None or top > seen[0]:
        p["tops"][what] = (top, error)


def failed_events(
    db: Db, webhook: str | None = None, *, limit: int = 100
) -> list[FailedEvent]:
    """Failed messages (newest first), with their player and Discord's error."""
    D, E, P = db.models.Delivery, db.models.Event, db.models.Player
    query = (
        D.select(D.id, D.webhook, P.name, E.kind, D.last_error, E.payload)
        .join(E, on=(D.event_id == E.id))
        .join(P, pw.JOIN.LEFT_OUTER, on=(E.player_id == P.id))
        .where(D.status == "failed")
        .order_by(D.id.desc())
        .limit(limit)
    )
    if webhook is not None:
        query = query.where(D.webhook == webhook)
    out = []
    for did, hook, name, kind, error, payload in query.tuples():
        if name is None:  # an event of no stored player (a price alert, or written directly)
            about = json.loads(payload).get("player")
            name = about if isinstance(about, str) else None
        out.append(FailedEvent(did, hook, name, kind, error))
    return out


def retry_failed(db: Db, now: datetime, webhooks: Iterable[str] | None = None) -> int:
    """Failed messages (of ``webhooks``, or all) back to pending, due at ``now``: the owner
    fixed what Discord refused. Their error stays until they are sent."""
    D = db.models.Delivery
    where = D.status == "failed"
    if webhooks is not None:
        where &= D.webhook.in_(sorted(set(webhooks)))
    return int(
        D.update(status="pending", next_attempt_at=now, lease_until=None, lease_owner=None)
        .where(where)
        .execute()
    )


def drop_webhook(db: Db, name: str) -> int:
    """A webhook removed from the config: its unsent messages (pending, held, failed) can go
    nowhere, so they become "dropped" (the events stay, for history) and its state row goes.
    Returns how many were dropped."""
    D, W = db.models.Delivery, db.models.WebhookState
    with db.atomic():
        W.delete().where(W.name == name).execute()
        return int(
            D.update(status="dropped", lease_until=None, lease_owner=None)
            .where((D.webhook == name) & D.status.in_(list(UNSENT)))
            .execute()
        )


def unsent_webhooks(db: Db) -> set[str]:
    """Names of webhooks with unsent messages or a stored state (to find removed ones)."""
    D, W = db.models.Delivery, db.models.WebhookState
    names = {
        r[0] for r in D.select(D.webhook).where(D.status.in_(list(UNSENT))).distinct().tuples()
    }
    return names | {r[0] for r in W.select(W.name).tuples()}
