"""The outbox → Discord: pending deliveries become messages, each send is recorded.

Order of operations is the guarantee: events were committed with their snapshot before we get
here; a message is sent, *then* its deliveries are marked in one transaction together with the
attempt. A crash between the two repeats at most that one message; nothing is dropped.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from notifier.messages import Message, Style, build_messages
from notifier.notice import Notice, NoticeError

from .clock import utcnow
from .delivery_status import (
    address_hash,
    remember_pause,
    stored_pause,
    sync_webhook_states,
    take_over_dead_leases,
)

if TYPE_CHECKING:
    from notifier.sender import SendResult
    from notifier.webhook import WebhookAddress

    from .settings import Settings, WebhookSettings
    from .store import PendingDelivery, Store
    from .store.outbox import Backlog

log = logging.getLogger("osrs_notify.deliver")


class Sender(Protocol):
    """The Discord seam (``notifier.webhook.WebhookSender``); tests may fake it."""

    def send(
        self, address: WebhookAddress, body: object, *, thread_id: str | None = None
    ) -> SendResult: ...

    def global_pause_remaining(self) -> float: ...

    def pause_all(self, seconds: float) -> None: ...


class LazySender:
    """A :class:`Sender` built on first use: most cron runs have nothing due, and the Discord
    client's imports cost about 0.1 s of every one of them."""

    def __init__(self, build: Callable[[], Sender]) -> None:
        self._build = build
        self._sender: Sender | None = None

    def _real(self) -> Sender:
        if self._sender is None:
            self._sender = self._build()
        return self._sender

    def send(
        self, address: WebhookAddress, body: object, *, thread_id: str | None = None
    ) -> SendResult:
        return self._real().send(address, body, thread_id=thread_id)

    def global_pause_remaining(self) -> float:
        return self._real().global_pause_remaining()

    def pause_all(self, seconds: float) -> None:
        self._real().pause_all(seconds)


class DeliveryClaim(Protocol):
    """Leased deliveries for one of several processes sharing a database (the scheduler's
    ``run``): ``take`` claims what is due, ``confirm`` renews the lease on a message's
    deliveries right before it is sent and returns those still held (the rest were taken over
    or settled meanwhile and must not be sent again). ``owner`` is the lease owner id: status
    lines must not call this process's own leases someone else's."""

    owner: str

    def take(self, due_by: datetime) -> list[PendingDelivery]: ...

    def confirm(self, ids: Sequence[int]) -> list[int]: ...


class LeaseClaim:
    """:class:`DeliveryClaim` for the cron path (`poll`, `deliver`): it takes everything due in
    one claim, so a `run` process sharing the database never sends the same message at the
    same time. Give the leases back with :meth:`release` when done."""

    def __init__(
        self, store: Store, *, lease: timedelta = timedelta(minutes=5),
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.store, self.lease = store, lease
        self.now = now or utcnow
        # The form lease_holder() reads: this host and process id tell a dead owner apart.
        self.owner = f"cron:{socket.gethostname()}:{os.getpid()}"

    def take(self, due_by: datetime) -> list[PendingDelivery]:
        return self.store.claim_deliveries(
            self.owner, self.now(), self.lease, 1_000_000, due_by=due_by
        )

    def confirm(self, ids: Sequence[int]) -> list[int]:
        return self.store.confirm_deliveries(self.owner, ids, self.now(), self.lease)

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
    pause_error: str | None = None  # what the sender said when it stopped for a pause
    disabled: str | None = None  # Discord refused the webhook (404/401): why
    skipped: str | None = None  # the webhook has no URL: why (e.g. "${CLAN_URL} is not set")
    errors: list[str] = field(default_factory=list)
    # For run metrics: each send's outcome, and event → Discord seconds per delivered event.
    outcomes: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)

    @property
    def troubled(self) -> bool:
        # A pause leaves messages unsent that this run should have sent: as much a problem as
        # a 5xx. A webhook without a URL is not: the example config runs on a fresh machine.
        return bool(self.retrying or self.failed or self.disabled or self.paused)


@dataclass
class DeliveryReport:
    webhooks: dict[str, WebhookReport] = field(default_factory=dict)
    paused_for: float = 0.0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # The truth after the run, for the status lines: what still waits per webhook and why,
    # a pause of all sending (until when, Discord's words), messages of webhooks removed from
    # the config that were dropped, leases of dead processes taken over (owner → count).
    backlog: Mapping[str, Backlog] = field(default_factory=dict)
    paused_until: datetime | None = None
    pause_reason: str | None = None
    dropped: dict[str, int] = field(default_factory=dict)
    taken_over: dict[str, int] = field(default_factory=dict)

    def hook(self, name: str) -> WebhookReport:
        return self.webhooks.setdefault(name, WebhookReport(name))

    @property
    def delivered(self) -> int:
        return sum(w.delivered for w in self.webhooks.values())

    @property
    def messages_sent(self) -> int:
        return sum(w.messages_sent for w in self.webhooks.values())

    @property
    def waiting(self) -> int:
        return sum(b.waiting for b in self.backlog.values())

    @property
    def exit_code(self) -> int:
        troubled = any(w.troubled for w in self.webhooks.values())
        return 1 if troubled or self.paused_until is not None else 0


def style_of(hook: WebhookSettings) -> Style:
    return Style(
        username=hook.username,
        avatar_url=hook.avatar_url,
        format=hook.format,  # type: ignore[arg-type]
        templates=hook.templates,
    )


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
    a retry delay (the owner knows Discord is back) and those leased by a process on this host
    that is no longer running. ``claim`` sends only leased deliveries (default: every pending
    one; cron runs one process at a time under the poll lock).

    The report ends with the truth after the run (``backlog``, ``paused_until``), which the
    status lines print. ``sender`` is only touched when something is due."""
    started = now()
    report = DeliveryReport(started_at=started)
    holds = sync_webhook_states(settings, store, started, report.dropped)
    owner = getattr(claim, "owner", None)
    pause_until, pause_reason = stored_pause(store, started)
    if ignore_backoff:
        report.taken_over = take_over_dead_leases(store, started, owner)

    due_by = started + timedelta(days=3650) if ignore_backoff else started
    pending = claim.take(due_by) if claim is not None else store.pending_deliveries(due_by)
    by_hook: dict[str, list[PendingDelivery]] = {}
    for d in pending:
        if only is None or d.webhook == only:
            by_hook.setdefault(d.webhook, []).append(d)

    if by_hook and pause_until is not None:
        sender.pause_all((pause_until - started).total_seconds())
    for name, items in by_hook.items():
        hook = settings.webhooks.get(name)
        if name in holds or hook is None or hook.address is None:
            continue  # queued after the sync held its webhook: counted as held below
        hr = report.hook(name)
        if sender.global_pause_remaining() > 0:
            hr.paused = True
            continue
        _deliver_webhook(settings, store, sender, hook, items, hr, now, claim)

    finished = now()
    if by_hook:
        pause = sender.global_pause_remaining()
        if pause > 0:
            until = finished + timedelta(seconds=pause)
            said = next((w.pause_error for w in report.webhooks.values()
                         if w.pause_error and w.pause_error.startswith("429")), None)
            if pause_until is None or until > pause_until + timedelta(seconds=1):
                pause_until, pause_reason = until, said or pause_reason
                remember_pause(store, pause_until, pause_reason)
    report.paused_until, report.pause_reason = pause_until, pause_reason
    if pause_until is not None:
        report.paused_for = max(0.0, (pause_until - finished).total_seconds())

    backlog = store.backlog(finished, owner=owner)
    report.backlog = {n: b for n, b in backlog.items() if only is None or n == only}
    for hr in report.webhooks.values():  # disabled during this run: all it holds now
        if hr.disabled and hr.name in report.backlog:
            hr.held = report.backlog[hr.name].held
    # Every run says what is held and why, even with nothing new for that webhook.
    for name, hold in holds.items():
        kept = report.backlog.get(name)
        if kept is None or not kept.held:
            continue
        hr = report.hook(name)
        hr.held = kept.held
        if hold.kind == "disabled":
            hr.disabled = hold.reason
        else:
            hr.skipped = hold.reason
    report.finished_at = finished
    return report


# -- settling one send --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivered:
    """Discord took the message: its deliveries are done."""


@dataclass(frozen=True, slots=True)
class Retry:
    """A transient failure (5xx, timeout): the deliveries, and the rest of this webhook's queue,
    wait until ``until`` (back-off by attempts, at least the server's Retry-After, ≤ 1 h)."""

    until: datetime
    error: str | None


@dataclass(frozen=True, slots=True)
class Pause:
    """All sending is paused (a global 429): the deliveries stay due, untouched."""

    error: str | None


@dataclass(frozen=True, slots=True)
class Disable:
    """Discord refused the webhook (404 unknown webhook, 401 bad token): it is disabled and holds
    every message, kept until its URL changes."""

    reason: str


@dataclass(frozen=True, slots=True)
class Split:
    """Discord refused a message of several events (400) or found it too large (413): send them
    again as ``parts``, so one bad event cannot hold back the others."""

    parts: tuple[tuple[int, ...], ...]


@dataclass(frozen=True, slots=True)
class Fail:
    """Discord will never take this delivery (a 400 for one event): kept as failed with its
    error, never retried blindly (`deliver --retry-failed` sends it again)."""

    error: str


Action = Delivered | Retry | Pause | Disable | Split | Fail

RETRY_AFTER_CAP = 3600.0  # a server's Retry-After is honoured up to an hour


def settle(
    result: SendResult, ids: Sequence[int], *, attempts: int, at: datetime,
    backoff: Callable[[int], float] | None = None,
) -> Action:
    """What to do with the deliveries ``ids`` of one message after a send: a function of its
    arguments, so every outcome is table-tested. ``attempts`` is the most sends any of them had
    before this one; ``backoff`` (tries → seconds) defaults to the sender's jittered one."""
    if backoff is None:
        from notifier.sender import backoff

    outcome = result.outcome
    if outcome == "sent":
        return Delivered()
    if outcome == "retry":
        wait = backoff(attempts + 1)
        if result.retry_after:  # a 5xx's Retry-After: at least that long
            wait = max(wait, min(result.retry_after, RETRY_AFTER_CAP))
        return Retry(at + timedelta(seconds=wait), result.error)
    if outcome == "paused":
        return Pause(result.error)
    if outcome == "disable":
        return Disable(result.error or "refused by Discord")
    if outcome in ("reject", "too_large") and len(ids) > 1:
        # A reject: the first alone, then the rest (the bad one is found in few sends). Too
        # large: two halves, which halve again if need be.
        cut = len(ids) // 2 if outcome == "too_large" else 1
        return Split((tuple(ids[:cut]), tuple(ids[cut:])))
    return Fail(result.error or outcome)


def _apply(store: Store, hook: WebhookSettings, ids: Sequence[int], action: Action,
           at: datetime) -> int:
    """Record ``action`` for ``ids`` in the store (inside the caller's transaction). Returns
    the messages a disabled webhook now holds."""
    assert hook.address is not None
    match action:
        case Delivered():
            store.mark_delivered(ids, at)
        case Retry(until, error):
            store.mark_retry(ids, at, until, error or "retry")
        case Disable(reason):
            return store.disable_webhook(hook.name, reason, address_hash(hook.address), at)
        case Fail(error):
            store.mark_failed(ids, at, error)
        case Pause() | Split():
            pass  # a pause leaves them due; a split sends them again, each part settled alone
    return 0


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
    assert hook.address is not None
    style = style_of(hook)
    attempts = {d.delivery_id: d.attempts for d in items}
    notice_of: dict[int, Notice] = {}
    for d in items:
        try:
            notice_of[d.delivery_id] = Notice.from_json(d.payload)
        except NoticeError as exc:  # e.g. stored by a newer release: kept, not guessed at
            store.mark_failed([d.delivery_id], now(), str(exc))
            hr.failed += 1
            hr.errors.append(str(exc))
    created = {d.delivery_id: d.created_at for d in items}

    def messages(ids: Sequence[int]) -> list[Message]:
        return build_messages([(i, notice_of[i]) for i in ids], style)

    queue = messages(list(notice_of))
    while queue:
        message = queue.pop(0)
        ids = list(message.delivery_ids)
        if claim is not None:
            held = claim.confirm(ids)
            if len(held) < len(ids):
                queue[:0] = messages(held)  # send the rest without the ones no longer ours
                continue
        result = sender.send(hook.address, message.body, thread_id=hook.thread_id)
        at = now()
        hr.outcomes[result.outcome] = hr.outcomes.get(result.outcome, 0) + 1
        tries = max((attempts.get(i, 0) for i in ids), default=0)
        action = settle(result, ids, attempts=tries, at=at)
        with store.transaction():
            if result.attempts:
                store.record_attempt(
                    hook.name, at, outcome=result.outcome, status_code=result.status,
                    error=result.error, elapsed_ms=int(result.elapsed * 1000), delivery_ids=ids,
                )
            hr.held += _apply(store, hook, ids, action, at)

        match action:
            case Delivered():
                hr.messages_sent += 1
                hr.delivered += len(ids)
                hr.latencies.extend((at - created[i]).total_seconds() for i in ids)
            case Retry(until, error):
                hr.retrying += len(ids)
                hr.errors.append(error or "transient failure")
                # Discord is struggling: the rest of this webhook's queue stays pending,
                # untried, due no earlier than the failed message, so the channel reads in order.
                rest = [i for m in queue for i in m.delivery_ids]
                store.defer_deliveries(rest, until)
                hr.retrying += len(rest)
                return
            case Pause(error):
                hr.paused = True
                hr.pause_error = error
                return
            case Disable(reason):
                hr.disabled = reason
                log.error(
                    "webhook %r (%s) disabled: %s. Its %d message(s) are kept; fix its URL and "
                    "they will be sent.", hook.name, hook.address.masked, reason, hr.held,
                )
                return
            case Split(parts):
                queue[:0] = [m for part in parts for m in messages(part)]
            case Fail(error):
                hr.failed += len(ids)
                hr.errors.append(error)
                log.error("webhook %r: Discord refused a message: %s", hook.name, result.error)
