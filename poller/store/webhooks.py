"""Per-webhook state (disabled after Discord refused its URL for good) and the log of send
attempts. A disabled webhook's pending messages are parked as "held", never dropped."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from . import outbox
from .db import Db
from .polls import clip
from .values import AttemptRow, WebhookState


def states(db: Db) -> dict[str, WebhookState]:
    W = db.models.WebhookState
    return {
        r.name: WebhookState(r.name, r.disabled, r.reason, r.address_hash, r.changed_at)
        for r in W.select()
    }


def _set(
    db: Db, name: str, disabled: bool, reason: str | None, address_hash: str | None,
    now: datetime,
) -> None:
    W = db.models.WebhookState
    values = {"disabled": disabled, "reason": clip(reason), "address_hash": address_hash,
              "changed_at": now}
    if W.update(**values).where(W.name == name).execute() == 0:
        W.insert(name=name, **values).execute()


def disable(db: Db, name: str, reason: str, address_hash: str | None, now: datetime) -> int:
    """Mark a webhook disabled and park its pending messages; how many were parked."""
    with db.atomic():
        _set(db, name, True, reason, address_hash, now)
        return outbox.hold_webhook(db, name, reason)


def enable(db: Db, name: str, address_hash: str | None, now: datetime) -> int:
    """Re-enable a webhook (its URL was fixed); parked messages become due again."""
    with db.atomic():
        _set(db, name, False, None, address_hash, now)
        return outbox.release_webhook(db, name)


def record_attempt(
    db: Db, webhook: str, now: datetime, *, outcome: str, status_code: int | None,
    error: str | None, elapsed_ms: int, delivery_ids: Sequence[int],
) -> None:
    db.models.Attempt.insert(
        webhook=webhook, at=now, outcome=outcome, status_code=status_code,
        error=clip(error), elapsed_ms=elapsed_ms, deliveries=len(delivery_ids),
        first_delivery_id=min(delivery_ids) if delivery_ids else None,
    ).execute()


def attempts(db: Db, webhook: str | None = None, limit: int = 100) -> list[AttemptRow]:
    """Most recent send attempts first."""
    A = db.models.Attempt
    query = A.select().order_by(A.id.desc()).limit(limit)
    if webhook is not None:
        query = query.where(A.webhook == webhook)
    return [
        AttemptRow(a.webhook, a.at, a.outcome, a.status_code, a.error, a.elapsed_ms,
                   a.deliveries)
        for a in query
    ]
