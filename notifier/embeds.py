"""Events → Discord embeds: one per player and poll, one per milestone, one per price.

What an embed looks like (SPEC "Events and messages"):

- A player's events from one poll form one embed: the player as author linked to their hiscores
  page, one line per event, a colour per kind, the skill or boss icon as thumbnail, combat and
  total level in the footer, the snapshot time as timestamp.
- Milestones (99s, 200M xp, achievements such as Maxed and boss kill bands — anything the payload
  marks ``milestone``) get an embed of their own in gold. A milestone level-up or 200M that comes
  with its own achievement ("Attack 98 → 99" with "99 Attack") shares that achievement's embed
  instead of saying the same thing twice.
- A list too long for one embed ends with "+N more"; the embed still carries every event it
  summarises.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import quote

from notifier.limits import (
    MAX_AUTHOR,
    MAX_DESCRIPTION,
    MAX_LINE,
    MAX_NAME_IN_TITLE,
    MAX_OUR_FOOTER,
    MAX_TITLE,
    clip,
    discord_len,
    embed_size,
    is_http_url,
    iso_timestamp,
)
from notifier.markdown import escape_markdown, one_line, plain_text
from notifier.text import display_name, event_line, fmt_int, fmt_xp, metric_name, shown_line

# -- colours (decimal RGB as Discord takes it) -------------------------------------------------

COLOR_LEVELUP = 0x2ECC71  # green
COLOR_XP = 0x3498DB  # blue
COLOR_COMBAT = 0xE74C3C  # red
COLOR_BOSS = 0x9B59B6  # purple
COLOR_CLUE = 0xC27C0E  # dark gold
COLOR_ACTIVITY = 0x1ABC9C  # teal
COLOR_ACHIEVEMENT = 0xF1C40F  # gold
COLOR_PRICE = 0xE67E22  # orange
COLOR_PRICE_UP = 0x27AE60
COLOR_PRICE_DOWN = 0xC0392B
COLOR_PLAYER = 0x95A5A6  # grey: news about the player, not their progress
COLOR_OTHER = 0x5865F2  # Discord blurple
COLOR_MILESTONE = COLOR_ACHIEVEMENT

KIND_COLORS: Mapping[str, int] = MappingProxyType(
    {
        "levelup": COLOR_LEVELUP,
        "xp": COLOR_XP,
        "combat": COLOR_COMBAT,
        "boss": COLOR_BOSS,
        "clue": COLOR_CLUE,
        "activity": COLOR_ACTIVITY,
        "achievement": COLOR_ACHIEVEMENT,
        "price": COLOR_PRICE,
        "player": COLOR_PLAYER,
    }
)

# -- where links and pictures point ------------------------------------------------------------

WIKI_IMAGES = "https://oldschool.runescape.wiki/images/"
PRICES_ITEM_PAGE = "https://prices.runescape.wiki/osrs/item/"


def wiki_image(name: str) -> str:
    """OSRS Wiki image URL for a page-style name: "Kree'Arra" → …/images/Kree%27Arra.png."""
    stem = one_line(name).strip().replace(" ", "_")
    stem = stem[:1].upper() + stem[1:]
    return WIKI_IMAGES + quote(f"{stem}.png", safe="_-.()")


def skill_icon(skill: str) -> str:
    """"Attack" → https://oldschool.runescape.wiki/images/Attack_icon.png."""
    return wiki_image(f"{skill} icon")


_CLUE = re.compile(r"Clue Scrolls \((\w+)\)")


def activity_image(name: str) -> str:
    """A boss, raid, clue tier or activity: the wiki's picture of it, by name."""
    clue = _CLUE.fullmatch(name)
    if clue:
        tier = clue.group(1).lower()
        return wiki_image("Clue scroll" if tier == "all" else f"Clue scroll ({tier})")
    if name == "Collections Logged":
        return wiki_image("Collection log")
    return wiki_image(name)


_ACH_LEVEL = re.compile(r"99 (.+)")
_ACH_XP = re.compile(r"[\d.]+[KMB] (.+)")
_ACH_SCORE = re.compile(r"[\d,]+ (.+?)(?: kills| completions)?")


def _thumbnail(p: Mapping[str, object]) -> str | None:
    kind, metric = p.get("kind"), p.get("metric")
    if not isinstance(metric, str) or not metric.strip():
        return None
    url: str | None = None
    if kind in {"levelup", "xp"}:
        url = skill_icon(metric)
    elif kind == "combat":
        url = skill_icon("Combat")
    elif kind in {"boss", "clue"}:
        url = activity_image(metric)
    elif kind == "achievement":
        url = _achievement_image(metric)
    return url if url is not None and is_http_url(url) else None


def _achievement_image(name: str) -> str | None:
    # Achievement names as the poller writes them: "Base 70 Stats", "Maxed", "99 Attack",
    # "50M Attack", "1B Overall XP", "500 Vorkath kills", "100 Chambers of Xeric completions".
    if name == "Maxed":
        return wiki_image("Max cape")
    if name.startswith("Base ") or name.endswith("Overall XP"):
        return skill_icon("Stats")
    for pattern, picture in ((_ACH_LEVEL, skill_icon), (_ACH_XP, skill_icon)):
        m = pattern.fullmatch(name)
        if m:
            return picture(m.group(1))
    m = _ACH_SCORE.fullmatch(name)
    return activity_image(m.group(1)) if m else None


# -- embeds ------------------------------------------------------------------------------------


@dataclass
class Embed:
    data: dict[str, object]
    ids: list[int]

    @property
    def size(self) -> int:
        return embed_size(self.data)


def more_line(count: int) -> str:
    return f"+{count:,} more"


def describe(lines: Sequence[str], limit: int = MAX_DESCRIPTION) -> str:
    """Lines joined under ``limit``: as many as fit, then "+N more" for the rest."""
    lines = [clip(line, MAX_LINE) for line in lines]
    sizes = [discord_len(line) for line in lines]
    total = sum(sizes) + max(len(lines) - 1, 0)
    if total <= limit:
        return "\n".join(lines)
    used = 0
    kept = 0
    for size in sizes:
        extra = size + (1 if kept else 0)
        tail = 1 + discord_len(more_line(len(lines) - kept - 1))
        if used + extra + tail > limit:
            break
        used += extra
        kept += 1
    return "\n".join([*lines[:kept], more_line(len(lines) - kept)])


def _footer(payloads: Sequence[Mapping[str, object]]) -> dict[str, str] | None:
    combat = next((p.get("combat") for p in payloads if isinstance(p.get("combat"), int)), None)
    total = next(
        (p.get("total_level") for p in payloads if isinstance(p.get("total_level"), int)), None
    )
    parts = []
    if combat is not None:
        parts.append(f"Combat {fmt_int(combat)}")
    if total is not None:
        parts.append(f"Total {fmt_int(total)}")
    return {"text": clip(" · ".join(parts), MAX_OUR_FOOTER)} if parts else None


@dataclass
class Group:
    """A player's events from one poll (or one price event)."""

    items: list[tuple[int, Mapping[str, object]]] = field(default_factory=list)

    @property
    def first(self) -> Mapping[str, object]:
        return self.items[0][1]

    @property
    def player(self) -> str | None:
        return display_name(self.first.get("player"))


def _group_key(index: int, p: Mapping[str, object]) -> tuple[object, ...]:
    if p.get("kind") == "price":
        return ("price", index)
    return ("player", display_name(p.get("player")), str(p.get("mode")), str(p.get("taken_at")))


def _groups(items: Sequence[tuple[int, Mapping[str, object]]]) -> list[Group]:
    groups: dict[tuple[object, ...], Group] = {}
    for index, (delivery_id, payload) in enumerate(items):
        groups.setdefault(_group_key(index, payload), Group()).items.append(
            (delivery_id, payload)
        )
    return list(groups.values())


def _frame(group: Group, title: str, color: int, description: str) -> dict[str, object]:
    """The parts every player embed shares, in the order Discord shows them."""
    first = group.first
    embed: dict[str, object] = {}
    player = group.player
    if player:
        author: dict[str, str] = {"name": clip(plain_text(player), MAX_AUTHOR)}
        url = first.get("profile_url")  # the poller knows which hiscores board it is
        if is_http_url(url):
            author["url"] = url
        embed["author"] = author
    embed["title"] = clip(title, MAX_TITLE)
    embed["description"] = description
    embed["color"] = color
    return embed


def _finish(
    embed: dict[str, object],
    payloads: Sequence[Mapping[str, object]],
    thumbnail: str | None,
) -> dict[str, object]:
    if thumbnail:
        embed["thumbnail"] = {"url": thumbnail}
    footer = _footer(payloads)
    if footer:
        embed["footer"] = footer
    stamp = iso_timestamp(payloads[0].get("taken_at"))
    if stamp:
        embed["timestamp"] = stamp
    return embed


def _title_name(player: str | None) -> str:
    return escape_markdown(clip(player, MAX_NAME_IN_TITLE)) if player else ""


_PLAYER_TITLES = {
    "missing": "{p} is missing from the hiscores",
    "back": "{p} is back on the hiscores",
    "renamed": "{p} was renamed",
}
_KIND_TITLES: dict[str, tuple[str, str]] = {  # kind → (one event, several)
    "levelup": ("{p} levelled up", "{p} levelled up"),
    "xp": ("{p} reached an XP milestone", "{p} reached XP milestones"),
    "combat": ("{p} gained a combat level", "{p} gained combat levels"),
    "boss": ("{p}: boss kill count", "{p}: boss kill counts"),
    "clue": ("{p}: clue scrolls", "{p}: clue scrolls"),
    "activity": ("{p}: activity", "{p}: activities"),
    "achievement": ("{p}: achievement", "{p}: achievements"),
}


def _ordinary_title(player: str | None, payloads: Sequence[Mapping[str, object]]) -> str:
    who = _title_name(player) or "A player"
    kinds = {p.get("kind") for p in payloads}
    n = len(payloads)
    if len(kinds) != 1:
        return f"{who}: {n:,} updates"
    kind = next(iter(kinds))
    one = payloads[0]
    if n == 1 and kind == "player":
        template = _PLAYER_TITLES.get(str(one.get("metric")), "{p}: hiscores status")
        return template.format(p=who)
    if n == 1 and kind in {"boss", "clue", "activity"} and one.get("first"):
        return f"{who} is now on the {escape_markdown(metric_name(one))} hiscores"
    titles = _KIND_TITLES.get(str(kind))
    if titles is None:
        return f"{who}: {n:,} update{'s' if n != 1 else ''}"
    return titles[0 if n == 1 else 1].format(p=who)


def _ordinary_embed(group: Group, items: list[tuple[int, Mapping[str, object]]]) -> Embed:
    payloads = [p for _, p in items]
    # The colour of the first event about progress; grey only when the news is all "player".
    kind = next((k for k in (p.get("kind") for p in payloads) if k != "player"), "player")
    color = KIND_COLORS.get(str(kind), COLOR_OTHER)
    lines = [shown_line(p) for p in payloads]
    embed = _frame(group, _ordinary_title(group.player, payloads), color, describe(lines))
    thumbnail = next((t for t in map(_thumbnail, payloads) if t), None)
    return Embed(_finish(embed, payloads, thumbnail), [i for i, _ in items])


def _headline(p: Mapping[str, object]) -> str:
    kind = p.get("kind")
    metric = metric_name(p)
    new, threshold = p.get("new"), p.get("threshold")
    if kind == "achievement":
        return metric
    if kind == "levelup" and isinstance(new, int):
        return f"{fmt_int(new)} {metric}"
    if kind == "xp":
        mark = threshold if isinstance(threshold, int) else new
        if isinstance(mark, int):
            return f"{fmt_xp(mark)} {metric} XP"
    return event_line(p)


def _highlight_embed(
    group: Group,
    main: tuple[int, Mapping[str, object]],
    merged: list[tuple[int, Mapping[str, object]]],
) -> Embed:
    _, p = main
    lines = []
    if group.player:
        lines.append(f"Congratulations, **{_title_name(group.player)}**!")
    details = merged if p.get("kind") == "achievement" and group.player else [main, *merged]
    lines += [shown_line(q) for _, q in details]
    title = "🏆 " + escape_markdown(_headline(p))
    embed = _frame(group, title, COLOR_MILESTONE, describe(lines))
    carried = [main, *merged]
    payloads = [q for _, q in carried]
    thumbnail = next((t for t in map(_thumbnail, payloads) if t), None)
    return Embed(_finish(embed, payloads, thumbnail), [i for i, _ in carried])


def _is_highlight(p: Mapping[str, object]) -> bool:
    return bool(p.get("milestone")) or p.get("kind") == "achievement"


def _achievement_twin(p: Mapping[str, object]) -> str | None:
    """The achievement that says the same as a milestone level-up or xp event, by name."""
    kind, metric, new, threshold = p.get("kind"), p.get("metric"), p.get("new"), p.get("threshold")
    if kind == "levelup" and isinstance(new, int) and new >= 99:
        return f"99 {metric}"
    if kind == "xp" and isinstance(threshold, int) and threshold == 200_000_000:
        return f"200M {metric}"
    return None


def player_embeds(group: Group) -> list[Embed]:
    ordinary: list[tuple[int, Mapping[str, object]]] = []
    highlights: list[tuple[int, Mapping[str, object]]] = []
    for item in group.items:
        (highlights if _is_highlight(item[1]) else ordinary).append(item)
    # A milestone level-up/xp rides along in its achievement's embed when both are here.
    achievements = {
        metric_name(p): n for n, (_, p) in enumerate(highlights) if p.get("kind") == "achievement"
    }
    merged: dict[int, list[tuple[int, Mapping[str, object]]]] = {}
    mains: list[int] = []
    for n, (_, p) in enumerate(highlights):
        twin = _achievement_twin(p) if p.get("kind") != "achievement" else None
        target = achievements.get(twin) if twin is not None else None
        if target is not None:
            merged.setdefault(target, []).append(highlights[n])
        else:
            mains.append(n)
    out = [_ordinary_embed(group, ordinary)] if ordinary else []
    out += [_highlight_embed(group, highlights[n], merged.get(n, [])) for n in mains]
    return out


def _price_embed(delivery_id: int, p: Mapping[str, object]) -> Embed:
    old, new, threshold = p.get("old"), p.get("new"), p.get("threshold")
    color, arrow = COLOR_PRICE, "💰"
    if isinstance(old, int) and isinstance(new, int) and old != new:
        color, arrow = (COLOR_PRICE_UP, "📈") if new > old else (COLOR_PRICE_DOWN, "📉")
    title = f"{arrow} {escape_markdown(metric_name(p))}"
    embed: dict[str, object] = {"title": clip(title, MAX_TITLE)}
    url = p.get("url")
    item_id = p.get("item_id")
    if not is_http_url(url) and isinstance(item_id, int) and not isinstance(item_id, bool):
        url = f"{PRICES_ITEM_PAGE}{item_id}"
    if is_http_url(url):
        embed["url"] = url
    lines = [f"Price: {fmt_int(new)} gp"]
    if isinstance(old, int):
        change = ""
        if isinstance(new, int) and old > 0:
            try:
                change = f" ({(new - old) / old * 100:+.1f}%)"
            except OverflowError:
                change = ""
        lines.append(f"Was: {fmt_int(old)} gp{change}")
    if isinstance(threshold, int):
        lines.append(f"Alert at: {fmt_int(threshold)} gp")
    embed["description"] = describe(lines)
    embed["color"] = color
    icon = p.get("icon_url")
    if not is_http_url(icon):
        name = p.get("metric")
        icon = wiki_image(name) if isinstance(name, str) and name.strip() else None
    if icon and is_http_url(icon):
        embed["thumbnail"] = {"url": icon}
    embed["footer"] = {"text": "Prices from the OSRS Wiki"}
    stamp = iso_timestamp(p.get("taken_at"))
    if stamp:
        embed["timestamp"] = stamp
    return Embed(embed, [delivery_id])


def event_embeds(items: Sequence[tuple[int, Mapping[str, object]]]) -> Iterator[Embed]:
    for group in _groups(items):
        if group.first.get("kind") == "price":
            yield _price_embed(*group.items[0])
        else:
            yield from player_embeds(group)
