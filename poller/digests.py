"""What a ``[[digest]]`` reports, and when: its periods, the one due now, and the data for one
period (the gains of each of its metrics, and the period's 99s and achievements).

The schedule is pure (:func:`ended_period`, :func:`due_period`); :func:`gather` reads the store.
Queueing (once, live edits) is :mod:`poller.digest_step`, sending :mod:`poller.posting`;
wording and the chart are :mod:`poller.digest_message`.

When a digest is due: just after its period ends, and only the *latest* ended period — a
process that was down for three weeks posts last week's digest once, not three. A digest is
never posted for a period that ended before it was first seen (``since``): adding a digest to
the config does not post last week's at once (``osrs-notify digest NAME`` does, on demand).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, cast

from .gains import ClanGains, Point, clan_gains, find_metric
from .periods import CalendarKind, Period, calendar_period, parse_weekday

if TYPE_CHECKING:
    from .settings import DigestSettings
    from .store import Store

TOPIC_PREFIX = "digest:"


def topic(digest: DigestSettings) -> str:
    """The key a digest's posts are stored under (names are unique, case-insensitively)."""
    return TOPIC_PREFIX + digest.name.lower()


def period_key(period: Period) -> str:
    """A period as stored: its start, UTC, fixed width (text order is time order)."""
    return period.start.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def digest_period(digest: DigestSettings, now: datetime, tz: str, offset: int = 0) -> Period:
    """The digest's period containing ``now`` (``offset=-1``: the one before, ended)."""
    return calendar_period(
        cast("CalendarKind", digest.every), now, tz,
        week_start=parse_weekday(digest.weekday or "monday"), offset=offset, at=digest.at,
    )


def due_period(digest: DigestSettings, now: datetime, tz: str, since: str) -> Period | None:
    """The ended period to post now, if any: the latest one, unless it ended before the
    digest was first seen (``since``, a :func:`period_key`). Posting it twice is prevented by
    the store (a period's post is created once); this only says which one is wanted."""
    ended = digest_period(digest, now, tz, offset=-1)
    return ended if period_key(ended) >= since else None


# -- the data of one period ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Milestone:
    player: str
    what: str  # "Attack" for a 99


@dataclass(frozen=True, slots=True)
class DigestData:
    """One period of one digest: a gains table per metric (in the config's order), the 99s
    reached and achievements announced in it, and how many players were counted."""

    period: Period
    tables: tuple[ClanGains, ...]
    nineties: tuple[Milestone, ...]
    achievements: int
    players: int


def gather(store: Store, digest: DigestSettings, period: Period) -> DigestData:
    """Read one period's data from the store (snapshots, and the events it recorded)."""
    rows = store.snapshots_between(period.start, period.end)
    roster = [p.name for p in store.active_players(with_snapshots=False)]
    histories = {name: [Point(*row) for row in points] for name, points in rows.items()}
    tables = tuple(
        clan_gains(histories, period, find_metric(m), roster) for m in digest.metrics
    )
    nineties: list[Milestone] = []
    achievements = 0
    for event in store.events_between(period.start, period.end, ("levelup", "achievement")):
        payload = event.payload
        if event.kind == "achievement":
            achievements += 1
            continue
        old, new = payload.get("old"), payload.get("new")
        if isinstance(old, int) and isinstance(new, int) and old < 99 <= new:
            nineties.append(Milestone(event.player_name or "?", str(payload.get("metric"))))
    return DigestData(
        period=period, tables=tables, nineties=tuple(nineties), achievements=achievements,
        players=len(set(roster) | set(histories)),
    )
