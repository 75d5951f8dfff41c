"""Events → Discord embeds: one per player and poll, one per milestone, one per price.

What an embed looks like (SPEC "Events and messages"), each fact said once:

- The player is the author, linked to their hiscores page, marked with their account type as the
  game does ("Lynx Titan (Hardcore Ironman)" with the helm badge); the name is nowhere else.
- A player's plain facts from one poll form one embed: a title naming the kind of news ("Level
  ups", "Kill count", "Levels, combat and clues"), one line per fact, a colour per kind, the
  first verified picture as thumbnail, combat and total level in the footer (combat left out
  when a combat level-up is among the lines), the snapshot time as timestamp.
- Milestones get an embed of their own in gold, titled by the milestone ("🏆 500 Vorkath kills");
  the events that earned it ride in it (see :mod:`notifier.facts`), and their line is shown
  only when it adds something ("Vorkath: 503 kills"). The footer is on the first embed of a
  player's poll only.
- Pictures and links come from the notice (``icon_url``, the player's badge and hiscores page,
  a price's item page): the poller verified them against the OSRS Wiki. Nothing here builds a
  Wiki URL; no picture beats a broken one.
- A list too long for one embed ends with "+N more"; the embed still carries every event it
  summarises.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from notifier.facts import Fact, Item, player_facts
from notifier.limits import (
    MAX_AUTHOR,
    MAX_DESCRIPTION,
    MAX_LINE,
    MAX_OUR_FOOTER,
    MAX_TITLE,
    clip,
    discord_len,
    embed_size,
    is_http_url,
)
from notifier.markdown import escape_markdown, plain_text
from notifier.notice import Notice
from notifier.numbers import fmt_int
from notifier.text import display_name, price_details, price_direction, price_headline, who

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


def _url(url: str | None) -> str | None:
    """``url`` if Discord takes it in an embed, else None."""
    return url if is_http_url(url) else None


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


def shown(line: str) -> str:
    """A line escaped for Discord markdown, never blank."""
    text = escape_markdown(line)
    return text if text.strip() else "(no details)"


def _footer(notices: Sequence[Notice]) -> dict[str, str] | None:
    combat = next((n.combat for n in notices if n.combat is not None), None)
    total = next((n.total_level for n in notices if n.total_level is not None), None)
    if any(n.kind == "combat" for n in notices):
        combat = None  # "Combat level 125 → 126" already says it
    parts = []
    if combat is not None:
        parts.append(f"Combat {fmt_int(combat)}")
    if total is not None:
        parts.append(f"Total {fmt_int(total)}")
    return {"text": clip(" · ".join(parts), MAX_OUR_FOOTER)} if parts else None


@dataclass
class Group:
    """A player's events from one poll (or one price event)."""

    items: list[Item] = field(default_factory=list)

    @property
    def first(self) -> Notice:
        return self.items[0][1]


def group_key(index: int, n: Notice) -> tuple[object, ...]:
    if n.kind == "price":
        return ("price", index)
    mode = n.player.mode if n.player is not None else None
    return ("player", display_name(n), mode, n.taken_at)


def groups(items: Sequence[Item]) -> list[Group]:
    found: dict[tuple[object, ...], Group] = {}
    for index, (delivery_id, notice) in enumerate(items):
        found.setdefault(group_key(index, notice), Group()).items.append((delivery_id, notice))
    return list(found.values())


def _author(n: Notice) -> dict[str, str] | None:
    name = who(n)
    if not name or n.player is None:
        return None
    author: dict[str, str] = {"name": clip(plain_text(name), MAX_AUTHOR)}
    url = _url(n.player.profile_url)  # the poller knows which hiscores board it is
    if url:
        author["url"] = url
    badge = _url(n.player.badge_url)
    if badge and n.player.account_type:
        author["icon_url"] = badge
    return author


def _embed(
    first: Notice, title: str | None, color: int, description: str | None,
    notices: Sequence[Notice], *, footer: bool,
) -> dict[str, object]:
    """The parts every player embed shares, in the order Discord shows them."""
    embed: dict[str, object] = {}
    author = _author(first)
    if author:
        embed["author"] = author
    if title:
        embed["title"] = clip(title, MAX_TITLE)
    if description:
        embed["description"] = description
    embed["color"] = color
    thumbnail = next((t for t in (_url(n.icon_url) for n in notices) if t), None)
    if thumbnail:
        embed["thumbnail"] = {"url": thumbnail}
    if footer:
        shown_footer = _footer(notices)
        if shown_footer:
            embed["footer"] = shown_footer
    if first.taken_at is not None:
        embed["timestamp"] = first.taken_at.isoformat()
    return embed


_KIND_TITLES: dict[str, tuple[str, str]] = {  # kind → (one fact, several)
    "levelup": ("Level up", "Level ups"),
    "xp": ("XP milestone", "XP milestones"),
    "combat": ("Combat level up", "Combat level ups"),
    "boss": ("Kill count", "Kill counts"),
    "clue": ("Clue scrolls", "Clue scrolls"),
    "activity": ("Activity", "Activities"),
    "achievement": ("Achievement", "Achievements"),
    "player": ("Hiscores", "Hiscores"),
}
# Several kinds in one embed: "Levels, combat and clues".
_KIND_NOUNS = {
    "levelup": "levels", "xp": "XP", "combat": "combat", "boss": "kill counts", "clue": "clues",
    "activity": "activities", "achievement": "achievements", "player": "status",
}


def _kinds_title(kinds: Sequence[object]) -> str:
    nouns = list(dict.fromkeys(_KIND_NOUNS.get(str(k), "updates") for k in kinds))
    text = nouns[0] if len(nouns) == 1 else ", ".join(nouns[:-1]) + " and " + nouns[-1]
    return text[:1].upper() + text[1:]


# A single hiscores-status event: the title is the news, the description its detail.
_PLAYER_NEWS = {"missing": "Missing from the hiscores", "back": "Back on the hiscores"}


def _player_news(n: Notice) -> tuple[str, str | None] | None:
    metric = n.metric
    if metric == "missing":
        return _PLAYER_NEWS["missing"], (
            f"Not found {fmt_int(n.new)} polls in a row: renamed or banned?"
        )
    if metric == "back":
        return _PLAYER_NEWS["back"], None
    if metric == "renamed":
        return f"Renamed from {escape_markdown(n.old_name or '?')}", None
    if metric == "hardcore_death":
        return f"Died as a {escape_markdown(n.old_account or 'Hardcore Ironman')}", (
            f"Total level {fmt_int(n.total_level)} · {fmt_int(n.overall_xp)} XP at death"
        )
    if metric == "deironed":
        was = f"Was {escape_markdown(n.old_account)}; " if n.old_account else ""
        return "No longer an ironman", f"{was}now on the regular hiscores."
    if metric == "new_account":
        return "A new account wears this name", (
            "Its stats are no continuation of the old ones: tracking starts afresh from here "
            "(the old history is kept apart)."
        )
    return None


def _plain_embed(facts: Sequence[Fact], *, footer: bool) -> Embed:
    notices = [n for f in facts for n in f.notices]
    mains = [f.main for f in facts]
    first = mains[0]
    # The colour of the first event about progress; grey only when the news is all "player".
    kind = next((k for k in (n.kind for n in mains) if k != "player"), "player")
    color = KIND_COLORS.get(kind, COLOR_OTHER)
    kinds = {n.kind for n in mains}
    news = _player_news(first) if len(facts) == 1 and kind == "player" else None
    if news is not None:
        title, description = news
    else:
        if len(kinds) == 1:
            one, several = _KIND_TITLES.get(kind, ("Update", "Updates"))
            title = one if len(facts) == 1 else several
        else:
            title = _kinds_title([n.kind for n in mains])
        description = describe([shown(f.line()) for f in facts])
    embed = _embed(first, title, color, description, notices, footer=footer)
    return Embed(embed, [i for f in facts for i in f.ids])


def _highlight_embed(fact: Fact, *, footer: bool) -> Embed:
    title = "🏆 " + escape_markdown(fact.line())
    description = describe([shown(d) for d in fact.details]) if fact.details else None
    embed = _embed(fact.main, title, COLOR_MILESTONE, description, fact.notices, footer=footer)
    return Embed(embed, fact.ids)


# Account-type news is a moment of its own (a hardcore's death above all): its own embed, with
# the news as the title, never one line among a poll's level-ups.
_OWN_EMBED = frozenset({"hardcore_death", "deironed"})


def _own_embed(f: Fact) -> bool:
    return f.main.kind == "player" and f.main.metric in _OWN_EMBED


def player_embeds(group: Group) -> list[Embed]:
    facts = player_facts(group.items)
    out = [_plain_embed([f], footer=False) for f in facts if _own_embed(f)]
    plain = [f for f in facts if not f.highlight and not _own_embed(f)]
    out += [_plain_embed(plain, footer=True)] if plain else []
    out += [_highlight_embed(f, footer=not plain) for f in facts if f.highlight]
    return out


def _price_embed(delivery_id: int, n: Notice) -> Embed:
    direction = price_direction(n)
    color, arrow = COLOR_PRICE, "💰"
    if direction is not None:
        color, arrow = (COLOR_PRICE_UP, "📈") if direction == "up" else (COLOR_PRICE_DOWN, "📉")
    embed: dict[str, object] = {"title": clip(f"{arrow} {escape_markdown(price_headline(n))}",
                                              MAX_TITLE)}
    url = _url(n.price.url if n.price is not None else None)  # the item's prices page
    if url:
        embed["url"] = url
    embed["description"] = describe([shown(line) for line in price_details(n)])
    embed["color"] = color
    icon = _url(n.icon_url)  # the item's picture as the Wiki's /mapping names it, or none
    if icon:
        embed["thumbnail"] = {"url": icon}
    embed["footer"] = {"text": "Prices from the OSRS Wiki"}
    if n.taken_at is not None:
        embed["timestamp"] = n.taken_at.isoformat()
    return Embed(embed, [delivery_id])


def event_embeds(items: Sequence[Item]) -> Iterator[Embed]:
    for group in groups(items):
        if group.first.kind == "price":
            yield _price_embed(*group.items[0])
        else:
            yield from player_embeds(group)
