"""The outbox → Discord: pending deliveries become messages, each send is recorded.

Order of operations is the guarantee: events were committed with their snapshot before we get
here; a message is sent, *then* its deliveries are marked in one transaction together with the
attempt. A crash between the two repeats at most that one message; nothing is dropped.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Protocol

from notifier.messages import Message, Style, build_messages

if TYPE_CHECKING:
    from notifier.sender import SendResult
    from notifier.webhook import WebhookAddress

    from .settings import Settings, WebhookSettings
    from .store import PendingDelivery, Store

log = logging.getLogger("osrs_notify.deliver")

# A pause Discord imposed (global 429, edge ban) outlives the process: cron starts a new one.
PAUSE_KEY = "discord_paused_until"


class Sender(Protocol):
    """The Discord seam (``notifier.webhook.WebhookSender``); tests may fake it."""

    def send(
        self, address: WebhookAddress, body: object, *, thread_id: str | None = None
    ) -> SendResult: ...

    def global_pause_remaining(self) -> float: ...

    def pause_all(self, seconds: float) -> None: ...


class DeliveryClaim(Protocol):
    """Leased deliveries for one of several processes sharing a database (the scheduler's
    ``run``): ``take`` claims what is due, ``confirm`` renews the lease on a message's
    deliveries right before it is sent and returns those still held (the rest were taken over
    or settled meanwhile and must not be sent again)."""

    def take(self, due_by: datetime) -> list[PendingDelivery]: ...

    def confirm(self, ids: Sequence[int]) -> list[int]: ...


class LeaseClaim:
    """:class:`DeliveryClaim` for the cron path (`poll`, `deliver`): it takes everything due in
    one claim, so a `run` process sharing the database never sends the same message at the
    same time. Give the leases back with :meth:`release` when done."""

    def __init__(self, store: Store, *, lease: timedelta = timedelta(minutes=5)) -> None:
        import os
        import socket

        self.store, self.lease = store, lease
        self.owner = f"cron:{socket.gethostname()}:{os.getpid()}"

    def take(self, due_by: datetime) -> list[PendingDelivery]:
        return self.store.claim_deliveries(
            self.owner, utcnow(), self.lease, 1_000_000, due_by=due_by
        )

    def confirm(self, ids: Sequence[int]) -> list[int]:
        return self.store.confirm_deliveries(self.owner, ids, utcnow(), self.lease)

    def release(self) -> None:
        self.store.release_deliveries(self.owner)


@dataclass
class WebhookReport:
    name: str
    messages_sent: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    held: int = 0
    paused: bool = False
    disabled: str | None = None
    skipped: str | None = None
    errors: list[str] = field(default_factory=list)
    # For run metrics: each send's outcome, and event → Discord seconds per delivered event.
    outcomes: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)

    @property
    def troubled(self) -> bool:
        return bool(self.retrying or self.failed or self.disabled)


@dataclass
class DeliveryReport:
    webhooks: dict[str, WebhookReport] = field(default_factory=dict)
    paused_for: float = 0.0
    started_at: datetime | None = None
    finished_at: datetime | None = None

    def hook(self, name: str) -> WebhookReport:
        return self.webhooks.setdefault(name, WebhookReport(name))

    @property
    def delivered(self) -> int:
        return sum(w.delivered for w in self.webhooks.values())

    @property
    def messages_sent(self) -> int:
        return sum(w.messages_sent for w in self.webhooks.values())

    @property
    def exit_code(self) -> int:
        return 1 if any(w.troubled for w in self.webhooks.values()) else 0


def address_hash(address: WebhookAddress) -> str:
    """A fingerprint of a webhook URL that reveals nothing of its token."""
    return hashlib.sha256(f"{address.id}/{address.token}".encode()).hexdigest()[:16]


def style_of(hook: WebhookSettings) -> Style:
    return Style(
        username=hook.username,
        avatar_url=hook.avatar_url,
        format=hook.format,  # type: ignore[arg-type]
        templates=hook.templates,
    )


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def sync_webhook_states(settings: Settings, store: Store, now: datetime) -> dict[str, str]:
    """Re-enable webhooks whose URL changed since Discord refused them; returns the names that
    stay disabled with their reason."""
    disabled: dict[str, str] = {}
    for name, state in store.webhook_states().items():
        if not state.disabled:
            continue
        hook = settings.webhooks.get(name)
        if hook is not None and hook.address is not None:
            fingerprint = address_hash(hook.address)
            if fingerprint != state.address_hash:
                released = store.enable_webhook(name, fingerprint, now)
                log.warning(
                    "webhook %r has a new URL: enabled again, %d kept message(s) will be sent",
                    name, released,
                )
                continue
        disabled[name] = state.reason or "disabled"
    return disabled


def deliver_pending(
    settings: Settings,
    store: Store,
    sender: Sender,
    *,
    now: Callable[[], datetime] = utcnow,
    only: str | None = None,
    ignore_backoff: bool = False,
    claim: DeliveryClaim | None = None,
) -> DeliveryReport:
    """Send every due pending delivery, webhook by webhook. Never raises for Discord trouble:
    each outcome is recorded and reported. ``ignore_backoff`` also sends the ones waiting out
    a retry delay (the owner knows Discord is back). ``claim`` sends only leased deliveries
    (default: every pending one; cron runs one process at a time under the poll lock)."""
    started = now()
    report = DeliveryReport(started_at=started)
    disabled = sync_webhook_states(settings, store, started)

    stored = store.get_meta(PAUSE_KEY)
    if stored:
        remaining = float(stored) - time.time()
        if remaining > 0:
            sender.pause_all(remaining)
        else:
            store.set_meta(PAUSE_KEY, None)

    due_by = started + timedelta(days=3650) if ignore_backoff else started
    pending = claim.take(due_by) if claim is not None else store.pending_deliveries(due_by)
    by_hook: dict[str, list[PendingDelivery]] = {}
    for d in pending:
        if only is None or d.webhook == only:
            by_hook.setdefault(d.webhook, []).append(d)

    # A disabled webhook stays loud while it keeps messages, even with nothing new for it.
    kept = store.count_pending(include_held=True)
    for name, reason in disabled.items():
        if name not in by_hook and kept.get(name) and (only is None or name == only):
            hr = report.hook(name)
            hr.disabled, hr.held = reason, kept[name]

    for name, items in by_hook.items():
        hr = report.hook(name)
        hook = settings.webhooks.get(name)
        if name in disabled:
            hr.disabled, hr.held = disabled[name], kept.get(name, len(items))
            continue
        if hook is None or hook.address is None:
            # Removed from the config or its URL unset: keep the messages, say so.
            hr.skipped = "not in the config" if hook is None else "has no URL"
            continue
        pause = sender.global_pause_remaining()
        if pause > 0:
            hr.paused = True
            report.paused_for = max(report.paused_for, pause)
            continue
        _deliver_webhook(settings, store, sender, hook, items, hr, now, claim)

    pause = sender.global_pause_remaining()
    if pause > 0:
        store.set_meta(PAUSE_KEY, f"{time.time() + pause:.3f}")
        report.paused_for = max(report.paused_for, pause)
    report.finished_at = now()
    return report


def _deliver_webhook(
    settings: Settings,
    store: Store,
    sender: Sender,
    hook: WebhookSettings,
    items: Sequence[PendingDelivery],
    hr: WebhookReport,
    now: Callable[[], datetime],
    claim: DeliveryClaim | None = None,
) -> None:
    from notifier.sender import backoff

    assert hook.address is not None
    attempts = {d.delivery_id: d.attempts for d in items}
    queue: list[Message] = build_messages(
        [(d.delivery_id, d.payload) for d in items], style_of(hook)
    )
    payload_of = {d.delivery_id: d.payload for d in items}
    created = {d.delivery_id: d.created_at for d in items}

    while queue:
        message = queue.pop(0)
        ids = list(message.delivery_ids)
        if claim is not None:
            held = claim.confirm(ids)
            if len(held) < len(ids):
                if held:  # send the rest without the ones no longer ours
                    queue[:0] = build_messages([(i, payload_of[i]) for i in held], style_of(hook))
                continue
        result = sender.send(hook.address, message.body, thread_id=hook.thread_id)
        at = now()
        outcome = result.outcome
        hr.outcomes[outcome] = hr.outcomes.get(outcome, 0) + 1
        with store.transaction():
            if result.attempts:
                store.record_attempt(
                    hook.name, at, outcome=outcome, status_code=result.status,
                    error=result.error, elapsed_ms=int(result.elapsed * 1000), delivery_ids=ids,
                )
            if outcome == "sent":
                store.mark_delivered(ids, at)
            elif outcome == "retry":
                tries = max((attempts.get(i, 0) for i in ids), default=0) + 1
                wait = backoff(tries)
                if result.retry_after:  # a 5xx's Retry-After: at least that long (≤ 1 h)
                    wait = max(wait, min(result.retry_after, 3600.0))
                retry_at = at + timedelta(seconds=wait)
                store.mark_retry(ids, at, retry_at, result.error or outcome)
            elif outcome == "paused":
                pass  # untouched: still due; the pause itself is remembered below
            elif outcome == "disable":
                held = store.disable_webhook(
                    hook.name, result.error or "refused by Discord", address_hash(hook.address), at
                )
                hr.held += held
            elif outcome in ("reject", "too_large") and len(ids) > 1:
                pass  # split below, outside the transaction
            else:  # a single delivery Discord will never accept
                store.mark_failed(ids, at, result.error or outcome)

        if outcome == "sent":
            hr.messages_sent += 1
            hr.delivered += len(ids)
            hr.latencies.extend((at - created[i]).total_seconds() for i in ids)
        elif outcome == "retry":
            hr.retrying += len(ids)
            hr.errors.append(result.error or "transient failure")
            # Discord is struggling: the rest of this webhook's queue stays pending, untried,
            # due no earlier than the failed message, so the channel still reads in order.
            rest = [i for m in queue for i in m.delivery_ids]
            store.defer_deliveries(rest, retry_at)
            hr.retrying += len(rest)
            return
        elif outcome == "paused":
            hr.paused = True
            return
        elif outcome == "disable":
            hr.disabled = result.error or "refused by Discord"
            log.error(
                "webhook %r (%s) disabled: %s. Its %d message(s) are kept; fix its URL and "
                "they will be sent.", hook.name, hook.address.masked, hr.disabled, hr.held,
            )
            return
        elif len(ids) > 1:
            # 400 or 413 for a message of several events: send them one by one, so one bad
            # event cannot hold back the others and a too-large message becomes several.
            singles = build_messages([(i, payload_of[i]) for i in ids[:1]], style_of(hook))
            rest = build_messages([(i, payload_of[i]) for i in ids[1:]], style_of(hook))
            if outcome == "too_large":
                half = len(ids) // 2
                singles = build_messages([(i, payload_of[i]) for i in ids[:half]], style_of(hook))
                rest = build_messages([(i, payload_of[i]) for i in ids[half:]], style_of(hook))
            queue[:0] = singles + rest
        else:
            hr.failed += len(ids)
            hr.errors.append(result.error or outcome)
            log.error("webhook %r: Discord refused a message: %s", hook.name, result.error)
