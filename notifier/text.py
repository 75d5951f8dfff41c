"""Events as English: the plain-text line of an event, and webhook text templates.

Plain text serves ``poll --dry-run``, the report, and webhooks with ``format = "text"``; the same
lines are the body of an embed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType

from notifier.limits import iso_timestamp
from notifier.markdown import escape_markdown, neutralise_mentions, one_line

# -- plain text (poll --dry-run, format = "text") ----------------------------------------------


def fmt_int(value: object) -> str:
    """1234567 → "1,234,567"; anything but an int → "?"."""
    if not isinstance(value, int):
        return "?"
    try:
        return f"{value:,}"
    except ValueError:  # more digits than Python will print
        return "?"


def fmt_xp(value: int) -> str:
    """25_000_000 → "25M", 1_500_000_000 → "1.5B": how players say XP milestones."""
    try:
        for size, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "K")):
            if value >= size:
                text = f"{value / size:.2f}".rstrip("0").rstrip(".")
                return f"{text}{suffix}"
    except OverflowError:
        return fmt_int(value)
    return fmt_int(value)


def _count_word(kind: str, metric: str) -> str:
    if kind == "boss":
        return "chests" if metric in {"Barrows Chests", "Lunar Chests"} else "kills"
    if kind == "clue":
        return "completed"
    return "points" if "Points" in metric else ""


def metric_name(p: Mapping[str, object]) -> str:
    metric = p.get("metric")
    return "?" if metric is None else str(metric)


def event_line(p: Mapping[str, object]) -> str:
    """One line for one event, without the player's name: "Attack 69 → 70"."""
    kind = str(p.get("kind"))
    metric = metric_name(p)
    old, new, threshold = p.get("old"), p.get("new"), p.get("threshold")
    if kind == "levelup":
        return f"{metric} {fmt_int(old)} → {fmt_int(new)}"
    if kind == "xp":
        mark = threshold if isinstance(threshold, int) else new
        return f"{metric} {fmt_xp(mark) if isinstance(mark, int) else '?'} XP"
    if kind == "combat":
        return f"Combat level {fmt_int(old)} → {fmt_int(new)}"
    if kind in {"boss", "clue", "activity"}:
        word = _count_word(kind, metric)
        suffix = f" {word}" if word else ""
        if p.get("first"):
            return f"{metric}: now on the hiscores at {fmt_int(new)}{suffix}"
        if isinstance(threshold, int) and isinstance(new, int) and threshold < new:
            # 45 → 105 with every 50 crossed 100: say which milestone, and the real count.
            return f"{metric}: {fmt_int(new)}{suffix} (passed {fmt_int(threshold)})"
        return f"{metric}: {fmt_int(new)}{suffix}"
    if kind == "achievement":
        return f"Achievement: {metric}"
    if kind == "player":
        if metric == "missing":
            return f"not found on the hiscores {fmt_int(new)} polls in a row (renamed or banned?)"
        if metric == "back":
            return "back on the hiscores"
        if metric == "renamed":
            return f"renamed from {p.get('old_name', '?')}"
        return metric
    if kind == "price":
        return f"{metric}: {fmt_int(new)} gp"
    return f"{kind} {metric}"


def render_text(p: Mapping[str, object]) -> str:
    """A full plain-text line: "Lynx Titan — Attack 69 → 70"."""
    player = p.get("player")
    line = event_line(p)
    return f"{player} — {line}" if player else line


def display_name(value: object) -> str | None:
    if value is None:
        return None
    text = one_line(str(value)).strip()
    return text or None


def shown_line(p: Mapping[str, object]) -> str:
    """`event_line` escaped for Discord markdown, never blank."""
    line = escape_markdown(event_line(p))
    return line if line.strip() else "(no details)"


# -- text templates ----------------------------------------------------------------------------

COMMON_FIELDS: tuple[str, ...] = (
    "player", "mode", "kind", "metric", "line", "text", "old", "new", "threshold",
    "combat", "total_level", "overall_xp", "time",
)
KIND_FIELDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "levelup": ("skill", "level", "old_level"),
        "xp": ("skill", "xp"),
        "combat": ("level", "old_level"),
        "boss": ("boss", "count"),
        "clue": ("clue", "count"),
        "activity": ("activity", "count"),
        "achievement": ("achievement",),
        "price": ("item", "price", "old_price"),
        "player": ("status", "old_name"),
    }
)
EVENT_KINDS: tuple[str, ...] = tuple(KIND_FIELDS)
# Every placeholder a template for each kind may use.
TEMPLATE_FIELDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {kind: COMMON_FIELDS + extra for kind, extra in KIND_FIELDS.items()}
)

_TEMPLATE_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}|[{}]")


def validate_template(kind: str, template: str) -> str | None:
    """What is wrong with a text template for ``kind``, or None if it is fine.

    Settings call this at load time; rendering never fails either way (an unknown placeholder
    is printed as written).
    """
    fields = TEMPLATE_FIELDS.get(kind)
    if fields is None:
        return f"unknown event kind {kind!r}; expected one of {', '.join(EVENT_KINDS)}"
    if not isinstance(template, str) or not template.strip():
        return "empty template"
    for m in _TEMPLATE_TOKEN.finditer(template):
        token = m.group(0)
        if token in {"{{", "}}"}:
            continue
        name = m.group(1)
        if name is None:
            return (
                f"stray {token!r} at character {m.start() + 1}: placeholders look like "
                f"{{player}}; write {token * 2!r} for a literal brace"
            )
        if name not in fields:
            known = ", ".join(f"{{{f}}}" for f in fields)
            return f"unknown placeholder {{{name}}} for {kind} events; known: {known}"
    return None


def _discord_time(value: object) -> str:
    stamp = iso_timestamp(value)
    if stamp is None:
        return "?"
    return f"<t:{int(datetime.fromisoformat(stamp).timestamp())}:f>"


def template_values(p: Mapping[str, object]) -> dict[str, str]:
    """What each placeholder stands for in one event, markdown-escaped where it is text."""
    kind = str(p.get("kind"))
    metric = escape_markdown(metric_name(p))
    old, new, threshold = p.get("old"), p.get("new"), p.get("threshold")
    player = display_name(p.get("player"))
    values = {
        "player": escape_markdown(player) if player else "?",
        "mode": escape_markdown(str(p.get("mode") or "regular")),
        "kind": escape_markdown(kind),
        "metric": metric,
        "line": escape_markdown(event_line(p)),
        "text": escape_markdown(render_text(p)),
        "old": fmt_int(old),
        "new": fmt_int(new),
        "threshold": fmt_int(threshold),
        "combat": fmt_int(p.get("combat")),
        "total_level": fmt_int(p.get("total_level")),
        "overall_xp": fmt_int(p.get("overall_xp")),
        "time": _discord_time(p.get("taken_at")),
    }
    if kind in {"levelup", "combat"}:
        values.update(level=fmt_int(new), old_level=fmt_int(old))
    if kind in {"levelup", "xp"}:
        values["skill"] = metric
    if kind == "xp":
        mark = threshold if isinstance(threshold, int) else new
        values["xp"] = fmt_xp(mark) if isinstance(mark, int) else "?"
    if kind in {"boss", "clue", "activity"}:
        values[kind] = metric
        values["count"] = fmt_int(new)
    if kind == "achievement":
        values["achievement"] = metric
    if kind == "price":
        values.update(item=metric, price=fmt_int(new), old_price=fmt_int(old))
    if kind == "player":
        values["status"] = metric
        values["old_name"] = escape_markdown(str(p.get("old_name") or "?"))
    return values


def render_template(template: str, p: Mapping[str, object]) -> str:
    """``template`` with its placeholders filled from the event; never raises.

    ``{{``/``}}`` are literal braces; unknown placeholders and stray braces stay as written.
    """
    values = template_values(p)

    def fill(m: re.Match[str]) -> str:
        token = m.group(0)
        if token in {"{{", "}}"}:
            return token[0]
        name = m.group(1)
        return values.get(name, token) if name else token

    return neutralise_mentions(_TEMPLATE_TOKEN.sub(fill, template))
