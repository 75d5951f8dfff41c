"""The competition step of a pass: materialise rounds (choosing a random metric once), poll
the participants at the start and just before the end, record their start snapshots, queue
the announcements once each (upcoming, started, reminders, the final podium), and keep the
standings message live. :func:`poller.posting.send_posts` sends what is queued.

``poll`` polls given players now (``run``: its hiscores job polls players by their own
schedule, so a round's start and end are polled on purpose). A cron ``poll`` has just polled
everyone, so it passes None: its start and end snapshots are those of the cron runs around
them — a cron line at the competition's start and end makes them exact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .names import normalize_name

if TYPE_CHECKING:
    from .competitions import Round, Standing
    from .posting import PostReport
    from .settings import CompetitionSettings, Settings
    from .store import PlayerState, Store

# How long before the end the final poll of `run` starts: long enough for a clan of several
# hundred at the default rate, short enough that little play is missed.
FINAL_POLL = timedelta(minutes=10)

Poll = Callable[[Sequence["PlayerState"]], None]


def topic(comp: CompetitionSettings) -> str:
    return f"competition:{comp.name.lower()}"


def participants(comp: CompetitionSettings, store: Store) -> list[PlayerState]:
    players = store.active_players(with_snapshots=False)
    if not comp.players:
        return players
    wanted = set(comp.players)
    return [p for p in players if normalize_name(p.name) in wanted]


def round_metrics(comp: CompetitionSettings, store: Store, rnd: Round,
                  now: datetime) -> tuple[str, ...]:
    """The round's metrics, as stored when it was first seen (a random one is picked then,
    never one of the last four rounds')."""
    from .competitions import pick_metric

    rounds = store.competitions.rounds(topic(comp))
    known = next((r for r in rounds if r.round == rnd.key), None)
    if known is not None:
        return known.metrics
    metrics = comp.metrics
    if metrics and metrics[0] in ("random_skill", "random_boss"):
        recent = [m for r in rounds if r.round < rnd.key for m in r.metrics]
        metrics = (pick_metric(metrics[0], recent, f"{comp.name}/{rnd.key}"),)
    # Another process may have stored it meanwhile: the store keeps the first.
    return store.competitions.add_round(topic(comp), rnd.key, metrics, rnd.start, rnd.end,
                                        now).metrics


def queue_competitions(
    settings: Settings, store: Store, now: datetime, report: PostReport, *,
    poll: Poll | None = None, changed: bool = True,
) -> None:
    from .competitions import key_time, round_key, rounds, watched

    for comp in settings.competitions:
        entrants: list[PlayerState] | None = None  # read once, when a round needs them
        seen = round_key(now)
        since = store.posts.since(topic(comp), seen)
        for rnd in rounds(comp, now, settings.timezone, settings.week_start):
            if not watched(comp, rnd, key_time(since)):
                continue
            if since == seen and rnd.start < now < rnd.end:
                report.warnings.append(
                    f"competition {comp.name}: its round started before this is the first "
                    "time it is seen; players start from their first poll from now on")
            if now >= rnd.start - comp.lead:
                if entrants is None:
                    entrants = participants(comp, store)
                queue_round(settings, store, comp, rnd, entrants, now, report, poll=poll,
                            changed=changed)


def queue_round(
    settings: Settings, store: Store, comp: CompetitionSettings, rnd: Round,
    entrants: Sequence[PlayerState], now: datetime, report: PostReport, *,
    poll: Poll | None, changed: bool,
) -> None:
    """One round's work this pass; nothing is read or computed that it does not need (a
    `run` process asks every minute, and an ended round is looked at until the next ends)."""
    from .competition_message import announcement, live_standings, podium, standings_hash
    from .competitions import due_announcement, history

    name = topic(comp)
    rows = [r for r in store.posts.rows(name) if r.period.startswith(rnd.key + "/")]
    posted = {r.period.partition("/")[2] for r in rows}
    key = f"{rnd.key}/standings"
    live = [r for r in rows if r.period == key]
    kind = due_announcement(rnd, comp.lead, comp.reminders, now, posted)
    final = now >= rnd.end
    if final and kind is None and all(r.final for r in live):
        return  # over, its podium posted and its standings finalised: nothing left to do
    metrics = round_metrics(comp, store, rnd, now)
    if rnd.start <= now < rnd.end:
        _start_and_final_polls(store, comp, rnd, entrants, now, poll)
    # The standings message is updated at the end, when it is missing, or when a player
    # changed (and then only if what it shows changed).
    refresh = now >= rnd.start and not (live and all(r.final for r in live)) and \
        (final or not live or changed)
    standing: tuple[list[Standing], list[str]] = ([], [])
    if refresh or (kind is not None and (kind == "final" or kind.startswith("reminder"))):
        standing = current_standings(store, comp, rnd, metrics, entrants, now)
    ranked, idle = standing
    label = f"competition {comp.name}" + (f" ({rnd.label})" if rnd.label else "")
    if kind is not None:
        if kind == "final":
            store.competitions.save_results(name, rnd.key, [(s.player, s.rank, s.gain)
                                                            for s in ranked])
            past = [(r.round, r.player, r.rank) for r in store.competitions.results(name)]
            content = podium(comp, rnd, metrics, ranked, len(idle), history(past))
        else:
            content = announcement(kind, comp, rnd, metrics, ranked, len(entrants))
        if store.posts.create(name, f"{rnd.key}/{kind}", comp.webhooks, content, final=True,
                              now=now):
            report.queued.append(f"{label}: {kind}")
    if not refresh:
        return
    shown = standings_hash(ranked, comp.top)
    if live and not final and all(r.content.content_hash.startswith(shown) for r in live):
        return
    content = live_standings(comp, rnd, metrics, ranked, len(idle), final=final, now=now)
    done = store.posts.update(name, key, content, final=final, now=now)
    if not final:
        done += store.posts.create(name, key, comp.webhooks, content, final=False, now=now)
    if done:
        report.live_updated.append(f"{label} standings")


def _start_and_final_polls(
    store: Store, comp: CompetitionSettings, rnd: Round, entrants: Sequence[PlayerState],
    now: datetime, poll: Poll | None,
) -> None:
    """Poll the participants not yet polled since the start (or, in the last minutes, since
    the final poll began), then enter those not entered yet with their snapshot."""
    final_from = rnd.end - FINAL_POLL
    since = final_from if now >= final_from else rnd.start
    stale = [p for p in entrants if p.last_polled_at is None or p.last_polled_at < since]
    if stale and poll is not None:
        poll(stale)
    entered = store.competitions.entered(topic(comp), rnd.key)
    waiting = [p.id for p in entrants if p.id not in entered]
    if waiting:  # the start pass, and late joiners: not every pass of the round
        store.competitions.record_starts(topic(comp), rnd.key, waiting, rnd.start, now)


def current_standings(
    store: Store, comp: CompetitionSettings, rnd: Round, metrics: Sequence[str],
    entrants: Sequence[PlayerState], now: datetime,
) -> tuple[list[Standing], list[str]]:
    """A round's standings at ``now`` (its end once over) from the stored snapshots and the
    recorded starts: (ranked, participants without a gain)."""
    from .competitions import standings
    from .gains import Point

    until = min(now, rnd.end)
    rows = store.snapshots_between(rnd.start, until)
    names = {p.name for p in entrants}
    histories = {n: [Point(*row) for row in pts] for n, pts in rows.items() if n in names}
    for n in names - set(histories):
        histories[n] = []
    starts = store.competitions.starts(topic(comp), rnd.key)
    return standings(histories, starts, rnd, metrics, until)
