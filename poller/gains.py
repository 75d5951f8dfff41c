"""Gains over a period: how much xp, how many levels, kills and clues each player gained.

Pure: histories in, values out; the store reads the histories and the ``gains`` command prints.

The rules (the Wise Old Man's, adapted to a store that keeps a snapshot only when something
changed):

* Only *trusted* snapshots count. Refused responses are never stored; a stored snapshot that
  carries an anomaly (a rollback, an implausible jump) is skipped, so a period that *ends* on
  a rolled-back snapshot ends on the last trusted one before it.
* The end is the latest trusted snapshot at or before the period's end. The start is the
  state in force when the period began: the latest trusted snapshot at or before its start —
  an unchanged poll stores nothing, so that snapshot *is* the player's state at the start.
  A player with nothing before the start (added mid-period) starts at their first trusted
  snapshot inside it. A rename keeps the history (the store moves the snapshots), so it keeps
  the gains.
* Gains are never negative, per metric: a rollback can leave later trusted snapshots below the
  start, and ratings (LMS, PvP Arena) may fall; either is a gain of 0, not a loss.
* An activity unranked at the start counts from the highest value the hiscores hide
  (``minimum - 1``, see :func:`poller.game.minimum`), never from 0: appearing at 50 kills of a
  boss ranked from 5 is a gain of 46, not 50. An unranked *skill* hides an unknown amount of
  xp (the cut-off is a rank, not a value), and a row the start's layout lacked has no past at
  all: both count from their first known value in the period — an undercount, never an
  invention.
* "bosses" sums the gains of every boss and raid, each counted as above; "clues" is the
  hiscores' own "Clue Scrolls (all)" row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple

from .game import (
    ACTIVITIES,
    OVERALL,
    SKILLS,
    Category,
    level_for_xp,
    minimum,
    total_level,
)
from .periods import Period
from .snapshot import Snapshot

MetricKind = Literal["skill", "activity", "bosses"]


class Point(NamedTuple):
    """One stored snapshot of a player, and whether gains may use it (no anomaly on it)."""

    at: datetime
    snapshot: Snapshot
    trusted: bool = True


@dataclass(frozen=True, slots=True)
class Metric:
    """What ``--metric`` names: ``key`` is what users type, ``name`` the hiscores row."""

    key: str
    name: str
    kind: MetricKind

    @property
    def has_levels(self) -> bool:
        return self.kind == "skill"

    @property
    def unit(self) -> str:
        """What the gain counts: xp, kills, clues or (minigames, points) score."""
        if self.kind == "skill":
            return "xp"
        found = ACTIVITIES.get(self.name)
        if self.kind == "bosses" or found in (Category.BOSS, Category.RAID):
            return "kills"
        return "clues" if found is Category.CLUE else "score"


def metric_key(name: str) -> str:
    """``"K'ril Tsutsaroth"`` → ``"kril_tsutsaroth"``: lower case, words joined by ``_``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower().replace("'", "")).strip("_")


def _catalogue() -> dict[str, Metric]:
    out: dict[str, Metric] = {"overall": Metric("overall", OVERALL, "skill")}
    out.update((metric_key(s), Metric(metric_key(s), s, "skill")) for s in SKILLS)
    out["bosses"] = Metric("bosses", "All bosses", "bosses")
    out["clues"] = Metric("clues", "Clue Scrolls (all)", "activity")
    out.update((metric_key(a), Metric(metric_key(a), a, "activity")) for a in ACTIVITIES)
    return out


METRICS: Mapping[str, Metric] = _catalogue()
_BOSSES = tuple(a for a, c in ACTIVITIES.items() if c in (Category.BOSS, Category.RAID))


class UnknownMetric(ValueError):
    """``--metric`` named nothing; ``suggestions`` are the closest keys."""

    def __init__(self, text: str, suggestions: Sequence[str]) -> None:
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"unknown metric {text!r}{hint} (e.g. overall, attack, vorkath, "
                         "bosses, clues)")
        self.suggestions = tuple(suggestions)


def find_metric(text: str) -> Metric:
    """The metric ``text`` names (a key like ``vorkath`` or a hiscores name like ``Vorkath``)."""
    key = metric_key(text)
    if key in METRICS:
        return METRICS[key]
    import difflib  # only on the error path

    raise UnknownMetric(text, difflib.get_close_matches(key, list(METRICS), n=3, cutoff=0.6))


# -- one player --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Gain:
    """One player's gain in one metric: ``value`` in xp or score, ``levels`` for skills."""

    value: int
    levels: int | None
    start_at: datetime
    end_at: datetime


def bounds(points: Sequence[Point], period: Period) -> tuple[Point, Point] | None:
    """The (start, end) snapshots of ``period`` (see the module docstring); None when the
    player has no trusted snapshot by the period's end."""
    trusted = sorted((p for p in points if p.trusted and p.at <= period.end), key=lambda p: p.at)
    if not trusted:
        return None
    before = [p for p in trusted if p.at <= period.start]
    start = before[-1] if before else trusted[0]
    return start, trusted[-1]


def _value(snapshot: Snapshot, metric: str) -> int | None:
    value = snapshot.skills.get(metric) if metric == OVERALL or metric in SKILLS else \
        snapshot.activities.get(metric)
    return None if value is None or value < 0 else value


def _start_value(name: str, start: Point, later: Sequence[Point]) -> int | None:
    value = _value(start.snapshot, name)
    if value is not None:
        return value
    is_skill = name == OVERALL or name in SKILLS
    if not is_skill and start.snapshot.had_row(name) is not False:
        return minimum(name) - 1  # unranked: at most this, so the gain is at least the rest
    return next((v for p in later if (v := _value(p.snapshot, name)) is not None), None)


def _gain_of(name: str, start: Point, end: Point, between: Sequence[Point]) -> int:
    last = _value(end.snapshot, name)
    if last is None:
        return 0
    first = _start_value(name, start, between)
    return 0 if first is None else max(0, last - first)


def _levels(name: str, start: Point, end: Point, between: Sequence[Point]) -> int:
    if name == OVERALL:
        return max(0, total_level(end.snapshot) - total_level(start.snapshot))
    last = _value(end.snapshot, name)
    first = _start_value(name, start, between)
    if last is None or first is None:
        return 0
    return max(0, level_for_xp(last) - level_for_xp(max(first, 0)))


def player_gain(points: Sequence[Point], period: Period, metric: Metric) -> Gain | None:
    """``metric``'s gain over ``period`` from one player's history; None without data."""
    ends = bounds(points, period)
    if ends is None:
        return None
    start, end = ends
    between = [p for p in sorted(points, key=lambda p: p.at)
               if p.trusted and start.at < p.at <= end.at]
    if metric.kind == "bosses":
        value = sum(_gain_of(b, start, end, between) for b in _BOSSES)
    else:
        value = _gain_of(metric.name, start, end, between)
    levels = _levels(metric.name, start, end, between) if metric.has_levels else None
    return Gain(value, levels, start.at, end.at)


def every_gain(points: Sequence[Point], period: Period) -> dict[str, int]:
    """Every metric's non-zero gain for one player, by key (for digests: what did they do?)."""
    out: dict[str, int] = {}
    for key, metric in METRICS.items():
        gain = player_gain(points, period, metric)
        if gain is not None and gain.value > 0:
            out[key] = gain.value
    return out


# -- the clan ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Gainer:
    player: str
    rank: int  # 1 = the most; equal gains share a rank
    gain: Gain


@dataclass(frozen=True, slots=True)
class ClanGains:
    """A metric's gains over a period, ordered most first, with the clan's totals."""

    metric: Metric
    period: Period
    gainers: tuple[Gainer, ...]
    no_gain: tuple[str, ...]  # players with data but a gain of 0, and players without data
    total: int
    total_levels: int | None

    def top(self, n: int | None) -> tuple[Gainer, ...]:
        return self.gainers if n is None else self.gainers[:n]


def clan_gains(
    histories: Mapping[str, Sequence[Point]], period: Period, metric: Metric,
    players: Iterable[str] = (),
) -> ClanGains:
    """Rank every player of ``histories`` (and ``players``, who may have no history) by their
    gain in ``metric`` over ``period``."""
    gains: list[tuple[str, Gain]] = []
    idle: set[str] = set(players) - set(histories)
    for player, points in histories.items():
        gain = player_gain(points, period, metric)
        if gain is None or gain.value <= 0:
            idle.add(player)
        else:
            gains.append((player, gain))
    gains.sort(key=lambda pg: (-pg[1].value, pg[0].casefold()))
    gainers: list[Gainer] = []
    for i, (player, gain) in enumerate(gains):
        tied = gainers and gainers[-1].gain.value == gain.value
        gainers.append(Gainer(player, gainers[-1].rank if tied else i + 1, gain))
    levels = sum(g.gain.levels or 0 for g in gainers) if metric.has_levels else None
    return ClanGains(
        metric=metric, period=period, gainers=tuple(gainers),
        no_gain=tuple(sorted(idle, key=str.casefold)),
        total=sum(g.gain.value for g in gainers), total_levels=levels,
    )
