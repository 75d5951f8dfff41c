"""Scheduled posts (``store.posts``): digests (and competitions) as rows that are created once
per period, sent under a lease, and — for a live post — edited in place.

The guarantees live in the SQL, not in the callers:

- *once per period*: ``(topic, period, webhook)`` is unique, and :meth:`PostLog.create` inserts
  with ``ON CONFLICT DO NOTHING``: the second process to find a period due inserts nothing;
- *finalised once*: :meth:`PostLog.update` only touches rows still ``final = FALSE``;
- *nothing lost under kill -9*: a row is ``pending`` until a send confirmed it; a sender that
  died leaves a lease that runs out, and the next process sends it;
- *no stale overwrite*: :meth:`PostLog.sent` marks a row sent only if its content is still
  the one that was sent (a live post updated meanwhile stays pending).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import meta
from .db import Db, guarded
from .leases import Claim, claim
from .models import from_db_time

_COLUMNS = (
    "id, topic, period, webhook, final, body, chart, content_hash, status, message_id, "
    "attempts, last_error, sent_at"
)


@dataclass(frozen=True, slots=True)
class PostContent:
    """What a post shows: the Discord body (JSON), an optional PNG chart, and a hash of the
    facts it shows (an edit is made only when that changes)."""

    body: Mapping[str, Any]
    chart: bytes | None
    content_hash: str

    def body_json(self) -> str:
        return json.dumps(dict(self.body), ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class PostRow:
    id: int
    topic: str
    period: str
    webhook: str
    final: bool
    content: PostContent
    status: str  # pending | sent | failed | dropped
    message_id: str | None
    attempts: int
    last_error: str | None
    sent_at: datetime | None


def _row(r: tuple[Any, ...]) -> PostRow:
    chart = None if r[6] is None else bytes(r[6])
    return PostRow(
        id=int(r[0]), topic=r[1], period=r[2], webhook=r[3], final=bool(r[4]),
        content=PostContent(json.loads(r[5]), chart, r[7]), status=r[8], message_id=r[9],
        attempts=int(r[10]), last_error=r[11], sent_at=from_db_time(r[12]),
    )


class PostLog:
    """``store.posts`` (see the module docstring)."""

    def __init__(self, db: Db) -> None:
        self.db = db

    @guarded
    def since(self, topic: str, period: str) -> str:
        """The first period ``topic`` was seen in: ``period`` the first time it is asked,
        whatever was stored before afterwards (several processes agree on the first)."""
        key = f"post-since:{topic}"
        stored = meta.get(self.db, key)
        if stored is not None:  # every pass after the first: a read, not a write transaction
            return stored
        with self.db.atomic():
            self.db.execute(
                'INSERT INTO meta ("key", value) VALUES (?, ?) ON CONFLICT ("key") DO NOTHING',
                (key, period),
            )
            return meta.get(self.db, key) or period

    @guarded
    def first_seen(self, topic: str) -> str | None:
        """What :meth:`since` stored for ``topic``, without storing anything."""
        return meta.get(self.db, f"post-since:{topic}")

    @guarded
    def rows(self, topic: str, period: str | None = None) -> list[PostRow]:
        sql = f"SELECT {_COLUMNS} FROM post WHERE topic = ?"
        params: list[Any] = [topic]
        if period is not None:
            sql += " AND period = ?"
            params.append(period)
        return [_row(r) for r in self.db.execute(sql + " ORDER BY id", params).fetchall()]

    @guarded
    def latest_period(self, topic: str) -> str | None:
        """The newest period with a post of ``topic`` (periods are ISO instants: text order is
        time order)."""
        row = self.db.execute("SELECT MAX(period) FROM post WHERE topic = ?", [topic]).fetchone()
        return None if row is None else row[0]

    @guarded
    def create(
        self, topic: str, period: str, webhooks: Iterable[str], content: PostContent, *,
        final: bool, now: datetime,
    ) -> int:
        """A post of ``content`` to each webhook that has none for this period yet; how many
        rows were created (0: another process got there first)."""
        created = 0
        with self.db.atomic():
            for hook in webhooks:
                cur = self.db.execute(
                    "INSERT INTO post (topic, period, webhook, final, body, chart, content_hash, "
                    "status, attempts, next_attempt_at, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?) "
                    "ON CONFLICT (topic, period, webhook) DO NOTHING",
                    [topic, period, hook, final, content.body_json(), content.chart,
                     content.content_hash, self.db.t(now), self.db.t(now)],
                )
                created += max(0, int(cur.rowcount))
        return created

    @guarded
    def update(
        self, topic: str, period: str, content: PostContent, *, final: bool, now: datetime
    ) -> int:
        """New content for a live post not yet final (``final``: this is its last); rows whose
        content is already this one are left alone. How many rows changed."""
        cur = self.db.execute(
            "UPDATE post SET body = ?, chart = ?, content_hash = ?, final = ?, "
            "status = CASE WHEN status = 'failed' THEN status ELSE 'pending' END, "
            "attempts = 0, next_attempt_at = ? "
            "WHERE topic = ? AND period = ? AND final = ? AND (content_hash <> ? OR ?)",
            [content.body_json(), content.chart, content.content_hash, final, self.db.t(now),
             topic, period, False, content.content_hash, final],
        )
        return int(cur.rowcount)

    @guarded
    def claim_due(
        self, owner: str, now: datetime, until: datetime, limit: int = 20
    ) -> list[PostRow]:
        """Lease the pending posts due by ``now`` to ``owner`` until ``until``; oldest first."""
        what = Claim(
            "post",
            "t.status = 'pending' AND t.next_attempt_at <= ? "
            "AND (t.lease_until IS NULL OR t.lease_until < ?)",
            [self.db.t(now), self.db.t(now)],
            "t.id",
        )
        ids = claim(self.db, what, owner, until, limit)
        if not ids:
            return []
        rows = self.db.select_in(f"SELECT {_COLUMNS} FROM post WHERE id IN ({{}}) ORDER BY id", ids)
        return [_row(r) for r in rows]

    def _settle(self, post_id: int, owner: str, sets: str, params: list[Any]) -> int:
        cur = self.db.execute(
            f"UPDATE post SET {sets}, lease_owner = NULL, lease_until = NULL "
            "WHERE id = ? AND lease_owner = ?",
            [*params, post_id, owner],
        )
        return int(cur.rowcount)

    @guarded
    def sent(self, post_id: int, owner: str, message_id: str | None, content_hash: str,
             now: datetime) -> int:
        """The send of content ``content_hash`` succeeded: remember the message; the row is
        done unless its content changed while it was being sent."""
        return self._settle(
            post_id, owner,
            "message_id = COALESCE(?, message_id), sent_at = ?, last_error = NULL, "
            "attempts = attempts + 1, "
            "status = CASE WHEN content_hash = ? THEN 'sent' ELSE status END",
            [message_id, self.db.t(now), content_hash],
        )

    @guarded
    def retry(self, post_id: int, owner: str, error: str, at: datetime) -> int:
        return self._settle(post_id, owner,
                            "attempts = attempts + 1, last_error = ?, next_attempt_at = ?",
                            [error, self.db.t(at)])

    @guarded
    def failed(self, post_id: int, owner: str, error: str, status: str = "failed") -> int:
        """Give up on a post (``status`` "dropped" for a webhook no longer configured)."""
        return self._settle(post_id, owner,
                            "attempts = attempts + 1, last_error = ?, status = ?",
                            [error, status])

    @guarded
    def lost_message(self, post_id: int, owner: str) -> int:
        """Its Discord message was deleted: post it afresh on the next send."""
        return self._settle(post_id, owner, "message_id = NULL", [])

    @guarded
    def release(self, owner: str) -> int:
        cur = self.db.execute(
            "UPDATE post SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?",
            [owner],
        )
        return int(cur.rowcount)
