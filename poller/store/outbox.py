"""The outbox as status lines need it: what waits for each webhook and why, what failed for
good, and the two ways back (a failed message queued again, a removed webhook's messages
dropped with a count).

These functions are the bodies of the ``Store`` methods of the same names; they take the store
as their first argument and run inside its error guard. The values live here rather than in
:mod:`.values` because only the delivery status lines use them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ._peewee import peewee as pw
from .models import from_db_time
from .sql import chunks

if TYPE_CHECKING:
    from .queries import Store

# Statuses a message can wait in: "pending" (due, backing off or leased) and "held" (its
# webhook cannot be sent to: no URL, or refused by Discord). "failed" waits for a person.
UNSENT = ("pending", "held", "failed")


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
    store: Store, now: datetime, *, owner: str | None = None, failed_examples: int = 20
) -> dict[str, Backlog]:
    """Every webhook with unsent messages → its :class:`Backlog` at ``now``. Leases held by
    ``owner`` (the caller) count as unleased: they are the caller's own, given back next."""
    sql = store._sql
    at = sql.t(now)
    mine = owner or ""
    rows = sql.execute(
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
        marks = ", ".join("?" * len(chunk))
        errors.update(
            sql.execute(f"SELECT id, last_error FROM delivery WHERE id IN ({marks})", list(chunk))
            .fetchall()
        )
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
            p["failed_events"] = tuple(failed_events(store, hook, limit=failed_examples))
        out[hook] = Backlog(leased=leased, **p)
    return out


def _newest(p: dict[str, Any], what: str, top: int | None, error: str | None) -> None:
    if top is None:
        return
    seen = p["tops"].get(what)
    if seen is None or top > seen[0]:
        p["tops"][what] = (top, error)


def failed_events(
    store: Store, webhook: str | None = None, *, limit: int = 100
) -> list[FailedEvent]:
    """Failed messages (newest first), with their player and Discord's error."""
    D, E, P = store._m.Delivery, store._m.Event, store._m.Player
    query = (
        D.select(D.id, D.webhook, P.name, E.kind, D.last_error, E.payload)
        .join(E, on=(D.event == E.id))
        .join(P, pw.JOIN.LEFT_OUTER, on=(E.player == P.id))
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


def retry_failed(store: Store, now: datetime, webhooks: Iterable[str] | None = None) -> int:
    """Failed messages (of ``webhooks``, or all) back to pending, due at ``now``: the owner
    fixed what Discord refused. Their error stays until they are sent."""
    D = store._m.Delivery
    where = D.status == "failed"
    if webhooks is not None:
        where &= D.webhook.in_(sorted(set(webhooks)))
    return int(
        D.update(status="pending", next_attempt_at=now, lease_until=None, lease_owner=None)
        .where(where)
        .execute()
    )


def drop_webhook(store: Store, name: str) -> int:
    """A webhook removed from the config: its unsent messages (pending, held, failed) can go
    nowhere, so they become "dropped" (the events stay, for history) and its state row goes.
    Returns how many were dropped."""
    D, W = store._m.Delivery, store._m.WebhookState
    with store._db.atomic():
        W.delete().where(W.name == name).execute()
        return int(
            D.update(status="dropped", lease_until=None, lease_owner=None)
            .where((D.webhook == name) & D.status.in_(list(UNSENT)))
            .execute()
        )


def unsent_webhooks(store: Store) -> set[str]:
    """Names of webhooks with unsent messages or a stored state (to find removed ones)."""
    D, W = store._m.Delivery, store._m.WebhookState
    names = {
        r[0] for r in D.select(D.webhook).where(D.status.in_(list(UNSENT))).distinct().tuples()
    }
    return names | {r[0] for r in W.select(W.name).tuples()}
