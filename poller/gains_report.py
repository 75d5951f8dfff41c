"""How ``osrs-notify gains`` prints a :class:`~poller.gains.ClanGains`: a table or JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

import click

from .gains import ClanGains
from .report import table


def _when(at: datetime, tz: str) -> str:
    return at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def gains_json(gains: ClanGains, tz: str, top: int | None) -> dict[str, object]:
    return {
        "metric": gains.metric.key,
        "name": gains.metric.name,
        "unit": gains.metric.unit,
        "since": gains.period.start.isoformat(),
        "until": gains.period.end.isoformat(),
        "timezone": tz,
        "gainers": [
            {"rank": g.rank, "player": g.player, "gained": g.gain.value,
             "levels": g.gain.levels}
            for g in gains.top(top)
        ],
        "total": gains.total,
        "total_levels": gains.total_levels,
        "gaining_players": len(gains.gainers),
        "no_gain": list(gains.no_gain),
    }


def print_gains(gains: ClanGains, tz: str, *, top: int | None, as_json: bool,
                player: str | None = None, everything: Mapping[str, int] | None = None) -> None:
    """The top gainers, the clan's totals and who gained nothing; with ``player``, that
    player's rank and ``everything`` they gained instead."""
    mine = next((g for g in gains.gainers if g.player == player), None)
    if as_json:
        data = gains_json(gains, tz, top)
        if player is not None:
            data = {**data, "player": player, "rank": None if mine is None else mine.rank,
                    "gains": dict(everything or {})}
            del data["gainers"], data["no_gain"]
        click.echo(json.dumps(data, indent=2))
        return
    span = f"{_when(gains.period.start, tz)} → {_when(gains.period.end, tz)} ({tz})"
    unit = gains.metric.unit
    click.echo(f"{gains.metric.name} gains, {span}")
    if player is not None:
        where = f"rank {mine.rank} of {len(gains.gainers)}" if mine else "no gain"
        click.echo(f"{player}: {where}")
        for key, value in sorted((everything or {}).items(), key=lambda kv: (-kv[1], kv[0])):
            click.echo(f"  {key}: +{value:,}")
        return
    if gains.gainers:
        levels = gains.metric.has_levels
        headers = ["#", "Player", f"Gained ({unit})", *(["Levels"] if levels else [])]
        rows = [[g.rank, g.player, f"{g.gain.value:,}",
                 *([f"+{g.gain.levels}"] if levels else [])] for g in gains.top(top)]
        click.echo(table(headers, rows, right={0, 2, 3}))
    total = f"Clan total: {gains.total:,} {unit}"
    if gains.total_levels is not None:
        total += f", +{gains.total_levels} levels"
    click.echo(f"{total} ({len(gains.gainers)} players gained)")
    if gains.no_gain:
        click.echo(f"No gain: {', '.join(gains.no_gain)}")
