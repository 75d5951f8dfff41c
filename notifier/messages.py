"""Events (plain dicts from the outbox) → human text.

The notifier knows Discord and English, not hiscores internals: every number it shows arrives in
the payload. Plain text serves `poll --dry-run` and webhooks with ``format = "text"``.
"""

from __future__ import annotations

from collections.abc import Mapping


def fmt_int(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else "?"


def fmt_xp(value: int) -> str:
    """25_000_000 → "25M", 1_500_000_000 → "1.5B": how players say XP milestones."""
    for size, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "K")):
        if value >= size:
            text = f"{value / size:.2f}".rstrip("0").rstrip(".")
            return f"{text}{suffix}"
    return str(value)


def _count_word(kind: str, metric: str) -> str:
    if kind == "boss":
        return "chests" if metric in {"Barrows Chests", "Lunar Chests"} else "kills"
    if kind == "clue":
        return "completed"
    return "points" if "Points" in metric else ""


def event_line(p: Mapping[str, object]) -> str:
    """One line for one event, without the player's name: "Attack 69 → 70"."""
    kind = str(p.get("kind"))
    metric = str(p.get("metric"))
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
