"""A digest as a Discord message: one embed (the top gainers of each metric with medals for
the top three, the clan's totals, the period's 99s and achievements) and, when the chart is
on, a PNG bar chart of the first metric's top gainers, attached and shown in the embed.

Pure but for the chart, which :mod:`notifier.chart` draws (matplotlib is imported there, only
when a chart is drawn). Without matplotlib the digest is text only and its footer says why.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from zoneinfo import ZoneInfo

from notifier.limits import MAX_FIELD_VALUE, clip
from notifier.markdown import escape_markdown
from notifier.numbers import fmt_xp

from .digests import DigestData
from .gains import ClanGains
from .posting import CHART_FILE
from .settings import DigestSettings
from .store.posts import PostContent

CHART_ROWS = 12  # bars drawn: more would be unreadable at the size Discord shows an embed image
MEDALS = ("🥇", "🥈", "🥉")
COLOUR = 0xF0B232
_EVERY = {"day": "Daily", "week": "Weekly", "month": "Monthly"}
_NAMES_SHOWN = 10  # 99s named in the message; the rest are counted


def amount(value: int, unit: str) -> str:
    """A gain as players say it: "+1.2M xp", "+16 kills"."""
    return f"+{fmt_xp(value)} xp" if unit == "xp" else f"+{value:,} {unit}"


def ranked_line(rank: int, player: str, text: str) -> str:
    """One line of a ranking: a medal for the top three, else the rank; the name in bold."""
    mark = MEDALS[rank - 1] if rank <= 3 else f"`{rank:>2}.`"
    return f"{mark} **{escape_markdown(player)}** {text}"


def _span(data: DigestData, tz: str) -> str:
    zone = ZoneInfo(tz)
    start = data.period.start.astimezone(zone)
    end = data.period.end.astimezone(zone)
    return f"{start:%a %d %b %H:%M} → {end:%a %d %b %H:%M} ({tz})"


def _field(table: ClanGains, top: int, final: bool) -> dict[str, object]:
    unit = table.metric.unit
    lines = []
    for g in table.top(top):
        levels = f" (+{g.gain.levels} lvl)" if g.gain.levels else ""
        lines.append(ranked_line(g.rank, g.player, amount(g.gain.value, unit) + levels))
    if not lines:
        lines.append("Nobody gained any." if final else "Nobody gained any yet.")
    total = f"Clan: {amount(table.total, unit)}"
    if table.total_levels:
        total += f", +{table.total_levels} levels"
    total += f" · {len(table.gainers)} gained"
    if table.no_gain:
        total += f", {len(table.no_gain)} did not"
    # The totals line is kept whole; the ranking gives way (clip adds "…").
    value = clip("\n".join(lines), MAX_FIELD_VALUE - len(total) - 2) + "\n" + total
    name = "Overall xp" if table.metric.key == "overall" else table.metric.name
    return {"name": name, "value": value, "inline": False}


def _milestones(data: DigestData) -> dict[str, object] | None:
    parts = []
    if data.nineties:
        named = ", ".join(f"{escape_markdown(m.player)} ({escape_markdown(m.what)})"
                          for m in data.nineties[:_NAMES_SHOWN])
        more = len(data.nineties) - _NAMES_SHOWN
        parts.append(f"🎉 {len(data.nineties)} × 99: {named}" + (f" and {more} more"
                                                                   if more > 0 else ""))
    if data.achievements:
        parts.append(f"🏅 {data.achievements} achievement{'s' * (data.achievements != 1)}")
    if not parts:
        return None
    return {"name": "Milestones", "value": clip("\n".join(parts), MAX_FIELD_VALUE),
            "inline": False}


def standings_hash(data: DigestData, top: int) -> str:
    """What the message shows, as a hash: a live message is edited only when it changes."""
    shown = [
        [t.metric.key, t.total, [(g.player, g.rank, g.gain.value) for g in t.top(top)]]
        for t in data.tables
    ]
    shown.append([[m.player, m.what] for m in data.nineties])
    shown.append([data.achievements])
    text = json.dumps(shown, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def render(
    digest: DigestSettings, data: DigestData, tz: str, *, final: bool, now: datetime,
) -> PostContent:
    """The message for ``data``. ``final``: the period is over (a live message before then
    says "so far" and when it was last updated)."""
    from notifier.chart import ChartUnavailable, bar_chart

    every = _EVERY.get(digest.every, digest.every.title())
    title = f"{every} gains — {data.period.label}" + ("" if final else " (so far)")
    description = _span(data, tz)
    if not final:
        description += f"\nUpdated <t:{int(now.timestamp())}:R>; final when the period ends."
    fields = [_field(t, digest.top, final) for t in data.tables]
    milestones = _milestones(data)
    if milestones:
        fields.append(milestones)
    embed: dict[str, object] = {
        "title": clip(title, 256), "description": description, "color": COLOUR,
        "fields": fields,
    }
    footer = f"osrs-notify digest {digest.name} · {data.players} players"
    chart = None
    if digest.chart and data.tables:
        first = data.tables[0]
        rows = [(g.player, g.gain.value) for g in first.top(CHART_ROWS)]
        try:
            chart = bar_chart(
                f"{first.metric.name} gained — {data.period.label}", rows,
                unit="XP" if first.metric.unit == "xp" else first.metric.unit,
                value_text=fmt_xp if first.metric.unit == "xp" else (lambda v: f"{v:,}"),
                empty_text="Nobody gained any yet",
            )
            embed["image"] = {"url": f"attachment://{CHART_FILE}"}
        except ChartUnavailable as exc:
            footer += f" · text only: {exc.reason}"
    embed["footer"] = {"text": clip(footer, 256)}
    body = {"embeds": [embed], "allowed_mentions": {"parse": []}}
    return PostContent(body, chart, standings_hash(data, digest.top))


def as_text(content: PostContent) -> list[str]:
    """A rendered digest as the lines `digest --dry-run` prints (the chart is named, not
    drawn)."""
    lines: list[str] = []
    for embed in content.body.get("embeds", []):
        lines.append(str(embed.get("title", "")))
        lines.append(str(embed.get("description", "")))
        for f in embed.get("fields", []):
            lines += ["", str(f["name"]), *str(f["value"]).splitlines()]
        footer = embed.get("footer", {}).get("text")
        if footer:
            lines += ["", str(footer)]
    if content.chart:
        lines.append(f"[chart {CHART_FILE}: {len(content.chart):,} bytes PNG]")
    return lines
