"""`osrs-notify gains`: who gained the most over a period, from the stored snapshots."""

from __future__ import annotations

import click

from .context import Context, UserError, closing


@click.command()
@click.option("--since", metavar="WHEN",
              help="Start: 7d, 12h, 2w, a date (2026-12-01, midnight in the config's timezone) "
              "or a date-time. Default 7d, unless --period is given.")
@click.option("--until", metavar="WHEN", help="End, in the same forms. Default now.")
@click.option("--period", type=click.Choice(["day", "week", "month"]),
              help="The calendar day, week or month so far, in the config's timezone.")
@click.option("--previous", is_flag=True, help="With --period: the whole one before (yesterday, "
              "last week, last month).")
@click.option("--week-start", metavar="DAY",
              help="The day weeks begin on, for --period week. Default: the config's "
              "week_start (monday).")
@click.option("--metric", default="overall", show_default=True,
              help="overall, a skill (attack), a boss or activity (vorkath, tztok_jad), "
              "bosses (all bosses) or clues (all clues).")
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True,
              help="How many gainers to list.")
@click.option("--player", metavar="NAME", help="One player: their rank in the clan and "
              "everything they gained.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.pass_obj
def gains(obj: Context, since: str | None, until: str | None, period: str | None,
          previous: bool, week_start: str | None, metric: str, top: int, player: str | None,
          as_json: bool) -> None:
    """Top gainers over a period: xp and levels, kills, clues; clan totals; who gained nothing.

    Counts trusted snapshots only (a rolled-back one is skipped) and never a loss; an
    unranked boss counts from the hiscores minimum, not from 0.

    \b
    Example:
      osrs-notify gains --since 7d --metric overall --top 5
      osrs-notify gains --period week --previous --metric bosses
    """
    from typing import cast

    from ..clock import utcnow
    from ..gains import Point, UnknownMetric, clan_gains, every_gain, find_metric
    from ..gains_report import print_gains
    from ..names import normalize_name
    from ..periods import (
        CalendarKind,
        Period,
        PeriodError,
        calendar_period,
        parse_instant,
        parse_weekday,
    )

    settings = obj.settings()
    tz, now = settings.timezone, utcnow()
    try:
        chosen = find_metric(metric)
        if period is not None:
            if since or until:
                raise UserError("--period cannot be combined with --since/--until")
            first_day = parse_weekday(week_start or settings.week_start)
            kind = cast("CalendarKind", period)  # click.Choice checked it
            span = calendar_period(kind, now, tz, week_start=first_day,
                                   offset=-1 if previous else 0)
        else:
            if previous:
                raise UserError("--previous needs --period day, week or month")
            span = Period(parse_instant(since or "7d", now, tz),
                          parse_instant(until, now, tz) if until else now)
    except (UnknownMetric, PeriodError) as exc:
        raise UserError(str(exc)) from exc
    with closing(obj.open_store()) as store:
        rows = store.snapshots_between(span.start, span.end)
        roster = [p.name for p in store.active_players(with_snapshots=False)]
    histories = {name: [Point(*row) for row in points] for name, points in rows.items()}
    table = clan_gains(histories, span, chosen, roster)
    if player is None:
        print_gains(table, tz, top=top, as_json=as_json)
        return
    key = normalize_name(player)
    name = next((n for n in [*histories, *roster] if normalize_name(n) == key), None)
    if name is None:
        raise UserError(f"no player named {player!r} has snapshots in this period")
    print_gains(table, tz, top=top, as_json=as_json, player=name,
                everything=every_gain(histories.get(name, []), span))
