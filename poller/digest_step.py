"""The digest step of a pass: queue each digest that is due (once per period, across
processes), keep live ones up to date, then send what is queued.

Called by :func:`poller.passes.run_pass` (so `run` and a cron `poll` both post digests) and by
`osrs-notify digest`. The store's ``post`` rows carry the guarantees (see
:mod:`poller.store.posts`); this module decides *what* to queue and talks to Discord.

Sending: a post with a Discord message id is edited in place (PATCH, the chart re-sent);
one whose message was deleted (404, code 10008) is posted afresh; a transient failure (429,
5xx, network) is retried on a later pass after the sender's back-off; a permanent one is
recorded and given up. A post for a webhook without a URL waits, like any message.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from notifier.attachments import Attachment
    from notifier.sender import SendResult
    from notifier.webhook import WebhookAddress

    from .periods import Period
    from .settings import DigestSettings, Settings
    from .store import Store
    from .store.posts import PostRow

LEASE = timedelta(minutes=5)


class Poster(Protocol):
    """The Discord seam (``notifier.sender.WebhookSender``); tests may fake it."""

    def send(self, address: WebhookAddress, body: object, *, thread_id: str | None = None,
             files: Sequence[Attachment] = ()) -> SendResult: ...

    def edit(self, address: WebhookAddress, message_id: str, body: object, *,
             thread_id: str | None = None, files: Sequence[Attachment] = ()) -> SendResult: ...


@dataclass(slots=True)
class DigestReport:
    """What the step did, for the status lines: digests queued ("weekly: week of 2026-11-30"),
    live messages updated, posts sent, waiting and failed (one line each, no token)."""

    queued: list[str] = field(default_factory=list)
    live_updated: list[str] = field(default_factory=list)
    sent: int = 0
    edited: int = 0
    waiting: int = 0
    failed: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def digest_lines(report: DigestReport) -> list[str]:
    """The status lines a run prints (nothing when nothing happened); failures last."""
    lines = [f"digest {q} queued" for q in report.queued]
    lines += [f"live digest {q} updated" for q in report.live_updated]
    if report.sent or report.edited:
        lines.append(f"digest posts: {report.sent} sent, {report.edited} edited")
    if report.waiting:
        lines.append(f"{report.waiting} digest post(s) waiting (their webhook has no URL, or "
                     "Discord asked us to retry later)")
    lines += [f"digest post failed: {f}" for f in report.failed]
    return lines


def queue_digests(
    settings: Settings, store: Store, now: datetime, report: DigestReport,
    *, changed: bool = True,
) -> None:
    """Queue every due digest's post, and refresh the live ones (``changed``: some player
    changed since the last pass; without it a live message already posted is left alone)."""
    for digest in settings.digests:
        queue_one(settings, store, digest, now, report, changed=changed)


def queue_one(
    settings: Settings, store: Store, digest: DigestSettings, now: datetime,
    report: DigestReport, *, changed: bool = True,
) -> None:
    from .digest_message import render, standings_hash
    from .digests import digest_period, due_period, gather, period_key, topic

    tz = settings.timezone
    name = topic(digest)
    current = digest_period(digest, now, tz)
    since = store.posts.since(name, period_key(current))
    due = due_period(digest, now, tz, since)
    if due is not None:
        queue_final(settings, store, digest, due, now, report)
    if not digest.live:
        return
    key = period_key(current)
    rows = store.posts.rows(name, key)
    if rows and not changed:
        return
    data = gather(store, digest, current)
    if rows and all(r.content.content_hash == standings_hash(data, digest.top) for r in rows):
        return
    content = render(digest, data, tz, final=False, now=now)
    done = store.posts.update(name, key, content, final=False, now=now)
    done += store.posts.create(name, key, digest.webhooks, content, final=False, now=now)
    if done:
        report.live_updated.append(f"{digest.name}: {current.label}")


def queue_final(
    settings: Settings, store: Store, digest: DigestSettings, period: Period, now: datetime,
    report: DigestReport,
) -> bool:
    """Queue ``period``'s digest unless every webhook has it already (a live message of the
    period is finalised in place); whether anything was queued."""
    from .digest_message import render
    from .digests import gather, period_key, topic

    name, key = topic(digest), period_key(period)
    rows = store.posts.rows(name, key)
    if len(rows) >= len(digest.webhooks) and all(r.final for r in rows):
        return False
    content = render(digest, gather(store, digest, period), settings.timezone, final=True,
                     now=now)
    done = store.posts.update(name, key, content, final=True, now=now)
    done += store.posts.create(name, key, digest.webhooks, content, final=True, now=now)
    if done:
        report.queued.append(f"{digest.name}: {period.label}")
    return done > 0


def queue_so_far(
    settings: Settings, store: Store, digest: DigestSettings, now: datetime,
    report: DigestReport,
) -> None:
    """`digest NAME --now`: the current period so far, as a message of its own (it is not
    the period's digest, which still comes when the period ends)."""
    from .digest_message import render
    from .digests import digest_period, gather, topic

    period = digest_period(digest, now, settings.timezone)
    content = render(digest, gather(store, digest, period), settings.timezone, final=False,
                     now=now)
    key = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if store.posts.create(f"{topic(digest)}/now", key, digest.webhooks, content, final=True,
                          now=now):
        report.queued.append(f"{digest.name}: {period.label} so far")


def send_posts(
    settings: Settings, store: Store, poster: Callable[[], Poster], now: datetime,
    owner: str, report: DigestReport,
) -> None:
    """Send the queued posts that are due (``poster`` is only built when one is)."""
    from notifier.sender import backoff

    rows = store.posts.claim_due(owner, now, now + LEASE)
    try:
        for row in rows:
            hook = settings.webhooks.get(row.webhook)
            if hook is None:
                store.posts.failed(row.id, owner, "webhook no longer in the config", "dropped")
                continue
            if hook.address is None:
                report.waiting += 1  # its URL is unset: it waits, as the outbox does
                continue
            result = _send(poster(), hook.address, hook.thread_id, row, hook.username,
                           hook.avatar_url)
            if result.ok:
                store.posts.sent(row.id, owner, result.message_id, row.content.content_hash, now)
                if row.message_id and result.message_id in (None, row.message_id):
                    report.edited += 1
                else:
                    report.sent += 1
            elif result.transient:
                wait = result.retry_after or backoff(row.attempts + 1)
                store.posts.retry(row.id, owner, result.error or result.outcome,
                                  now + timedelta(seconds=wait))
                report.waiting += 1
            else:
                error = result.error or result.outcome
                store.posts.failed(row.id, owner, error)
                report.failed.append(f"{row.topic.partition(':')[2]} to {row.webhook}: {error}")
    finally:
        store.posts.release(owner)


def _send(poster: Poster, address: WebhookAddress, thread_id: str | None, row: PostRow,
          username: str | None, avatar_url: str | None) -> SendResult:
    from notifier.attachments import Attachment
    from notifier.limits import is_http_url, sanitize_username

    from .digest_message import CHART_FILE

    body = dict(row.content.body)
    files = [Attachment(CHART_FILE, row.content.chart, description="Top gainers")] \
        if row.content.chart else []
    if row.message_id:
        result = poster.edit(address, row.message_id, body, thread_id=thread_id, files=files)
        if result.outcome != "unknown_message":
            return result
        # Deleted in the channel: post it again (its new id replaces the old one).
    shown = sanitize_username(username)
    if shown:
        body["username"] = shown
    if avatar_url and is_http_url(avatar_url):
        body["avatar_url"] = avatar_url
    return poster.send(address, body, thread_id=thread_id, files=files)
