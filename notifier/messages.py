"""Events (plain dicts from the outbox) → human text and Discord webhook messages.

The notifier knows Discord and English, not hiscores internals: every number it shows arrives in
the payload (see ``poller.pipeline.event_payload``: kind, metric, old, new, threshold, milestone,
first, player, mode, taken_at, combat, total_level, overall_xp; price events may add item_id,
icon_url and url). Plain text serves ``poll --dry-run`` and webhooks with ``format = "text"``;
embeds are the default.

What a message looks like (SPEC "Events and messages"):

- A player's events from one poll form one embed: the player as author linked to their hiscores
  page, one line per event, a colour per kind, the skill or boss icon as thumbnail, combat and
  total level in the footer, the snapshot time as timestamp.
- Milestones (99s, 200M xp, achievements such as Maxed and boss kill bands — anything the payload
  marks ``milestone``) get an embed of their own in gold. A milestone level-up or 200M that comes
  with its own achievement ("Attack 98 → 99" with "99 Attack") shares that achievement's embed
  instead of saying the same thing twice.
- Embeds are packed, in order, into as few messages as Discord allows; a list too long for one
  embed ends with "+N more" and the message still carries every event it summarises.

Lengths are counted in UTF-16 code units (a character outside the BMP, such as most emoji, counts
twice). That never counts less than Discord does, so whatever fits here fits there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Literal
from urllib.parse import quote, urlsplit

# -- Discord's limits --------------------------------------------------------------------------

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBEDS_TOTAL = 6000  # title + description + field names/values + footer + author, all embeds
MAX_TITLE = 256
MAX_DESCRIPTION = 4096
MAX_FIELDS = 25
MAX_FIELD_NAME = 256
MAX_FIELD_VALUE = 1024
MAX_FOOTER = 2048
MAX_AUTHOR = 256
MAX_USERNAME = 80
MAX_URL = 2048  # our cap for embed URLs: every link we build is far shorter
MAX_COLOR = 0xFFFFFF

# Ours, well inside Discord's: one event line, a name inside a title, the footer.
MAX_LINE = 512
MAX_NAME_IN_TITLE = 100
MAX_OUR_FOOTER = 256

ELLIPSIS = "…"
ZWSP = "\u200b"

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
EVENT_KINDS: tuple[str, ...] = tuple(KIND_COLORS)

# -- where links and pictures point ------------------------------------------------------------

HISCORES_SITE = "https://secure.runescape.com"
# Config mode → hiscores board. The same table lives in poller.hiscores; the notifier may not
# import it, and a player's page is a link for people, not an API the poller depends on.
HISCORE_BOARDS: Mapping[str, str] = MappingProxyType(
    {
        "regular": "hiscore_oldschool",
        "ironman": "hiscore_oldschool_ironman",
        "hardcore": "hiscore_oldschool_hardcore_ironman",
        "ultimate": "hiscore_oldschool_ultimate",
        "deadman": "hiscore_oldschool_deadman",
        "seasonal": "hiscore_oldschool_seasonal",
        "tournament": "hiscore_oldschool_tournament",
        "fresh_start": "hiscore_oldschool_fresh_start",
        "skiller": "hiscore_oldschool_skiller",
        "defence_pure": "hiscore_oldschool_skiller_defence",
    }
)
WIKI_IMAGES = "https://oldschool.runescape.wiki/images/"
PRICES_ITEM_PAGE = "https://prices.runescape.wiki/osrs/item/"


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


def _metric(p: Mapping[str, object]) -> str:
    metric = p.get("metric")
    return "?" if metric is None else str(metric)


def event_line(p: Mapping[str, object]) -> str:
    """One line for one event, without the player's name: "Attack 69 → 70"."""
    kind = str(p.get("kind"))
    metric = _metric(p)
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


# -- text helpers: length, clipping, escaping --------------------------------------------------


def discord_len(text: str) -> int:
    """Length as Discord's limits count it, never less: UTF-16 code units."""
    if text.isascii():
        return len(text)
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def clip(text: str, limit: int, ellipsis: str = ELLIPSIS) -> str:
    """``text`` if it fits in ``limit``, else its longest head that fits with ``ellipsis``.

    Never leaves a dangling markdown escape (a lone trailing backslash) before the ellipsis.
    """
    if discord_len(text) <= limit:
        return text
    budget = limit - discord_len(ellipsis)
    used = cut = 0
    for i, c in enumerate(text):
        used += 2 if ord(c) > 0xFFFF else 1
        if used > budget:
            break
        cut = i + 1
    kept = text[:cut].rstrip()
    if (len(kept) - len(kept.rstrip("\\"))) % 2:
        kept = kept[:-1]
    return kept + ellipsis


_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
_MARKDOWN = re.compile(r"([\\*_~`|>\[\]<#])")
_MASS_MENTION = re.compile(r"@(?=(everyone|here))", re.IGNORECASE)


def one_line(text: str) -> str:
    """Newlines, tabs and other control characters become one space."""
    return _CONTROL.sub(" ", text)


def neutralise_mentions(text: str) -> str:
    """"@everyone" / "@here" → "@\u200beveryone": looks the same, is not a mention.

    ``allowed_mentions`` already stops pings; this stops the text looking like one.
    """
    return _MASS_MENTION.sub("@" + ZWSP, text)


def escape_markdown(text: str) -> str:
    """Text shown as-is in Discord markdown: ``_Zezima_`` stays ``_Zezima_``, not italics.

    Also flattens it to one line and neutralises mass mentions; a leading "-" or "+" (a list
    item) is escaped too.
    """
    text = neutralise_mentions(_MARKDOWN.sub(r"\\\1", one_line(text)))
    if text[:1] in {"-", "+"}:
        text = "\\" + text
    return text


def _plain(text: str) -> str:
    # For places Discord shows without markdown (author name, footer): one line, no mentions.
    return neutralise_mentions(one_line(text))


def _name(value: object) -> str | None:
    if value is None:
        return None
    text = one_line(str(value)).strip()
    return text or None


def is_http_url(value: object) -> bool:
    """An absolute http(s) URL Discord will take in an embed (≤ 2048 characters)."""
    if not isinstance(value, str) or not value or len(value) > MAX_URL:
        return False
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in {"http", "https"} and bool(parts.netloc) and bool(parts.hostname)


def hiscores_url(player: str, mode: object = "regular") -> str:
    """The player's personal hiscores page on their board (regular if the mode is unknown)."""
    board = HISCORE_BOARDS.get(str(mode), HISCORE_BOARDS["regular"])
    return f"{HISCORES_SITE}/m={board}/hiscorepersonal?user1={quote(player, safe='')}"


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


def _timestamp(value: object) -> str | None:
    """The snapshot time as ISO 8601 with an offset (naive means UTC); None if unreadable."""
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str) and _ISO8601.fullmatch(value.strip()):
        try:
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.isoformat()


_ISO8601 = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})?"
)


# -- per-webhook style -------------------------------------------------------------------------


@dataclass(frozen=True)
class Style:
    """How one webhook wants its messages: sender name and picture, embeds or plain lines.

    ``templates`` (text format only) map an event kind to a line such as
    ``"{player} reached {level} {skill}!"``; see `TEMPLATE_FIELDS` for what each kind offers.
    """

    username: str | None = None
    avatar_url: str | None = None
    format: Literal["embed", "text"] = "embed"
    templates: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.format not in ("embed", "text"):
            raise ValueError(f"format must be 'embed' or 'text', not {self.format!r}")
        object.__setattr__(self, "templates", MappingProxyType(dict(self.templates)))


@dataclass(frozen=True)
class Message:
    """One webhook execution: the JSON body, and the outbox deliveries it carries."""

    body: Mapping[str, object]  # the JSON sent to Discord
    delivery_ids: tuple[int, ...]  # outbox rows it carries


def no_mentions() -> dict[str, list[str]]:
    """``allowed_mentions`` for every body: nothing this program sends can ping anyone."""
    return {"parse": []}


_HOMOGLYPHS = {"o": "\u043e", "O": "\u041e", "e": "\u0435", "E": "\u0415"}
_USERNAME_CHARS = {"@": "\uff20", "#": "\uff03", ":": "\uff1a"}
_FORBIDDEN_WORDS = re.compile(r"discord|clyde", re.IGNORECASE)


def _swap_letter(word: str, letter: str) -> str:
    i = word.lower().index(letter)
    return word[:i] + _HOMOGLYPHS[word[i]] + word[i + 1 :]


def sanitize_username(name: str | None) -> str | None:
    """A webhook username Discord accepts, or None to keep the webhook's own name.

    Discord refuses names containing "discord" or "clyde", names "everyone"/"here", and the
    characters ``@ # :`` and "```". Those are swapped for look-alikes (Cyrillic о/е, full-width
    ＠＃：) so the name reads the same; whitespace is collapsed; then clipped to 80 characters.
    """
    if name is None:
        return None
    text = " ".join(one_line(name).split())
    if not text:
        return None
    text = text.replace("```", "ˋˋˋ")
    for char, lookalike in _USERNAME_CHARS.items():
        text = text.replace(char, lookalike)
    text = _FORBIDDEN_WORDS.sub(
        lambda m: _swap_letter(m.group(0), "o" if m.group(0).lower() == "discord" else "e"), text
    )
    if text.lower() in {"everyone", "here"}:
        text = _swap_letter(text, "e")
    return clip(text, MAX_USERNAME)


def _body(style: Style, **parts: object) -> dict[str, object]:
    body: dict[str, object] = {}
    username = sanitize_username(style.username)
    if username:
        body["username"] = username
    if style.avatar_url and is_http_url(style.avatar_url):
        body["avatar_url"] = style.avatar_url
    body.update(parts)
    body["allowed_mentions"] = no_mentions()
    return body


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
    stamp = _timestamp(value)
    if stamp is None:
        return "?"
    return f"<t:{int(datetime.fromisoformat(stamp).timestamp())}:f>"


def template_values(p: Mapping[str, object]) -> dict[str, str]:
    """What each placeholder stands for in one event, markdown-escaped where it is text."""
    kind = str(p.get("kind"))
    metric = escape_markdown(_metric(p))
    old, new, threshold = p.get("old"), p.get("new"), p.get("threshold")
    player = _name(p.get("player"))
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


def shown_line(p: Mapping[str, object]) -> str:
    """`event_line` escaped for Discord markdown, never blank."""
    line = escape_markdown(event_line(p))
    return line if line.strip() else "(no details)"


def text_line(p: Mapping[str, object], style: Style | None = None) -> str:
    """One content line for a text-format webhook: its template for the kind, else the default
    "**Zezima** — Attack 69 → 70" (🏆 in front of milestones)."""
    template = style.templates.get(str(p.get("kind"))) if style is not None else None
    if template:
        line = render_template(template, p)
        if line.strip():
            return line
    player = _name(p.get("player"))
    line = shown_line(p)
    if player:
        line = f"**{escape_markdown(clip(player, MAX_NAME_IN_TITLE))}** — {line}"
    if p.get("milestone") or p.get("kind") == "achievement":
        line = "🏆 " + line
    return line


# -- embeds ------------------------------------------------------------------------------------


@dataclass
class _Embed:
    data: dict[str, object]
    ids: list[int]

    @property
    def size(self) -> int:
        return embed_size(self.data)


def embed_size(embed: Mapping[str, object]) -> int:
    """The characters an embed counts towards the 6,000 per message."""
    total = 0
    for key in ("title", "description"):
        if isinstance(embed.get(key), str):
            total += discord_len(embed[key])  # type: ignore[arg-type]
    for key, sub in (("footer", "text"), ("author", "name")):
        part = embed.get(key)
        if isinstance(part, Mapping) and isinstance(part.get(sub), str):
            total += discord_len(part[sub])
    fields = embed.get("fields")
    if isinstance(fields, list):
        for f in fields:
            if isinstance(f, Mapping):
                for sub in ("name", "value"):
                    if isinstance(f.get(sub), str):
                        total += discord_len(f[sub])
    return total


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
class _Group:
    """A player's events from one poll (or one price event)."""

    items: list[tuple[int, Mapping[str, object]]] = field(default_factory=list)

    @property
    def first(self) -> Mapping[str, object]:
        return self.items[0][1]

    @property
    def player(self) -> str | None:
        return _name(self.first.get("player"))


def _group_key(index: int, p: Mapping[str, object]) -> tuple[object, ...]:
    if p.get("kind") == "price":
        return ("price", index)
    return ("player", _name(p.get("player")), str(p.get("mode")), str(p.get("taken_at")))


def _groups(items: Sequence[tuple[int, Mapping[str, object]]]) -> list[_Group]:
    groups: dict[tuple[object, ...], _Group] = {}
    for index, (delivery_id, payload) in enumerate(items):
        groups.setdefault(_group_key(index, payload), _Group()).items.append(
            (delivery_id, payload)
        )
    return list(groups.values())


def _frame(group: _Group, title: str, color: int, description: str) -> dict[str, object]:
    """The parts every player embed shares, in the order Discord shows them."""
    first = group.first
    embed: dict[str, object] = {}
    player = group.player
    if player:
        author: dict[str, str] = {"name": clip(_plain(player), MAX_AUTHOR)}
        url = hiscores_url(player, first.get("mode") or "regular")
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
    stamp = _timestamp(payloads[0].get("taken_at"))
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
        return f"{who} is now on the {escape_markdown(_metric(one))} hiscores"
    titles = _KIND_TITLES.get(str(kind))
    if titles is None:
        return f"{who}: {n:,} update{'s' if n != 1 else ''}"
    return titles[0 if n == 1 else 1].format(p=who)


def _ordinary_embed(group: _Group, items: list[tuple[int, Mapping[str, object]]]) -> _Embed:
    payloads = [p for _, p in items]
    # The colour of the first event about progress; grey only when the news is all "player".
    kind = next((k for k in (p.get("kind") for p in payloads) if k != "player"), "player")
    color = KIND_COLORS.get(str(kind), COLOR_OTHER)
    lines = [shown_line(p) for p in payloads]
    embed = _frame(group, _ordinary_title(group.player, payloads), color, describe(lines))
    thumbnail = next((t for t in map(_thumbnail, payloads) if t), None)
    return _Embed(_finish(embed, payloads, thumbnail), [i for i, _ in items])


def _headline(p: Mapping[str, object]) -> str:
    kind = p.get("kind")
    metric = _metric(p)
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
    group: _Group,
    main: tuple[int, Mapping[str, object]],
    merged: list[tuple[int, Mapping[str, object]]],
) -> _Embed:
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
    return _Embed(_finish(embed, payloads, thumbnail), [i for i, _ in carried])


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


def _player_embeds(group: _Group) -> list[_Embed]:
    ordinary: list[tuple[int, Mapping[str, object]]] = []
    highlights: list[tuple[int, Mapping[str, object]]] = []
    for item in group.items:
        (highlights if _is_highlight(item[1]) else ordinary).append(item)
    # A milestone level-up/xp rides along in its achievement's embed when both are here.
    achievements = {
        _metric(p): n for n, (_, p) in enumerate(highlights) if p.get("kind") == "achievement"
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


def _price_embed(delivery_id: int, p: Mapping[str, object]) -> _Embed:
    old, new, threshold = p.get("old"), p.get("new"), p.get("threshold")
    color, arrow = COLOR_PRICE, "💰"
    if isinstance(old, int) and isinstance(new, int) and old != new:
        color, arrow = (COLOR_PRICE_UP, "📈") if new > old else (COLOR_PRICE_DOWN, "📉")
    embed: dict[str, object] = {"title": clip(f"{arrow} {escape_markdown(_metric(p))}", MAX_TITLE)}
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
    stamp = _timestamp(p.get("taken_at"))
    if stamp:
        embed["timestamp"] = stamp
    return _Embed(embed, [delivery_id])


def _embeds(items: Sequence[tuple[int, Mapping[str, object]]]) -> Iterator[_Embed]:
    for group in _groups(items):
        if group.first.get("kind") == "price":
            yield _price_embed(*group.items[0])
        else:
            yield from _player_embeds(group)


def _distinct(ids: list[int], seen: set[int], order: Mapping[int, int]) -> tuple[int, ...]:
    # Each id once over all messages; within a message in outbox order.
    out = []
    for i in ids:
        if i not in seen:
            seen.add(i)
            out.append(i)
    out.sort(key=lambda i: order.get(i, 0))
    return tuple(out)


def _outbox_order(items: Sequence[tuple[int, Mapping[str, object]]]) -> dict[int, int]:
    order: dict[int, int] = {}
    for n, (delivery_id, _) in enumerate(items):
        order.setdefault(delivery_id, n)
    return order


def _pack_embeds(
    embeds: Iterator[_Embed], style: Style, order: Mapping[int, int]
) -> list[Message]:
    messages: list[Message] = []
    seen: set[int] = set()
    batch: list[_Embed] = []
    size = 0

    def flush() -> None:
        if batch:
            ids = _distinct([i for e in batch for i in e.ids], seen, order)
            body = _body(style, embeds=[e.data for e in batch])
            messages.append(Message(body, ids))

    for embed in embeds:
        n = embed.size
        if batch and (len(batch) >= MAX_EMBEDS or size + n > MAX_EMBEDS_TOTAL):
            flush()
            batch, size = [], 0
        batch.append(embed)
        size += n
    flush()
    return messages


def _pack_lines(items: Sequence[tuple[int, Mapping[str, object]]], style: Style) -> list[Message]:
    order = _outbox_order(items)
    messages: list[Message] = []
    seen: set[int] = set()
    lines: list[str] = []
    ids: list[int] = []
    size = 0

    def flush() -> None:
        if lines:
            body = _body(style, content="\n".join(lines))
            messages.append(Message(body, _distinct(ids, seen, order)))

    for delivery_id, payload in items:
        line = clip(text_line(payload, style), MAX_CONTENT)
        n = discord_len(line)
        if lines and size + 1 + n > MAX_CONTENT:
            flush()
            lines, ids, size = [], [], 0
        size += n + (1 if lines else 0)
        lines.append(line)
        ids.append(delivery_id)
    flush()
    return messages


def build_messages(
    items: Sequence[tuple[int, Mapping[str, object]]], style: Style
) -> list[Message]:
    """Outbox rows ``(delivery_id, payload)``, in outbox order, as Discord webhook messages.

    Embed format: one embed per player and poll (grouped by player, mode and ``taken_at``, in
    order of first appearance), a gold embed per milestone, one embed per price event; packed in
    order into messages of at most 10 embeds and 6,000 characters. Text format: one line per
    event (the webhook's template for its kind, else the default line), packed into messages of
    at most 2,000 characters.

    Every delivery id is carried by exactly one message — also those only counted in a
    "+N more" line. Every body passes `discord_limits_problems`.
    """
    if style.format == "text":
        return _pack_lines(items, style)
    return _pack_embeds(_embeds(items), style, _outbox_order(items))


SAMPLE_PAYLOAD: Mapping[str, object] = MappingProxyType(
    {
        "kind": "levelup",
        "metric": "Attack",
        "old": 69,
        "new": 70,
        "threshold": 70,
        "milestone": False,
        "first": False,
        "player": "Zezima",
        "mode": "regular",
        "combat": 126,
        "total_level": 2277,
    }
)
SAMPLE_INTRO = (
    "👋 Test message from osrs-notify: this webhook works. Level-ups will look like this:"
)


def sample_message(style: Style, now: datetime | None = None) -> Message:
    """A friendly message for ``webhook test NAME``, in the webhook's own style; carries no
    deliveries."""
    when = now or datetime.now(timezone.utc)
    payload = {**SAMPLE_PAYLOAD, "taken_at": when.isoformat()}
    if style.format == "text":
        content = clip(f"{SAMPLE_INTRO}\n{text_line(payload, style)}", MAX_CONTENT)
        return Message(_body(style, content=content), ())
    (embed,) = _player_embeds(_Group([(0, payload)]))
    return Message(_body(style, content=SAMPLE_INTRO, embeds=[embed.data]), ())


# -- checking a body against Discord's limits --------------------------------------------------

_BODY_KEYS = frozenset(
    {
        "content", "username", "avatar_url", "tts", "embeds", "allowed_mentions", "components",
        "flags", "thread_name", "applied_tags", "attachments", "poll",
    }
)
_EMBED_KEYS = frozenset(
    {
        "title", "type", "description", "url", "timestamp", "color", "footer", "image",
        "thumbnail", "author", "fields",
    }
)


def _text_problem(where: str, value: object, limit: int, required: bool = True) -> str | None:
    if not isinstance(value, str):
        return f"{where} must be a string, not {type(value).__name__}"
    if required and not value.strip():
        return f"{where} is empty"
    n = discord_len(value)
    if n > limit:
        return f"{where} is {n:,} characters (max {limit:,})"
    return None


def _url_problem(where: str, value: object) -> str | None:
    if not isinstance(value, str):
        return f"{where} must be a string URL, not {type(value).__name__}"
    if len(value) > MAX_URL:
        return f"{where} is {len(value):,} characters (max {MAX_URL:,})"
    if not is_http_url(value):
        return f"{where} is not an http(s) URL: {value[:80]!r}"
    return None


def _check_embed(embed: object, where: str, problems: list[str]) -> int:
    if not isinstance(embed, Mapping):
        problems.append(f"{where} must be an object")
        return 0

    def add(problem: str | None) -> None:
        if problem:
            problems.append(problem)

    unknown = sorted(set(embed) - _EMBED_KEYS)
    if unknown:
        problems.append(f"{where} has unknown keys: {', '.join(map(str, unknown))}")
    if "type" in embed and embed["type"] != "rich":
        problems.append(f"{where}.type must be 'rich' for a webhook")
    for key, limit in (("title", MAX_TITLE), ("description", MAX_DESCRIPTION)):
        if key in embed:
            add(_text_problem(f"{where}.{key}", embed[key], limit))
    if "url" in embed:
        add(_url_problem(f"{where}.url", embed["url"]))
    if "color" in embed:
        color = embed["color"]
        if not isinstance(color, int) or isinstance(color, bool) or not 0 <= color <= MAX_COLOR:
            problems.append(f"{where}.color must be an integer 0..0xFFFFFF, not {color!r}")
    if "timestamp" in embed:
        stamp = embed["timestamp"]
        if not isinstance(stamp, str) or "T" not in stamp or _timestamp(stamp) is None:
            problems.append(f"{where}.timestamp is not ISO 8601: {stamp!r}")
    for key, text_key, limit, urls in (
        ("author", "name", MAX_AUTHOR, ("url", "icon_url")),
        ("footer", "text", MAX_FOOTER, ("icon_url",)),
    ):
        if key not in embed:
            continue
        part = embed[key]
        if not isinstance(part, Mapping):
            problems.append(f"{where}.{key} must be an object")
            continue
        add(_text_problem(f"{where}.{key}.{text_key}", part.get(text_key), limit))
        for u in urls:
            if u in part:
                add(_url_problem(f"{where}.{key}.{u}", part[u]))
    for key in ("thumbnail", "image"):
        if key not in embed:
            continue
        part = embed[key]
        if not isinstance(part, Mapping):
            problems.append(f"{where}.{key} must be an object")
        else:
            add(_url_problem(f"{where}.{key}.url", part.get("url")))
    if "fields" in embed:
        fields = embed["fields"]
        if not isinstance(fields, list):
            problems.append(f"{where}.fields must be a list")
        else:
            if len(fields) > MAX_FIELDS:
                problems.append(f"{where} has {len(fields)} fields (max {MAX_FIELDS})")
            for n, f in enumerate(fields):
                fw = f"{where}.fields[{n}]"
                if not isinstance(f, Mapping):
                    problems.append(f"{fw} must be an object")
                    continue
                add(_text_problem(f"{fw}.name", f.get("name"), MAX_FIELD_NAME))
                add(_text_problem(f"{fw}.value", f.get("value"), MAX_FIELD_VALUE))
                if "inline" in f and not isinstance(f["inline"], bool):
                    problems.append(f"{fw}.inline must be true or false")
    shown = ("title", "description", "fields", "author", "footer", "image", "thumbnail")
    if not any(embed.get(k) for k in shown):
        problems.append(f"{where} shows nothing")
    return embed_size(embed)


def discord_limits_problems(body: object) -> list[str]:
    """Every way ``body`` breaks Discord's rules for executing a webhook, or [] if none.

    Checks what Discord enforces (content ≤ 2,000; ≤ 10 embeds; title 256, description 4,096,
    25 fields of 256/1,024, footer 2,048, author 256; 6,000 characters over all embeds; colour
    0..0xFFFFFF; ISO 8601 timestamps; http(s) URLs ≤ 2,048; username 1–80 without
    "discord"/"clyde", ``@ # :`` or "```"; not empty) and our own rule that
    ``allowed_mentions`` is exactly ``{"parse": []}``. Lengths count UTF-16 code units, which
    is at least what Discord counts: stricter, never laxer.
    """
    if not isinstance(body, Mapping):
        return ["the body must be a JSON object"]
    problems: list[str] = []
    unknown = sorted(map(str, set(body) - _BODY_KEYS))
    if unknown:
        problems.append(f"unknown keys: {', '.join(unknown)}")
    content = body.get("content")
    if content is not None:
        problem = _text_problem("content", content, MAX_CONTENT, required=False)
        if problem:
            problems.append(problem)
    embeds = body.get("embeds")
    embed_list: list[object] = []
    if embeds is not None:
        if not isinstance(embeds, list):
            problems.append("embeds must be a list")
        else:
            embed_list = embeds
            if len(embeds) > MAX_EMBEDS:
                problems.append(f"{len(embeds)} embeds (max {MAX_EMBEDS})")
    has_content = isinstance(content, str) and bool(content.strip())
    if not has_content and not embed_list:
        problems.append("empty message: no content and no embeds")
    total = sum(_check_embed(e, f"embeds[{n}]", problems) for n, e in enumerate(embed_list))
    if total > MAX_EMBEDS_TOTAL:
        problems.append(f"embeds total {total:,} characters (max {MAX_EMBEDS_TOTAL:,})")
    mentions = body.get("allowed_mentions")
    if not (
        isinstance(mentions, Mapping)
        and mentions.get("parse") == []
        and not mentions.get("users")
        and not mentions.get("roles")
        and not mentions.get("replied_user")
    ):
        problems.append(f'allowed_mentions must be {{"parse": []}}, not {mentions!r}')
    if "username" in body:
        problems += _username_problems(body["username"])
    if "avatar_url" in body:
        problem = _url_problem("avatar_url", body["avatar_url"])
        if problem:
            problems.append(problem)
    if "tts" in body and body["tts"] is not False:
        problems.append("tts must be false")
    return problems


def _username_problems(name: object) -> list[str]:
    problem = _text_problem("username", name, MAX_USERNAME)
    if problem:
        return [problem]
    assert isinstance(name, str)
    out = []
    found = _FORBIDDEN_WORDS.search(name)
    if found:
        out.append(f"username may not contain {found.group(0)!r}")
    for bad in ("@", "#", ":", "```"):
        if bad in name:
            out.append(f"username may not contain {bad!r}")
    if name.strip().lower() in {"everyone", "here"}:
        out.append(f"username may not be {name.strip()!r}")
    return out
