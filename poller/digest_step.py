"""The digest step of a pass: queue each digest that is due (once per period, across
processes) and keep live ones up to date; :func:`poller.posting.send_posts` then sends them.

Called by :func:`poller.passes.run_pass` (so `run` and a cron `poll` both post digests) and by
`osrs-notify digest`. The store's ``post`` rows carry the guarantees (see
:mod:`poller.store.posts`); this module decides *what* to queue.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .periods import Period
    from .posting import PostReport
    from .settings import DigestSettings, Settings
    from .store import Store

def queue_digests(
    settings: Settings, store: Store, now: datetime, report: PostReport,
    *, changed: bool = True,
) -> None:
    """Queue every due digest's post, and refresh the live ones (``changed``: some player
    changed since the last pass; without it a live message already posted is left alone)."""
    for digest in settings.digests:
        queue_one(settings, store, digest, now, report, changed=changed)


def queue_one(
    settings: Settings, store: Store, digest: DigestSettings, now: datetime,
    report: PostReport, *, changed: bool = True,
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
        report.live_updated.append(f"digest {digest.name}: {current.label}")


def queue_final(
    settings: Settings, store: Store, digest: DigestSettings, period: Period, now: datetime,
    report: PostReport,
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
        report.queued.append(f"digest {digest.name}: {period.label}")
    return done > 0


def queue_so_far(
    settings: Settings, store: Store, digest: DigestSettings, now: datetime,
    report: PostReport,
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
        report.queued.append(f"digest {digest.name}: {period.label} so far")
