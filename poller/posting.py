"""Posts to Discord outside the event outbox (digests, competition announcements): the
:class:`Poster` seam, what a pass did with them (:class:`PostReport`), and sending the queued
``post`` rows (:func:`send_posts`).

Sending: a post with a Discord message id is edited in place (PATCH, the chart re-sent);
one whose message was deleted (404, code 10008) is posted afresh; a transient failure (429,
5xx, network) is retried on a later pass after the sender's back-off; a permanent one is
recorded and given up. A post for a webhook without a URL waits, like any message. The store's
``post`` rows carry the once-only guarantees (:mod:`poller.store.posts`).
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

    from .settings import Settings
    from .store import Store
    from .store.posts import PostRow

LEASE = timedelta(minutes=5)
CHART_FILE = "chart.png"


class Poster(Protocol):
    """The Discord seam (``notifier.sender.WebhookSender``); tests may fake it."""

    def send(self, address: WebhookAddress, body: object, *, thread_id: str | None = None,
             files: Sequence[Attachment] = ()) -> SendResult: ...

    def edit(self, address: WebhookAddress, message_id: str, body: object, *,
             thread_id: str | None = None, files: Sequence[Attachment] = ()) -> SendResult: ...


@dataclass(slots=True)
class PostReport:
    """What a pass did with posts, for the status lines: what was queued ("digest weekly:
    week of 2026-11-30"), live messages updated, posts sent, edited, waiting and failed (one
    line each, no token), and warnings about the config met on the way."""

    queued: list[str] = field(default_factory=list)
    live_updated: list[str] = field(default_factory=list)
    sent: int = 0
    edited: int = 0
    waiting: int = 0
    failed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def post_lines(report: PostReport) -> list[str]:
    """The status lines a run prints (nothing when nothing happened); failures last."""
    lines = list(report.warnings)
    lines += [f"{q} queued" for q in report.queued]
    lines += [f"live {q} updated" for q in report.live_updated]
    if report.sent or report.edited:
        lines.append(f"posts: {report.sent} sent, {report.edited} edited")
    if report.waiting:
        lines.append(f"{report.waiting} post(s) waiting (their webhook has no URL, or "
                     "Discord asked us to retry later)")
    lines += [f"post failed: {f}" for f in report.failed]
    return lines


def send_posts(
    settings: Settings, store: Store, poster: Callable[[], Poster], now: datetime,
    owner: str, report: PostReport,
) -> None:
    """Send the queued posts that are due (``poster`` is only built when one is, and once:
    its rate-limit buckets carry from one post to the next)."""
    from functools import cache

    from notifier.sender import backoff

    poster = cache(poster)
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
                report.failed.append(f"{row.topic.replace(':', ' ')} to {row.webhook}: {error}")
    finally:
        store.posts.release(owner)


def _send(poster: Poster, address: WebhookAddress, thread_id: str | None, row: PostRow,
          username: str | None, avatar_url: str | None) -> SendResult:
    from notifier.attachments import Attachment
    from notifier.limits import is_http_url, sanitize_username

    body = dict(row.content.body)
    files = [Attachment(CHART_FILE, row.content.chart, description="Chart")] \
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
