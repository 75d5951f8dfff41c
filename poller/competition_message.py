"""Competition announcements as Discord messages: the upcoming notice, "started", the live
standings, the reminders and the final podium (🥇🥈🥉, each gain, a chart like the digest's,
and for a recurring competition its history of wins and podiums). Times are Discord
timestamps (``<t:…:F>``), so each reader sees their own time zone."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from notifier.limits import MAX_FIELD_VALUE, clip
from notifier.markdown import escape_markdown
from notifier.numbers import fmt_xp

from .competitions import Record, Round, Standing
from .digest_message import amount, ranked_line
from .gains import find_metric
from .posting import CHART_FILE
from .settings import CompetitionSettings
from .store.posts import PostContent

COLOUR = 0x5865F2
PODIUM_COLOUR = 0xF0B232


def metric_title(metrics: Sequence[str]) -> str:
    return " + ".join(find_metric(m).name for m in metrics)


def _unit(metrics: Sequence[str]) -> str:
    units = {find_metric(m).unit for m in metrics}
    return units.pop() if len(units) == 1 else "points"


def _t(at: datetime, style: str = "F") -> str:
    return f"<t:{int(at.timestamp())}:{style}>"


def _lines(ranked: Sequence[Standing], top: int, unit: str) -> list[str]:
    out = []
    for s in ranked[:top]:
        out.append(ranked_line(s.rank, s.player, amount(s.gain, unit)))
    return out or ["Nobody has gained any yet."]


def _title(comp: CompetitionSettings, rnd: Round, metrics: Sequence[str]) -> str:
    return clip(f"{comp.name}: {metric_title(metrics)}" + (f" ({rnd.label})" if rnd.label else ""),
                200)


def _body(embed: dict[str, object]) -> dict[str, object]:
    return {"embeds": [embed], "allowed_mentions": {"parse": []}}


def _hash(*parts: object) -> str:
    text = json.dumps(parts, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def standings_hash(ranked: Sequence[Standing], top: int) -> str:
    return _hash([(s.player, s.rank, s.gain) for s in ranked[:top]])


def announcement(
    kind: str, comp: CompetitionSettings, rnd: Round, metrics: Sequence[str],
    ranked: Sequence[Standing], participants: int,
) -> PostContent:
    """The upcoming notice, "started" or a reminder (``reminder-24h``)."""
    what = metric_title(metrics)
    unit = _unit(metrics)
    if kind == "upcoming":
        title = f"📅 Coming up — {_title(comp, rnd, metrics)}"
        text = (f"Starts {_t(rnd.start)} ({_t(rnd.start, 'R')}), ends {_t(rnd.end)}.\n"
                f"The most {what} {'xp' if unit == 'xp' else unit} gained wins. "
                f"{participants} players take part.")
    elif kind == "started":
        title = f"🏁 Started — {_title(comp, rnd, metrics)}"
        text = (f"Ends {_t(rnd.end)} ({_t(rnd.end, 'R')}). Everyone was polled at the start; "
                f"gains in {what} from now on count. {participants} players take part.")
    else:
        title = f"⏰ {_left(kind)} left — {_title(comp, rnd, metrics)}"
        text = f"Ends {_t(rnd.end)} ({_t(rnd.end, 'R')}). Standings now:\n" + \
            "\n".join(_lines(ranked, 3, unit))
    embed = {"title": clip(title, 256), "description": text, "color": COLOUR}
    return PostContent(_body(embed), None, _hash(kind, rnd.key, list(metrics)))


def _left(kind: str) -> str:
    """``reminder-24h`` → "24 hours"; ``reminder-1h`` → "1 hour"."""
    raw = kind.removeprefix("reminder-")
    if raw.endswith("h"):
        hours = int(raw[:-1])
        return f"{hours} hour{'s' * (hours != 1)}"
    seconds = int(raw.removesuffix("s"))
    return str(timedelta(seconds=seconds))


def live_standings(
    comp: CompetitionSettings, rnd: Round, metrics: Sequence[str], ranked: Sequence[Standing],
    idle: int, *, final: bool, now: datetime,
) -> PostContent:
    """The standings message, edited in place while the round runs; ``final`` at its end."""
    unit = _unit(metrics)
    state = "final standings" if final else "standings"
    lines = _lines(ranked, comp.top, unit)
    footer = f"{len(ranked)} gained, {idle} not yet" if not final else \
        f"{len(ranked)} gained, {idle} did not"
    text = "\n".join(lines)
    if not final:
        text = f"Ends {_t(rnd.end, 'R')} · updated {_t(now, 'R')}\n" + text
    embed = {"title": clip(f"📊 {_title(comp, rnd, metrics)} — {state}", 256),
             "description": clip(text, 4000), "color": COLOUR, "footer": {"text": footer}}
    return PostContent(_body(embed), None, standings_hash(ranked, comp.top) + str(final))


def podium(
    comp: CompetitionSettings, rnd: Round, metrics: Sequence[str], ranked: Sequence[Standing],
    idle: int, records: Sequence[Record],
) -> PostContent:
    """The final podium: winners, the rest of the top, a chart, and the history table."""
    from notifier.chart import ChartUnavailable, bar_chart

    unit = _unit(metrics)
    if ranked:
        winners = ", ".join(f"**{escape_markdown(s.player)}**" for s in ranked if s.rank == 1)
        head = f"{winners} won with {amount(ranked[0].gain, unit)}!"
    else:
        head = "Nobody gained any: no winner this time."
    fields: list[dict[str, object]] = [{
        "name": "Final standings",
        "value": clip("\n".join(_lines(ranked, comp.top, unit)), MAX_FIELD_VALUE),
        "inline": False,
    }]
    if comp.recurring and records:
        table = [f"**{escape_markdown(r.player)}**: {r.wins} win{'s' * (r.wins != 1)}, "
                 f"{r.podiums} podium{'s' * (r.podiums != 1)}" for r in records[:10]]
        fields.append({"name": "All-time", "value": clip("\n".join(table), MAX_FIELD_VALUE),
                       "inline": False})
    embed: dict[str, object] = {
        "title": clip(f"🏆 {_title(comp, rnd, metrics)} — results", 256),
        "description": f"{head}\n{len(ranked)} gained, {idle} did not.",
        "color": PODIUM_COLOUR, "fields": fields,
    }
    chart = None
    footer = f"osrs-notify competition {comp.name}"
    if comp.chart and ranked:
        try:
            chart = bar_chart(
                f"{metric_title(metrics)} gained", [(s.player, s.gain) for s in ranked[:12]],
                unit="XP" if unit == "xp" else unit,
                value_text=fmt_xp if unit == "xp" else (lambda v: f"{v:,}"),
            )
            embed["image"] = {"url": f"attachment://{CHART_FILE}"}
        except ChartUnavailable as exc:
            footer += f" · text only: {exc.reason}"
    embed["footer"] = {"text": clip(footer, 256)}
    return PostContent(_body(embed), chart, _hash("final", rnd.key, standings_hash(ranked, 99)))
