"""What `osrs-notify competition list|show` print: each competition's current (or last) round
with its standings, its next round and its record, read from the store without changing it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from .clock import utcnow
from .competitions import Record, Round, Standing, history, key_time, rounds, watched

if TYPE_CHECKING:
    from .settings import CompetitionSettings, Settings
    from .store import Store

_RANDOM = {"random_skill": "a random skill", "random_boss": "a random boss"}


@dataclass(frozen=True, slots=True)
class RoundView:
    round: Round
    metrics: tuple[str, ...]  # stored ones; a random placeholder before the round is picked
    state: str  # upcoming | running | ended
    ranked: Sequence[Standing] = ()
    idle: Sequence[str] = ()
    kept: bool = False  # the final standings as kept when the round ended


@dataclass(frozen=True, slots=True)
class CompetitionView:
    comp: CompetitionSettings
    now: datetime
    current: RoundView | None  # the running round
    last: RoundView | None  # the last round that ended
    next: RoundView | None
    records: Sequence[Record] = field(default_factory=tuple)


def overview(settings: Settings, store: Store, comp: CompetitionSettings, *,
             standings: bool = False, now: datetime | None = None) -> CompetitionView:
    from .competition_step import current_standings, participants, topic

    now = now or utcnow()
    stored = {r.round: r.metrics for r in store.competitions.rounds(topic(comp))}
    results = store.competitions.results(topic(comp))
    seen = store.posts.first_seen(topic(comp))
    first_seen = key_time(seen) if seen else now
    views: list[RoundView] = []
    for rnd in rounds(comp, now, settings.timezone, settings.week_start):
        state = "upcoming" if now < rnd.start else "running" if now < rnd.end else "ended"
        if not watched(comp, rnd, first_seen):  # as the polls see it
            continue
        metrics = stored.get(rnd.key, comp.metrics)
        view = RoundView(rnd, metrics, state)
        picked = not (metrics and metrics[0] in _RANDOM)
        if standings and state != "upcoming" and picked:
            kept = [r for r in results if r.round == rnd.key]
            if kept:
                view = RoundView(rnd, metrics, state,
                                 [Standing(r.player, r.rank, r.gain) for r in kept], (), True)
            else:
                ranked, idle = current_standings(store, comp, rnd, metrics,
                                                 participants(comp, store), now)
                view = RoundView(rnd, metrics, state, ranked, idle)
        views.append(view)
    current = next((v for v in views if v.state == "running"), None)
    last = next((v for v in reversed(views) if v.state == "ended"), None)
    upcoming = next((v for v in views if v.state == "upcoming"), None)
    return CompetitionView(comp, now, current, last, upcoming,
                           history([(r.round, r.player, r.rank) for r in results]))


def metric_text(metrics: Sequence[str]) -> str:
    from .competition_message import metric_title

    if metrics and metrics[0] in _RANDOM:
        return _RANDOM[metrics[0]] + " (picked for the upcoming notice)"
    return metric_title(metrics)


def _when(at: datetime, tz: str) -> str:
    return at.astimezone(ZoneInfo(tz)).strftime("%a %d %b %H:%M")


def _schedule(comp: CompetitionSettings) -> str:
    if comp.every is None:
        return "one-off"
    day = f"{(comp.weekday or 'monday').title()} " if comp.every == "week" else ""
    return f"every {comp.every} ({day}{comp.at:%H:%M})"


def _round_line(v: RoundView, tz: str, now: datetime) -> str:
    r = v.round
    name = r.label or "round"
    span = f"{_when(r.start, tz)} → {_when(r.end, tz)} ({tz})"
    return f"{name}: {span}, {v.state}; {metric_text(v.metrics)}"


def list_lines(views: Sequence[CompetitionView], tz: str) -> list[str]:
    out = []
    for view in views:
        out.append(f"{view.comp.name} — {_schedule(view.comp)}")
        for v in (view.last, view.current, view.next):
            if v is not None:
                out.append("  " + _round_line(v, tz, view.now))
        if view.records:
            best = view.records[0]
            out.append(f"  most wins: {best.player} ({best.wins})")
    return out


def show_lines(view: CompetitionView, tz: str) -> list[str]:
    from .report import table

    out = [f"{view.comp.name} — {_schedule(view.comp)}"]
    if view.current is None and view.last is None:
        out.append("No round has started yet.")
    for v in (view.last, view.current):
        if v is None:
            continue
        out.append(_round_line(v, tz, view.now))
        if v.ranked:
            title = "Final standings" if v.state == "ended" else "Standings"
            out.append(f"{title}:")
            out.append(table(["#", "Player", "Gained"],
                             [[s.rank, s.player, f"{s.gain:,}"] for s in v.ranked],
                             right={0, 2}))
        else:
            out.append("Nobody has gained any yet." if v.state == "running" else
                       "Nobody gained any.")
        if v.idle:
            out.append(f"No gain: {', '.join(v.idle)}")
    if view.next is not None:
        out.append("Next: " + _round_line(view.next, tz, view.now))
    if view.records:
        out.append("Record: " + "; ".join(
            f"{r.player} {r.wins} win(s), {r.podiums} podium(s)" for r in view.records[:10]))
    return out


def _round_json(v: RoundView | None) -> dict[str, object] | None:
    if v is None:
        return None
    return {
        "round": v.round.key, "label": v.round.label, "start": v.round.start.isoformat(),
        "end": v.round.end.isoformat(), "state": v.state, "metrics": list(v.metrics),
        "final": v.kept,
        "standings": [{"rank": s.rank, "player": s.player, "gained": s.gain}
                      for s in v.ranked],
        "no_gain": list(v.idle),
    }


def show_json(view: CompetitionView, tz: str) -> dict[str, object]:
    c = view.comp
    return {
        "name": c.name, "schedule": _schedule(c), "timezone": tz, "metrics": list(c.metrics),
        "last": _round_json(view.last), "current": _round_json(view.current),
        "next": _round_json(view.next),
        "record": [{"player": r.player, "wins": r.wins, "podiums": r.podiums}
                   for r in view.records],
    }


def list_json(views: Sequence[CompetitionView], tz: str) -> list[dict[str, object]]:
    return [show_json(v, tz) for v in views]
