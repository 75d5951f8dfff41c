"""Notices as English: the plain-text line of an event, and webhook text templates.

Plain text serves ``poll --dry-run``, the report, and webhooks with ``format = "text"``; the same
lines are the body of an embed. Every OSRS word comes from the :class:`~notifier.notice.Notice`
(names, the word a count is said in, a clue's tier); this module only puts them in sentences.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from notifier.markdown import escape_markdown, neutralise_mentions, one_line
from notifier.notice import Notice, PriceAlert
from notifier.numbers import fmt_gp, fmt_int, fmt_pct, fmt_xp, gp_exact, price_text

# -- prices ------------------------------------------------------------------------------------

_NO_ALERT = PriceAlert()


def _alert(n: Notice) -> PriceAlert:
    return n.price or _NO_ALERT


def _change_pct(n: Notice) -> float | None:
    pct = _alert(n).change_pct
    if pct is not None:
        return pct
    if n.old is not None and n.new is not None and n.old > 0:
        try:
            return (n.new - n.old) / n.old * 100
        except OverflowError:
            return None
    return None


def price_direction(n: Notice) -> str | None:
    """"up" or "down": the alert's own direction, else the move from old to new; None if flat."""
    direction = _alert(n).direction
    if direction is not None:
        return direction
    if n.old is not None and n.new is not None and n.old != n.new:
        return "up" if n.new > n.old else "down"
    return None


def _rule_phrase(n: Notice, rule: str) -> str | None:
    """What one rule of a price alert says: "fell below 1.2b", "up 5.2% on the 1h average"."""
    alert = _alert(n)
    threshold = n.threshold if rule == alert.rule else alert.line(rule)
    if rule == "above":
        return f"rose above {price_text(threshold)}" if threshold is not None else None
    if rule == "below":
        return f"fell below {price_text(threshold)}" if threshold is not None else None
    if rule == "change":
        pct = _change_pct(n)
        direction = "up" if (pct or 0) >= 0 else "down"
        average = f"the {alert.window} average" if alert.window is not None else "the average"
        return f"{direction} {fmt_pct(pct)} on {average}" if pct is not None else None
    return None


def price_headline(n: Notice) -> str:
    """"Twisted bow fell below 1.2b" — the alert in a few words (no emoji, not escaped)."""
    rule = _alert(n).rule
    phrase = _rule_phrase(n, rule) if rule is not None else None
    return f"{n.metric} {phrase}" if phrase else f"{n.metric}: {fmt_gp(n.new)}"


def price_details(n: Notice) -> list[str]:
    """The figures behind a price alert, one line each: the price now with its exact figure
    ("Now 1.15b (1,150,000,000 gp)"), what it is compared with ("Was 1.25b · down 8.0%", or the
    window average for a change alert), and any other rule that fired at the same time."""
    alert = _alert(n)
    new, old, rule = n.new, n.old, alert.rule
    now = fmt_gp(new)
    if new is not None and abs(new) >= 1_000:
        now += f" ({gp_exact(new)})"
    lines = [f"Now {now}"]
    if old is not None:
        if rule == "change":
            lines.append(f"{alert.window} average {price_text(old)}" if alert.window is not None
                         else f"Average {price_text(old)}")
        else:
            pct = _move_pct(old, new)
            move = f" · {'up' if pct > 0 else 'down'} {fmt_pct(pct)}" if pct else ""
            lines.append(f"Was {price_text(old)}{move}")
    also = (_rule_phrase(n, r) for r in alert.rules if r != rule)
    lines += [f"Also {phrase}" for phrase in also if phrase]
    if rule is None and n.threshold is not None:
        lines.append(f"Alert line {price_text(n.threshold)}")
    return lines


def _move_pct(old: int, new: int | None) -> float | None:
    """The move from ``old`` to ``new`` in percent, rounded to what is shown (0.0 is no move)."""
    if new is None or old <= 0:
        return None
    try:
        return round((new - old) / old * 100, 1)
    except OverflowError:
        return None


# -- events ------------------------------------------------------------------------------------


def xp_mark(n: Notice) -> str:
    """The XP milestone an xp event crossed, as players say it ("15M"); "?" if unknown."""
    mark = n.threshold if n.threshold is not None else n.new
    return fmt_xp(mark) if mark is not None else "?"


def event_line(n: Notice, *, passed: bool = True) -> str:
    """One line for one event, without the player's name: "Attack 69 → 70".

    ``passed=False`` leaves out "(passed 500)" where the milestone is already said (the line then
    sits under the "500 Vorkath kills" it passed).
    """
    kind, metric = n.kind, n.metric
    old, new, threshold = n.old, n.new, n.threshold
    if kind == "levelup":
        return f"{metric} {fmt_int(old)} → {fmt_int(new)}"
    if kind == "xp":
        return f"{metric} {xp_mark(n)} XP"
    if kind == "combat":
        return f"Combat level {fmt_int(old)} → {fmt_int(new)}"
    if kind in {"boss", "clue", "activity"}:
        suffix = f" {n.unit}" if n.unit else ""
        if n.first:
            return f"{metric}: now on the hiscores at {fmt_int(new)}{suffix}"
        if passed and threshold is not None and new is not None and threshold < new:
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
            return f"renamed from {n.old_name if n.old_name is not None else '?'}"
        if metric == "new_account":
            return "the name now belongs to another account (tracking starts afresh)"
        if metric == "hardcore_death":
            return (f"died as a {n.old_account or 'Hardcore Ironman'} (total level "
                    f"{fmt_int(n.total_level)}, {fmt_int(n.overall_xp)} XP)")
        if metric == "deironed":
            was = f" (was {n.old_account})" if n.old_account else ""
            return f"is no longer an ironman{was}"
        return metric
    if kind == "price":
        rule = _alert(n).rule
        was = f" (was {fmt_gp(old)})" if old is not None and rule != "change" else ""
        if rule is not None:
            return f"{price_headline(n)}: now {fmt_gp(new)}{was}"
        return f"{metric}: {fmt_gp(new)}{was}"
    return f"{kind} {metric}"


def clue_line(tiers: Sequence[Notice], total: Notice | None) -> str:
    """One clue completion said once: the tier events of a poll and the "all" count they add up
    to, e.g. "Clue scrolls: 100 hard · 500 in all" (``total`` None leaves the total out)."""
    parts = []
    for n in tiers:
        passed = ""
        if n.threshold is not None and n.new is not None and n.threshold < n.new:
            passed = f" (passed {fmt_int(n.threshold)})"
        parts.append(f"{fmt_int(n.new)} {n.tier}{passed}")
    line = "Clue scrolls: " + ", ".join(parts)
    if total is not None:
        line += f" · {fmt_int(total.new)} in all"
    return line


def render_text(n: Notice) -> str:
    """A full plain-text line: "Lynx Titan — Attack 69 → 70"."""
    player = who(n)
    line = event_line(n)
    return f"{player} — {line}" if player else line


def display_name(n: Notice) -> str | None:
    """The player's name on one line, None when there is no player (a price alert)."""
    if n.player is None:
        return None
    return one_line(n.player.name).strip() or None


def account_type(n: Notice) -> str | None:
    """The account type the poller marked ("Hardcore Ironman"), None for a regular account."""
    label = n.player.account_type if n.player is not None else None
    return (one_line(label).strip() or None) if label is not None else None


def who(n: Notice) -> str | None:
    """The player as a clan sees them, in plain text: "Lynx Titan (Hardcore Ironman)"."""
    name = display_name(n)
    if name is None:
        return None
    label = account_type(n)
    return f"{name} ({label})" if label else name


def shown_line(n: Notice) -> str:
    """`event_line` escaped for Discord markdown, never blank."""
    line = escape_markdown(event_line(n))
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
        "player": ("status", "old_name", "old_account"),
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


def _discord_time(n: Notice) -> str:
    if n.taken_at is None:
        return "?"
    return f"<t:{int(n.taken_at.timestamp())}:f>"


def template_values(n: Notice) -> dict[str, str]:
    """What each placeholder stands for in one notice, markdown-escaped where it is text."""
    kind = n.kind
    metric = escape_markdown(n.metric)
    old, new = n.old, n.new
    player = display_name(n)
    values = {
        "player": escape_markdown(player) if player else "?",
        "mode": escape_markdown(n.player.mode if n.player is not None else "regular"),
        "account": escape_markdown(account_type(n) or ""),
        "kind": escape_markdown(kind),
        "metric": metric,
        "line": escape_markdown(event_line(n)),
        "text": escape_markdown(render_text(n)),
        "old": fmt_int(old),
        "new": fmt_int(new),
        "threshold": fmt_int(n.threshold),
        "combat": fmt_int(n.combat),
        "total_level": fmt_int(n.total_level),
        "overall_xp": fmt_int(n.overall_xp),
        "time": _discord_time(n),
    }
    if kind in {"levelup", "combat"}:
        values.update(level=fmt_int(new), old_level=fmt_int(old))
    if kind in {"levelup", "xp"}:
        values["skill"] = metric
    if kind == "xp":
        values["xp"] = xp_mark(n)
    if kind in {"boss", "clue", "activity"}:
        values[kind] = metric
        values["count"] = fmt_int(new)
    if kind == "achievement":
        values["achievement"] = metric
    if kind == "price":
        values.update(
            item=metric, price=fmt_gp(new), old_price=fmt_gp(old), price_gp=fmt_int(new),
            alert=escape_markdown(price_headline(n)),
        )
    if kind == "player":
        values["status"] = metric
        values["old_name"] = escape_markdown(n.old_name or "?")
        values["old_account"] = escape_markdown(n.old_account or "")
    return values


def render_template(template: str, n: Notice) -> str:
    """``template`` with its placeholders filled from the notice; never raises.

    ``{{``/``}}`` are literal braces; unknown placeholders and stray braces stay as written.
    """
    values = template_values(n)

    def fill(m: re.Match[str]) -> str:
        token = m.group(0)
        if token in {"{{", "}}"}:
            return token[0]
        name = m.group(1)
        return values.get(name, token) if name else token

    return neutralise_mentions(_TEMPLATE_TOKEN.sub(fill, template))
