"""Competitions, the pure part: their rounds, the random pick, the announcement schedule and
the standings. The step that polls, records and posts is :mod:`poller.competition_step`.

Fair ends (what trackers get wrong):

* A participant's **start** is the snapshot recorded for them at the start poll (every
  participant is polled when the round starts, and what that poll saw is kept, changed or
  not); a participant without one — added to the config mid-round, or not found at the start —
  starts at their first trusted snapshot after the start. Never the state days before.
* Their **end** is their last trusted snapshot at or before the end (a final poll just before
  the end makes it fresh).
* Gains follow the gains rules (:mod:`poller.gains`): trusted snapshots only, never negative,
  an unranked start counted from the hiscores minimum. A renamed player keeps their standing:
  the history and the start move with the name.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast

from .gains import Point, find_metric, metric_key, player_gain
from .game import ACTIVITIES, SKILLS, Category
from .periods import CalendarKind, Period, calendar_period, parse_weekday

if TYPE_CHECKING:
    from .settings import CompetitionSettings
    from .snapshot import Snapshot

RECENT_ROUNDS = 4  # a random metric is never one of the last four rounds'


def round_key(start: datetime) -> str:
    return start.strftime("%Y-%m-%dT%H:%M:%SZ")


def key_time(key: str) -> datetime:
    """A :func:`round_key` back to its instant."""
    return datetime.fromisoformat(key.replace("Z", "+00:00"))


@dataclass(frozen=True, slots=True)
class Round:
    """One round of a competition (a one-off has exactly one)."""

    key: str
    start: datetime
    end: datetime
    label: str  # "week of 2026-12-07"; "" for a one-off


def rounds(comp: CompetitionSettings, now: datetime, tz: str, week_start: str) -> list[Round]:
    """The rounds worth looking at now, oldest first: a one-off's only round; for a recurring
    competition the one that ended last, the current one and the next (its upcoming notice
    is due during the current one)."""
    if comp.every is None:
        assert comp.start is not None and comp.end is not None  # the config checked it
        return [Round(round_key(comp.start), comp.start, comp.end, "")]
    out = []
    for offset in (-1, 0, 1):
        p = calendar_period(
            cast("CalendarKind", comp.every), now, tz, offset=offset, at=comp.at, whole=True,
            week_start=parse_weekday(comp.weekday or week_start),
        )
        out.append(Round(round_key(p.start), p.start, p.end, p.label))
    return out


def watched(comp: CompetitionSettings, rnd: Round, first_seen: datetime) -> bool:
    """Whether ``rnd`` is run at all by a competition first seen at ``first_seen``: a
    recurring one begins with the first round that starts after (a clan adding "skill of the
    week" on a Thursday gets next week's); a one-off that already started is run from then on
    (with a warning), one that ended before is not."""
    return rnd.end > first_seen and not (comp.recurring and rnd.start < first_seen)


# -- the random pick -------------------------------------------------------------------------


def _choices(kind: str) -> list[str]:
    if kind == "random_skill":
        return [metric_key(s) for s in SKILLS]
    bosses = [a for a, c in ACTIVITIES.items() if c in (Category.BOSS, Category.RAID)]
    return [metric_key(b) for b in bosses]


def pick_metric(kind: str, recent: Sequence[str], seed: str) -> str:
    """A skill (``random_skill``) or boss (``random_boss``) not among ``recent`` (the metrics
    of the last rounds, newest last: only the last :data:`RECENT_ROUNDS` count). Seeded, so
    every process that picks for the same round picks the same (the store keeps the first
    anyway)."""
    excluded = set(recent[-RECENT_ROUNDS:])
    options = [m for m in _choices(kind) if m not in excluded] or _choices(kind)
    return random.Random(seed).choice(sorted(options))


# -- the announcement schedule ----------------------------------------------------------------


def reminder_kind(before_end: timedelta) -> str:
    hours, rest = divmod(int(before_end.total_seconds()), 3600)
    return f"reminder-{hours}h" if not rest else f"reminder-{int(before_end.total_seconds())}s"


def schedule(
    rnd: Round, lead: timedelta, reminders: Sequence[timedelta]
) -> list[tuple[str, datetime]]:
    """(kind, when) of every announcement of a round, in time order: the upcoming notice
    ``lead`` before the start, "started", a reminder each of ``reminders`` before the end
    (those that would come before the start are left out) and the final podium at the end."""
    out = [("upcoming", rnd.start - lead), ("started", rnd.start)]
    out += [(reminder_kind(r), rnd.end - r) for r in reminders if rnd.end - r > rnd.start]
    out.append(("final", rnd.end))
    return sorted(out, key=lambda kv: kv[1])


def due_announcement(
    rnd: Round, lead: timedelta, reminders: Sequence[timedelta], now: datetime,
    posted: set[str],
) -> str | None:
    """The announcement to post now, if any: the latest whose time has come, unless it was
    posted. After downtime that is the one announcement that is still news (a reminder, not
    the "started" and the reminder before it), caught up once."""
    due = [kind for kind, at in schedule(rnd, lead, reminders) if at <= now]
    if not due or due[-1] in posted:
        return None
    return due[-1]


# -- standings -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Standing:
    player: str
    rank: int  # equal gains share a rank
    gain: int


def player_points(
    points: Sequence[Point], start: tuple[datetime, Snapshot] | None, round_start: datetime,
) -> list[Point]:
    """A participant's history as the standings see it: their recorded start (placed at the
    round's start) and what came after it; without one, only what came after the start."""
    if start is None:
        return [p for p in points if p.at > round_start]
    at, snapshot = start
    return [Point(round_start, snapshot, True), *(p for p in points if p.at > at)]


def standings(
    histories: Mapping[str, Sequence[Point]],
    starts: Mapping[str, tuple[datetime, Snapshot]],
    rnd: Round,
    metrics: Sequence[str],
    until: datetime,
) -> tuple[list[Standing], list[str]]:
    """(ranked standings, participants with no gain) over ``[rnd.start, until]``; the sum of
    each metric's gain. ``histories`` holds exactly the participants."""
    period = Period(rnd.start, max(rnd.start, min(until, rnd.end)))
    chosen = [find_metric(m) for m in metrics]
    gains: list[tuple[str, int]] = []
    idle: list[str] = []
    for player, points in histories.items():
        mine = player_points(points, starts.get(player), rnd.start)
        total = 0
        for metric in chosen:
            gain = player_gain(mine, period, metric)
            total += gain.value if gain is not None else 0
        if total > 0:
            gains.append((player, total))
        else:
            idle.append(player)
    gains.sort(key=lambda pg: (-pg[1], pg[0].casefold()))
    ranked: list[Standing] = []
    for i, (player, total) in enumerate(gains):
        tied = ranked and ranked[-1].gain == total
        ranked.append(Standing(player, ranked[-1].rank if tied else i + 1, total))
    return ranked, sorted(idle, key=str.casefold)


@dataclass(frozen=True, slots=True)
class Record:
    """A player's record in a recurring competition's past rounds."""

    player: str
    wins: int
    podiums: int


def history(results: Sequence[tuple[str, str, int]]) -> list[Record]:
    """Wins and podiums per player from (round, player, rank) results, best first."""
    wins: dict[str, int] = {}
    podiums: dict[str, int] = {}
    for _, player, rank in results:
        if rank <= 3:
            podiums[player] = podiums.get(player, 0) + 1
        if rank == 1:
            wins[player] = wins.get(player, 0) + 1
    out = [Record(p, wins.get(p, 0), n) for p, n in podiums.items()]
    return sorted(out, key=lambda r: (-r.wins, -r.podiums, r.player.casefold()))
