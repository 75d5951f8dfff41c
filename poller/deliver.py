"""The outbox → Discord: pending deliveries become messages, each send is recorded.

Order of operations is the guarantee: events were committed with their snapshot before we get
here; a message is sent, *then* its deliveries are marked in one transaction together with the
attempt. A crash between the two repeats at most that one message; nothing is dropped.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Literal, Protocol

from notifier.messages import Message, Style, build_messages
from notifier.notice import Notice, NoticeError

if TYPE_CHECKING:
    from notifier.sender import SendResult
    from notifier.webhook import WebhookAddress

    from .settings import Settings, WebhookSettings
    from .store import PendingDelivery, Store
    from .store.outbox import Backlog

log = logging.getLogger("osrs_notify.deliver")

# A pause Discord imposed (global 429, edge ban) outlives the process: cron starts a new one.
# Kept as the epoch second it ends, and what Discord said.
PAUSE_KEY = "discord_paused_until"
PAUSE_REASON_KEY = "discord_paused_reason"

# The command a status line points at (the README's status table says the same).
SEND_NOW = "osrs-notify deliver --now"
RETRY_FAILED = "osrs-notify deliver --retry-failed"


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


@dataclass(frozen=True)
class Hold:
    """Why a webhook cannot be sent to now: it has no URL, or Discord refused it."""

    kind: Literal["no_url", "disabled"]
    reason: str
    since: datetime


def _in(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h {seconds % 3600 // 60}m"
    if seconds >= 60:
        return f"{seconds // 60}m {seconds % 60}s"
    return f"{seconds}s"


def until_text(when: datetime, now: datetime) -> str:
    """"2026-07-01 12:05:03 UTC (in 4m 30s)": exact, and how long that is from now."""
    return f"{when:%Y-%m-%d %H:%M:%S} UTC (in {_in((when - now).total_seconds())})"


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


def no_url_reason(settings: Settings, name: str) -> str:
    """"has no URL (${CLAN_URL} is not set)": the variable is what the owner must fix."""
    names = [
        v.split(" ")[0] for v in settings.unset_vars if v.endswith(f"(webhooks.{name}.url)")
    ]
    return f"has no URL (${{{names[0]}}} is not set)" if names else "has no URL"


def is_no_url(state: object) -> bool:
    """A webhook state that holds messages because the URL is unset. Discord's refusals are
    stored with the fingerprint of the URL refused; an unset URL has none."""
    return bool(getattr(state, "disabled", False)) and getattr(state, "address_hash", "") is None


def sync_webhook_states(
    settings: Settings, store: Store, now: datetime, report: DeliveryReport | None = None
) -> dict[str, Hold]:
    """Bring the stored webhook states in line with the config, before anything is claimed:

    - a webhook without a URL is held like a disabled one (its messages are kept, never
      claimed) until a URL appears — the `.env` forgotten for a while loses nothing;
    - a held or disabled webhook whose URL changed is enabled again: its messages become due;
    - a webhook removed from the config has its unsent messages dropped, said once with a count.

    Returns the webhooks that stay held, with why."""
    held: dict[str, Hold] = {}
    states = store.webhook_states()
    for name, hook in settings.webhooks.items():
        state = states.get(name)
        if hook.address is None:
            if state is not None and state.disabled and not is_no_url(state):
                # Refused by Discord before its URL went: that is still the thing to fix.
                store.hold_webhook(name, state.reason or "disabled")
                held[name] = Hold("disabled", state.reason or "disabled", state.changed_at)
                continue
            reason = no_url_reason(settings, name)
            if state is None or not state.disabled:
                store.disable_webhook(name, reason, None, now)
                held[name] = Hold("no_url", reason, now)
            else:
                store.hold_webhook(name, reason)  # what was queued since the last run
                held[name] = Hold("no_url", reason, state.changed_at)
            continue
        if state is None or not state.disabled:
            continue
        fingerprint = address_hash(hook.address)
        if fingerprint != state.address_hash:
            released = store.enable_webhook(name, fingerprint, now)
            if is_no_url(state):
                log.info("webhook %r has a URL now: %d held message(s) will be sent",
                         name, released)
            else:
                log.warning(
                    "webhook %r has a new URL: enabled again, %d kept message(s) will be sent",
                    name, released,
                )
            continue
        store.hold_webhook(name, state.reason or "disabled")
        held[name] = Hold("disabled", state.reason or "disabled", state.changed_at)
    for name in sorted(store.unsent_webhooks() - set(settings.webhooks)):
        dropped = store.drop_webhook(name)
        if dropped and report is not None:
            report.dropped[name] = dropped
    return held


def stored_pause(store: Store, now: datetime) -> tuple[datetime | None, str | None]:
    """The pause of all sending a previous run remembered (its end, Discord's words), or
    (None, None); an expired one is forgotten."""
    stored = store.get_meta(PAUSE_KEY)
    if not stored:
        return None, None
    try:
        until = datetime.fromtimestamp(float(stored), timezone.utc)
    except (ValueError, OverflowError, OSError):
        until = now  # unreadable: treat as over
    if until <= now:
        store.set_meta(PAUSE_KEY, None)
        store.set_meta(PAUSE_REASON_KEY, None)
        return None, None
    return until, store.get_meta(PAUSE_REASON_KEY)


def _remember_pause(store: Store, until: datetime, reason: str | None) -> None:
    store.set_meta(PAUSE_KEY, f"{until.timestamp():.3f}")
    store.set_meta(PAUSE_REASON_KEY, reason)


LeaseHolder = Literal["alive", "gone", "elsewhere"]


def lease_holder(owner: str) -> LeaseHolder:
    """Whether the process behind a lease owner id is running: "gone" only when that is
    certain (same host, no such process id), "elsewhere" when it cannot be checked from here.

    Owner ids are ``cron:HOST:PID`` (`poll`, `deliver`) and ``HOST:PID:NONCE`` (`run`). A
    process id reused since by an unrelated process reads as "alive": the safe mistake, since
    the only thing "gone" allows is taking the dead process's messages over at once.
    """
    parts = owner.split(":")
    if parts[0] == "cron":
        parts = parts[1:]
    if len(parts) < 2:
        return "elsewhere"
    try:
        here = socket.gethostname()
        host, pid = parts[0], int(parts[1])
    except (OSError, ValueError):
        return "elsewhere"
    if os.name != "posix" or host != here or pid <= 0:
        return "elsewhere"
    if pid == os.getpid():
        return "alive"
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return "gone"
    except OSError:  # PermissionError: it exists, under another user
        return "alive"
    return "alive"


def take_over_dead_leases(store: Store, now: datetime, owner: str | None) -> dict[str, int]:
    """Give back the delivery leases of processes on this host that are no longer running
    (killed mid-send), so this run can send their messages now rather than when the leases
    run out. Returns owner → messages freed."""
    freed: dict[str, int] = {}
    for backlog in store.backlog(now, owner=owner).values():
        for lease in backlog.leased:
            if lease.owner not in freed and lease_holder(lease.owner) == "gone":
                freed[lease.owner] = store.release_deliveries(lease.owner)
                log.warning("took over %d message(s) leased by %s, which is no longer running",
                            freed[lease.owner], lease.owner)
    return freed


def outbox_problems(settings: Settings, store: Store, now: datetime) -> list[str]:
    """What a server owner must act on about delivery, one line each (`check`, `players
    list`, `stats`): messages held for a webhook without a URL or disabled by Discord, messages
    of a webhook no longer in the config, a pause of all sending with its end, and messages
    Discord refused with its error and the command that sends them again. Reads only."""
    lines: list[str] = []
    backlog = store.backlog(now)
    states = store.webhook_states()

    def kept(name: str) -> int:
        b = backlog.get(name)
        return 0 if b is None else b.waiting

    for name, hook in settings.webhooks.items():
        state = states.get(name)
        if state is not None and state.disabled and not is_no_url(state):
            if hook.address is not None and address_hash(hook.address) != state.address_hash:
                continue  # its URL changed since: the next run enables it
            lines.append(
                f"webhook {name!r} is disabled since {state.changed_at:%Y-%m-%d %H:%M} UTC "
                f"({state.reason}); {kept(name)} message(s) kept until its URL is fixed"
            )
        elif hook.address is None and kept(name):
            since = f" since {state.changed_at:%Y-%m-%d %H:%M} UTC" if state else ""
            lines.append(
                f"webhook {name!r} {no_url_reason(settings, name)}: {kept(name)} message(s) "
                f"held{since}; they will be sent once it is set"
            )
    for name, b in backlog.items():
        if name not in settings.webhooks and (b.waiting or b.failed):
            lines.append(
                f"{b.waiting + b.failed} message(s) wait for webhook {name!r}, which is no "
                "longer in the config: the next `poll` or `deliver` drops them"
            )
    until = store.get_meta(PAUSE_KEY)
    if until:
        try:
            end = datetime.fromtimestamp(float(until), timezone.utc)
        except (ValueError, OverflowError, OSError):
            end = now
        if end > now:
            reason = store.get_meta(PAUSE_REASON_KEY)
            waiting = sum(b.waiting for b in backlog.values())
            lines.append(
                f"Discord paused all sending until {until_text(end, now)}"
                + (f": {reason}" if reason else "")
                + f"; {waiting} message(s) wait and go out on the first run after that"
            )
    for name, b in backlog.items():
        if b.failed and name in settings.webhooks:
            players = sorted({f.player for f in b.failed_events if f.player})
            who = f" for {', '.join(players)}" if players else ""
            lines.append(
                f"webhook {name!r}: {b.failed} message(s){who} failed, refused by Discord "
                f"({b.failed_error or 'no error recorded'}); fix the cause, then "
                f"`{RETRY_FAILED}` sends them again"
            )
    return lines


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
    holds = sync_webhook_states(settings, store, started, report)
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
                _remember_pause(store, pause_until, pause_reason)
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
    notice_of: dict[int, Notice] = {}
    for d in items:
        try:
            notice_of[d.delivery_id] = Notice.from_json(d.payload)
        except NoticeError as exc:  # e.g. stored by a newer release: kept, not guessed at
            store.mark_failed([d.delivery_id], now(), str(exc))
            hr.failed += 1
            hr.errors.append(str(exc))
    queue: list[Message] = build_messages(list(notice_of.items()), style_of(hook))
    created = {d.delivery_id: d.created_at for d in items}

    while queue:
        message = queue.pop(0)
        ids = list(message.delivery_ids)
        if claim is not None:
            held = claim.confirm(ids)
            if len(held) < len(ids):
                if held:  # send the rest without the ones no longer ours
                    queue[:0] = build_messages([(i, notice_of[i]) for i in held], style_of(hook))
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
                pass  # untouched: still due; the pause itself is remembered by the caller
            elif outcome == "disable":
                hr.held += store.disable_webhook(
                    hook.name, result.error or "refused by Discord", address_hash(hook.address), at
                )
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
            hr.pause_error = result.error
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
            singles = build_messages([(i, notice_of[i]) for i in ids[:1]], style_of(hook))
            rest = build_messages([(i, notice_of[i]) for i in ids[1:]], style_of(hook))
            if outcome == "too_large":
                half = len(ids) // 2
                singles = build_messages([(i, notice_of[i]) for i in ids[:half]], style_of(hook))
                rest = build_messages([(i, notice_of[i]) for i in ids[half:]], style_of(hook))
            queue[:0] = singles + rest
        else:
            hr.failed += len(ids)
            hr.errors.append(result.error or outcome)
            log.error("webhook %r: Discord refused a message: %s", hook.name, result.error)
