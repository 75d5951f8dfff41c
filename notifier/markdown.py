"""Text as Discord's markdown would show it: one line, escaped, with no mass mentions."""

from __future__ import annotations

import re

ZWSP = "\u200b"

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


def plain_text(text: str) -> str:
    # For places Discord shows without markdown (author name, footer): one line, no mentions.
    return neutralise_mentions(one_line(text))
