"""Notices (:class:`notifier.notice.Notice`, read from the outbox) → Discord webhook messages.

The notifier knows Discord and English, not hiscores internals: every name, number, picture and
link it shows arrives in the notice, filled by the poller (``poller.notices``). Embeds are the
default (:mod:`notifier.embeds`); webhooks with ``format = "text"`` get one line per fact
(:mod:`notifier.text`). Either way each fact is said once (:mod:`notifier.facts`).

Embeds or lines are packed, in order, into as few messages as Discord allows
(:mod:`notifier.limits`); a message carries every event it shows or summarises.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Literal

from notifier.embeds import Embed, Group, event_embeds, groups, player_embeds
from notifier.facts import Fact, player_facts
from notifier.limits import (
    MAX_CONTENT,
    MAX_EMBEDS,
    MAX_EMBEDS_TOTAL,
    MAX_NAME_IN_TITLE,
    clip,
    discord_len,
    is_http_url,
    sanitize_username,
)
from notifier.markdown import escape_markdown
from notifier.notice import Notice, Player
from notifier.text import account_type, display_name, render_template, shown_line

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


def text_line(n: Notice, style: Style | None = None) -> str:
    """One content line for one event in a text-format webhook: its template for the kind, else
    the default "**Zezima** — Attack 69 → 70" (🏆 in front of milestones)."""
    highlight = n.milestone or n.kind == "achievement"
    return fact_line(Fact([(0, n)], highlight=highlight), style)


def fact_line(fact: Fact, style: Style | None = None) -> str:
    """One content line for one fact: the webhook's template for the headline event's kind, else
    "**Zezima** (Ironman) — Attack 69 → 70", "🏆 **Zezima** — 500 Vorkath kills · Vorkath: 503
    kills", "📉 Twisted bow fell below 1.2b: now 1.15b (was 1.25b)"."""
    n = fact.main
    template = style.templates.get(n.kind) if style is not None else None
    if template:
        line = render_template(template, n)
        if line.strip():
            return line
    if n.kind == "price":
        alert = n.price
        arrow = ""
        if alert is not None and alert.rule:
            arrow = {"up": "📈 ", "down": "📉 "}.get(str(alert.direction), "")
        return arrow + shown_line(n)
    line = escape_markdown(fact.line()) or "(no details)"
    if fact.highlight and fact.details:
        line += " · " + "; ".join(escape_markdown(d) for d in fact.details)
    player = display_name(n)
    if player:
        label = account_type(n)
        mark = f" ({escape_markdown(label)})" if label else ""
        line = f"**{escape_markdown(clip(player, MAX_NAME_IN_TITLE))}**{mark} — {line}"
    if fact.highlight:
        line = "🏆 " + line
    return line


def _text_facts(items: Sequence[tuple[int, Notice]], style: Style) -> list[Fact]:
    """Every fact of the outbox rows, in the order the embeds would show them: players (and
    their polls) in order of first appearance, each one's plain facts, then its milestones."""
    facts: list[Fact] = []
    for group in groups(items):
        if group.first.kind == "price":
            facts += [Fact([item]) for item in group.items]
        else:
            facts += player_facts(group.items, own_line=lambda kind: kind in style.templates)
    return facts


def _distinct(ids: list[int], seen: set[int], order: Mapping[int, int]) -> tuple[int, ...]:
    # Each id once over all messages; within a message in outbox order.
    out = []
    for i in ids:
        if i not in seen:
            seen.add(i)
            out.append(i)
    out.sort(key=lambda i: order.get(i, 0))
    return tuple(out)


def _outbox_order(items: Sequence[tuple[int, Notice]]) -> dict[int, int]:
    order: dict[int, int] = {}
    for n, (delivery_id, _) in enumerate(items):
        order.setdefault(delivery_id, n)
    return order


def _pack_embeds(
    embeds: Iterator[Embed], style: Style, order: Mapping[int, int]
) -> list[Message]:
    messages: list[Message] = []
    seen: set[int] = set()
    batch: list[Embed] = []
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


def _pack_lines(items: Sequence[tuple[int, Notice]], style: Style) -> list[Message]:
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

    for fact in _text_facts(items, style):
        line = clip(fact_line(fact, style), MAX_CONTENT)
        n = discord_len(line)
        if lines and size + 1 + n > MAX_CONTENT:
            flush()
            lines, ids, size = [], [], 0
        size += n + (1 if lines else 0)
        lines.append(line)
        ids.extend(fact.ids)
    flush()
    return messages


def build_messages(items: Sequence[tuple[int, Notice]], style: Style) -> list[Message]:
    """Outbox rows ``(delivery_id, notice)``, in outbox order, as Discord webhook messages.

    Embed format: one embed per player and poll (grouped by player, mode and ``taken_at``, in
    order of first appearance), a gold embed per milestone, one embed per price event; packed in
    order into messages of at most 10 embeds and 6,000 characters. Text format: one line per
    fact (the webhook's template for its kind, else the default line), packed into messages of
    at most 2,000 characters. Either way an event and the milestone it earned, or a clue tier and
    the "all" count, are one fact (:mod:`notifier.facts`).

    Every delivery id is carried by exactly one message — also those only counted in a
    "+N more" line. Every body passes `discord_limits_problems`.
    """
    if style.format == "text":
        return _pack_lines(items, style)
    return _pack_embeds(event_embeds(items), style, _outbox_order(items))


# What `webhook test` shows: a level-up as a poll would announce it.
SAMPLE_NOTICE = Notice(
    kind="levelup", metric="Attack", old=69, new=70, threshold=70,
    player=Player("Zezima"), combat=126, total_level=2277, scale="level",
)
SAMPLE_INTRO = (
    "👋 Test message from osrs-notify: this webhook works. Level-ups will look like this:"
)


def sample_message(style: Style, now: datetime | None = None) -> Message:
    """A friendly message for ``webhook test NAME``, in the webhook's own style; carries no
    deliveries."""
    notice = replace(SAMPLE_NOTICE, taken_at=now or datetime.now(timezone.utc))
    if style.format == "text":
        content = clip(f"{SAMPLE_INTRO}\n{text_line(notice, style)}", MAX_CONTENT)
        return Message(_body(style, content=content), ())
    (embed,) = player_embeds(Group([(0, notice)]))
    return Message(_body(style, content=SAMPLE_INTRO, embeds=[embed.data]), ())
