"""Events as English: the plain-text line of an event, and webhook text templates.

Plain text serves ``poll --dry-run``, the report, and webhooks with ``format = "text"``; the same
lines are the body of an embed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
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


# -- prices as players write them -----------------------------------------------------------

_GP_UNITS = ((1_000, "k"), (1_000_000, "m"), (1_000_000_000, "b"))


def _gp_short(n: int) -> tuple[str, bool]:
    """(text, exact) for n ≥ 1,000: three significant digits at most, rounded half up."""
    unit = max(i for i, (size, _) in enumerate(_GP_UNITS) if n >= size)
    size, suffix = _GP_UNITS[unit]
    decimals = max(0, 3 - len(str(n // size)))
    scaled = _round_half_up(n * 10**decimals, size)
    if scaled >= 1_000 * 10**decimals and unit + 1 < len(_GP_UNITS):  # 999,950 is "1m"
        size, suffix = _GP_UNITS[unit + 1]
        decimals = 2
        scaled = _round_half_up(n * 100, size)
    whole, frac = divmod(scaled, 10**decimals)
    text = f"{whole:,}"
    if decimals and frac:
        text += "." + str(frac).zfill(decimals).rstrip("0")
    return text + suffix, scaled * size == n * 10**decimals


def fmt_gp(value: object) -> str:
    """A price as players write it: 1_650_000_000 → "1.65b", 950_000 → "950k",
    12_345_678 → "12.3m", 950 → "950 gp". Three significant digits at most, so the figure may be
    rounded: :func:`price_text` adds the exact one when it is. Anything but an int → "?"."""
    if not isinstance(value, int) or isinstance(value, bool):
        return "?"
    sign, n = ("-", -value) if value < 0 else ("", value)
    if n < 1_000:
        return f"{sign}{n} gp"
    return sign + _gp_short(n)[0]


def gp_is_exact(value: object) -> bool:
    """Whether :func:`fmt_gp` shows ``value`` unrounded ("1.65b" is exactly 1,650,000,000)."""
    if not isinstance(value, int) or isinstance(value, bool) or abs(value) < 1_000:
        return True
    return _gp_short(abs(value))[1]


def _round_half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


def gp_exact(value: object) -> str:
    """The exact figure: 1_234_567 → "1,234,567 gp"."""
    return f"{fmt_int(value)} gp"


def price_text(value: object) -> str:
    """A price as players write it, with the exact figure when that is rounded:
    1_650_000_000 → "1.65b"; 1_234_567 → "1.23m (1,234,567 gp)"."""
    short = fmt_gp(value)
    if gp_is_exact(value) or short == "?":
        return short
    return f"{short} ({gp_exact(value)})"


def _pct(value: float) -> str:
    return f"{abs(value):.1f}%"


def _change_pct(p: Mapping[str, object]) -> float | None:
    pct = p.get("change_pct")
    if isinstance(pct, (int, float)) and not isinstance(pct, bool):
        return float(pct)
    old, new = p.get("old"), p.get("new")
    if isinstance(old, int) and isinstance(new, int) and old > 0:
        try:
            return (new - old) / old * 100
        except OverflowError:
            return None
    return None


def price_direction(p: Mapping[str, object]) -> str | None:
    """"up" or "down": the alert's own direction, else the move from old to new; None if flat."""
    direction = p.get("direction")
    if direction in ("up", "down"):
        return str(direction)
    old, new = p.get("old"), p.get("new")
    if isinstance(old, int) and isinstance(new, int) and old != new:
        return "up" if new > old else "down"
    return None


def _rule_phrase(p: Mapping[str, object], rule: str) -> str | None:
    """What one rule of a price alert says: "fell below 1.2b", "up 5.2% on the 1h average"."""
    threshold = p.get("threshold") if rule == p.get("rule") else p.get(f"watch_{rule}")
    if rule == "above":
        return f"rose above {price_text(threshold)}" if isinstance(threshold, int) else None
    if rule == "below":
        return f"fell below {price_text(threshold)}" if isinstance(threshold, int) else None
    if rule == "change":
        pct = _change_pct(p)
        direction = "up" if (pct or 0) >= 0 else "down"
        window = p.get("window")
        average = f"the {window} average" if isinstance(window, str) else "the average"
        return f"{direction} {_pct(pct)} on {average}" if pct is not None else None
    return None


def price_headline(p: Mapping[str, object]) -> str:
    """"Twisted bow fell below 1.2b" — the alert in a few words (no emoji, not escaped)."""
    item = metric_name(p)
    rule = p.get("rule")
    phrase = _rule_phrase(p, str(rule)) if isinstance(rule, str) else None
    return f"{item} {phrase}" if phrase else f"{item}: {fmt_gp(p.get('new'))}"


def price_details(p: Mapping[str, object]) -> list[str]:
    """The figures behind a price alert, one line each: the price now with its exact figure
    ("Now 1.15b (1,150,000,000 gp)"), what it is compared with ("Was 1.25b · down 8.0%", or the
    window average for a change alert), and any other rule that fired at the same time."""
    new, old, rule = p.get("new"), p.get("old"), p.get("rule")
    now = fmt_gp(new)
    if isinstance(new, int) and not isinstance(new, bool) and abs(new) >= 1_000:
        now += f" ({gp_exact(new)})"
    lines = [f"Now {now}"]
    if isinstance(old, int) and not isinstance(old, bool):
        if rule == "change":
            window = p.get("window")
            lines.append(f"{window} average {price_text(old)}" if isinstance(window, str)
                         else f"Average {price_text(old)}")
        else:
            pct = _move_pct(old, new)
            move = f" · {'up' if pct > 0 else 'down'} {_pct(pct)}" if pct else ""
            lines.append(f"Was {price_text(old)}{move}")
    rules = p.get("rules")
    if isinstance(rules, list):
        also = (_rule_phrase(p, str(r)) for r in rules if r != rule)
        lines += [f"Also {phrase}" for phrase in also if phrase]
    if not isinstance(rule, str) and isinstance(p.get("threshold"), int):
        lines.append(f"Alert line {price_text(p.get('threshold'))}")
    return lines


def _move_pct(old: int, new: object) -> float | None:
    """The move from ``old`` to ``new`` in percent, rounded to what is shown (0.0 is no move)."""
    if not isinstance(new, int) or old <= 0:
        return None
    try:
        return round((new - old) / old * 100, 1)
    except OverflowError:
        return None


def _count_word(kind: str, metric: str) -> str:
    if kind == "boss":
        return "chests" if metric in {"Barrows Chests", "Lunar Chests"} else "kills"
    if kind == "clue":
        return "completed"
    return "points" if "Points" in metric else ""


def metric_name(p: Mapping[str, object]) -> str:
    metric = p.get("metric")
    return "?" if metric is None else str(metric)


def event_line(p: Mapping[str, object], *, passed: bool = True) -> str:
    """One line for one event, without the player's name: "Attack 69 → 70".

    ``passed=False`` leaves out "(passed 500)" where the milestone is already said (the line then
    sits under the "500 Vorkath kills" it passed).
    """
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
        if passed and isinstance(threshold, int) and isinstance(new, int) and threshold < new:
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
        if metric == "new_account":
            return "the name now belongs to another account (tracking starts afresh)"
        return metric
    if kind == "price":
        old = p.get("old")
        was = f" (was {fmt_gp(old)})" if isinstance(old, int) and p.get("rule") != "change" else ""
        if isinstance(p.get("rule"), str):
            return f"{price_headline(p)}: now {fmt_gp(new)}{was}"
        return f"{metric}: {fmt_gp(new)}{was}"
    return f"{kind} {metric}"


def clue_line(tiers: Sequence[Mapping[str, object]], total: Mapping[str, object] | None) -> str:
    """One clue completion said once: the tier events of a poll and the "all" count they add up
    to, e.g. "Clue scrolls: 100 hard · 500 in all" (``total`` None leaves the total out)."""
    parts = []
    for p in tiers:
        tier, new, threshold = p.get("tier"), p.get("new"), p.get("threshold")
        passed = ""
        if isinstance(threshold, int) and isinstance(new, int) and threshold < new:
            passed = f" (passed {fmt_int(threshold)})"
        parts.append(f"{fmt_int(new)} {tier}{passed}")
    line = "Clue scrolls: " + ", ".join(parts)
    if total is not None:
        line += f" · {fmt_int(total.get('new'))} in all"
    return line


def render_text(p: Mapping[str, object]) -> str:
    """A full plain-text line: "Lynx Titan — Attack 69 → 70"."""
    player = who(p)
    line = event_line(p)
    return f"{player} — {line}" if player else line


def display_name(value: object) -> str | None:
    if value is None:
        return None
    text = one_line(str(value)).strip()
    return text or None


def account_type(p: Mapping[str, object]) -> str | None:
    """The account type the poller marked ("Hardcore Ironman"), None for a regular account."""
    label = p.get("account_type")
    if not isinstance(label, str):
        return None
    return one_line(label).strip() or None


def who(p: Mapping[str, object]) -> str | None:
    """The player as a clan sees them, in plain text: "Lynx Titan (Hardcore Ironman)"."""
    name = display_name(p.get("player"))
    if name is None:
        return None
    label = account_type(p)
    return f"{name} ({label})" if label else name


def shown_line(p: Mapping[str, object]) -> str:
    """`event_line` escaped for Discord markdown, never blank."""
    line = escape_markdown(event_line(p))
    return line if line.strip() else "(no details)"


# -- text templates ----------------------------------------------------------------------------

COMMON_FIELDS: tuple[str, ...] = (
    "player", "mode", "account", "kind", "metric", "line", "text", "old", "new", "threshold",
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
        "price": ("item", "price", "old_price", "price_gp", "alert"),
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
        "account": escape_markdown(account_type(p) or ""),
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
        values.update(
            item=metric, price=fmt_gp(new), old_price=fmt_gp(old), price_gp=fmt_int(new),
            alert=escape_markdown(price_headline(p)),
        )
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
