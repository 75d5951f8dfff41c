"""Discord's limits on a webhook body: the numbers, how lengths count, and a checker.

Lengths are counted in UTF-16 code units (a character outside the BMP, such as most emoji, counts
twice). That never counts less than Discord does, so whatever fits here fits there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from notifier.markdown import one_line
from notifier.notice import parse_time

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


# -- length and clipping -----------------------------------------------------------------------


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


# -- what Discord takes: URLs, timestamps, usernames -------------------------------------------


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


def iso_timestamp(value: object) -> str | None:
    """A time as Discord takes it: ISO 8601 with an offset (naive means UTC); None if
    unreadable."""
    when = parse_time(value)
    return None if when is None else when.isoformat()


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
        if not isinstance(stamp, str) or "T" not in stamp or iso_timestamp(stamp) is None:
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
