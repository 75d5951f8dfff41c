"""What holds messages back, and what the status lines say about it.

- Webhook states: a webhook without a URL holds its messages (never drops them) until one is set,
  one Discord refused (404/401) stays disabled until its URL changes, one removed from the config
  has its unsent messages dropped, said once (:func:`sync_webhook_states`).
- A pause of all sending Discord imposed (global 429) outlives the process: it is remembered in
  the store's meta table until it ends (:func:`stored_pause`, :func:`remember_pause`).
- Delivery leases of a process on this host that is gone can be taken over at once
  (:func:`lease_holder`, :func:`take_over_dead_leases`).
- :func:`outbox_problems`: every one of those a server owner must act on, one line each.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from notifier.webhook import WebhookAddress

    from .settings import Settings
    from .store import Store

log = logging.getLogger("osrs_notify.deliver")

# A pause Discord imposed (global 429, edge ban) outlives the process: cron starts a new one.
# Kept as the epoch second it ends, and what Discord said.
PAUSE_KEY = "discord_paused_until"
PAUSE_REASON_KEY = "discord_paused_reason"

# The command a status line points at (the README's status table says the same).
SEND_NOW = "osrs-notify deliver --now"
RETRY_FAILED = "osrs-notify deliver --retry-failed"


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
    settings: Settings, store: Store, now: datetime, dropped: dict[str, int] | None = None
) -> dict[str, Hold]:
    """Bring the stored webhook states in line with the config, before anything is claimed:

    - a webhook without a URL is held like a disabled one (its messages are kept, never
      claimed) until a URL appears — the `.env` forgotten for a while loses nothing;
    - a held or disabled webhook whose URL changed is enabled again: its messages become due;
    - a webhook removed from the config has its unsent messages dropped, said once with a count
      (added to ``dropped``, webhook → messages).

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
        count = store.drop_webhook(name)
        if count and dropped is not None:
            dropped[name] = count
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


def remember_pause(store: Store, until: datetime, reason: str | None) -> None:
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
