"""The contract between the poller and the notifier: one thing to tell a Discord channel.

The poller fills a :class:`Notice` (``poller.notices``) with everything that takes OSRS
knowledge — names as the game writes them, the verified Wiki pictures, the account type and its
badge, the hiscores page, the word a count is said in ("kills", "chests"), the scale a value is
on, a clue's tier — so the notifier only renders and sends it: it knows Discord and English, and
never parses game wording back out of a string.

Stored in the outbox as :meth:`Notice.to_json` (a flat JSON object; Redis subscribers receive the
same one, see README "Redis") and read back with :meth:`Notice.from_json`, which reads every
version written so far:

- 0 (no ``version`` key): what releases before this module stored. Its reader (:func:`_from_v0`)
  supplies the two fields version 0 did not carry, by the rules the notifier applied then, so a
  delivery pending across an upgrade renders exactly as it would have.
- 1: ``version``, and ``unit`` and ``scale`` on every event they apply to.

A version newer than :data:`VERSION` is refused (:class:`NoticeError`): an older release must not
guess at a newer one's payload.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone

VERSION = 1


class NoticeError(ValueError):
    """A stored payload this release cannot read (not an object, or from a newer release)."""


@dataclass(frozen=True, slots=True)
class Player:
    """Who the news is about, as a clan sees them."""

    name: str
    mode: str = "regular"  # the config's mode (hiscores board), for the {mode} placeholder
    profile_url: str | None = None  # their hiscores page on the right board
    account_type: str | None = None  # "Hardcore Ironman"; None for a regular account
    badge_url: str | None = None  # the account type's chat badge


@dataclass(frozen=True, slots=True)
class PriceAlert:
    """What a price alert adds: which rule fired, against what, and the watch's own lines."""

    item_id: int | None = None
    url: str | None = None  # the item's prices page
    rule: str | None = None  # "above", "below" or "change"; None: only the move is known
    rules: tuple[str, ...] = ()  # every rule that fired at once, ``rule`` first
    direction: str | None = None  # "up" or "down"
    window: str | None = None  # "1h", "5m": the average a change is measured against
    average: int | None = None
    change_pct: float | None = None
    high: int | None = None
    low: int | None = None
    watch_above: int | None = None
    watch_below: int | None = None
    watch_change_pct: float | None = None

    def line(self, rule: str) -> int | None:
        """The watch's line for ``rule`` ("above"/"below"), to name a second rule that fired."""
        return {"above": self.watch_above, "below": self.watch_below}.get(rule)


@dataclass(frozen=True, slots=True)
class Notice:
    """One event or alert, ready to render.

    ``metric`` is the name shown: a skill, boss, activity or clue name as the hiscores write it,
    an achievement's title ("500 Vorkath kills", "99 Attack"), "Combat", an item's name, or a
    player status ("missing", "back", "renamed", "new_account", "hardcore_death", "deironed").
    ``old``/``new``/``threshold`` are levels, XP, counts or prices; ``threshold`` the milestone
    crossed. ``milestone`` marks a 99, 200M or achievement; ``first`` a metric that just
    appeared on the hiscores.
    """

    kind: str  # one of notifier.text.EVENT_KINDS (read as written, whatever it is)
    metric: str
    old: int | None = None
    new: int | None = None
    threshold: int | None = None
    milestone: bool = False
    first: bool = False
    player: Player | None = None
    taken_at: datetime | None = None  # the snapshot's (or prices') time, aware
    icon_url: str | None = None  # the verified picture of the skill, boss, item, achievement
    combat: int | None = None  # the player after this poll
    total_level: int | None = None
    overall_xp: int | None = None
    unit: str = ""  # what a count is said in: "kills", "chests", "completed", "points", or ""
    # The scale the value is on ("level", "xp", "score"), and for an achievement the metric its
    # band measures (``about``) and the band's scale ("base" too): an event and the band it
    # reached are said once when (metric, scale) == (about, scale).
    scale: str | None = None  # "level", "xp", "score" or "base"
    about: str | None = None
    tier: str | None = None  # a clue event's tier: "all", "beginner" … "master"
    old_name: str | None = None  # a renamed player's previous name
    old_account: str | None = None  # the account type a type change left ("Hardcore Ironman")
    price: PriceAlert | None = None

    # -- JSON ----------------------------------------------------------------------------------

    def to_json(self) -> dict[str, object]:
        """The JSON object stored in the outbox (and published on Redis): flat, as version 0
        was, plus ``version``. Optional fields are left out when unknown."""
        out: dict[str, object] = {
            "version": VERSION, "kind": self.kind, "metric": self.metric, "old": self.old,
            "new": self.new, "threshold": self.threshold, "milestone": self.milestone,
            "first": self.first,
        }
        if self.player is not None:
            p = self.player
            out.update(player=p.name, mode=p.mode)
            _put(out, profile_url=p.profile_url, account_type=p.account_type,
                 account_icon_url=p.badge_url)
        if self.taken_at is not None:
            out["taken_at"] = self.taken_at.isoformat()
        _put(out, icon_url=self.icon_url, unit=self.unit or None, scale=self.scale,
             about=self.about, tier=self.tier, old_name=self.old_name,
             old_account=self.old_account, combat=self.combat,
             total_level=self.total_level, overall_xp=self.overall_xp)
        if self.price is not None:
            a = self.price
            out.update(
                item_id=a.item_id, url=a.url, rule=a.rule, rules=list(a.rules),
                direction=a.direction, window=a.window, average=a.average,
                change_pct=a.change_pct, high=a.high, low=a.low, watch_above=a.watch_above,
                watch_below=a.watch_below, watch_change_pct=a.watch_change_pct,
            )
        return out

    @classmethod
    def from_json(cls, data: object) -> Notice:
        """The notice a stored payload describes, of any version up to :data:`VERSION`.

        Every field is checked here, once: a value of the wrong type reads as unknown (None),
        which the renderer shows as "?" or leaves out, as it always did."""
        if not isinstance(data, Mapping):
            raise NoticeError(f"an outbox payload must be a JSON object, not {type(data).__name__}")
        version = data.get("version", 0)
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise NoticeError(f"unreadable outbox payload version {version!r}")
        if version > VERSION:
            raise NoticeError(
                f"outbox payload version {version} was written by a newer release "
                f"(this one reads up to {VERSION})"
            )
        notice = _read(data)
        return _from_v0(notice) if version == 0 else notice


def _put(out: dict[str, object], **values: object) -> None:
    out.update((k, v) for k, v in values.items() if v is not None)


# -- reading ---------------------------------------------------------------------------------


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


_ISO8601 = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})?"
)


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 time as an aware datetime (naive means UTC); None if unreadable."""
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str) and _ISO8601.fullmatch(value.strip()):
        try:
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def _read(d: Mapping[str, object]) -> Notice:
    kind = str(d.get("kind"))
    metric = d.get("metric")
    player = d.get("player")
    who = None
    if player is not None:
        who = Player(
            name=str(player),
            mode=str(d.get("mode") or "regular"),
            profile_url=_str(d.get("profile_url")),
            account_type=_str(d.get("account_type")),
            badge_url=_str(d.get("account_icon_url")),
        )
    old_name = d.get("old_name")
    return Notice(
        kind=kind,
        metric="?" if metric is None else str(metric),
        old=_int(d.get("old")),
        new=_int(d.get("new")),
        threshold=_int(d.get("threshold")),
        milestone=bool(d.get("milestone")),
        first=bool(d.get("first")),
        player=who,
        taken_at=parse_time(d.get("taken_at")),
        icon_url=_str(d.get("icon_url")),
        combat=_int(d.get("combat")),
        total_level=_int(d.get("total_level")),
        overall_xp=_int(d.get("overall_xp")),
        unit=_str(d.get("unit")) or "",
        scale=_str(d.get("scale")),
        about=_str(d.get("about")),
        tier=_str(d.get("tier")),
        old_name=None if old_name is None else str(old_name),
        old_account=_str(d.get("old_account")),
        price=_read_price(d) if kind == "price" else None,
    )


def _read_price(d: Mapping[str, object]) -> PriceAlert:
    rules = d.get("rules")
    direction = d.get("direction")
    return PriceAlert(
        item_id=_int(d.get("item_id")),
        url=_str(d.get("url")),
        rule=_str(d.get("rule")),
        rules=tuple(str(r) for r in rules) if isinstance(rules, list) else (),
        direction=direction if direction in ("up", "down") else None,  # type: ignore[arg-type]
        window=_str(d.get("window")),
        average=_int(d.get("average")),
        change_pct=_float(d.get("change_pct")),
        high=_int(d.get("high")),
        low=_int(d.get("low")),
        watch_above=_int(d.get("watch_above")),
        watch_below=_int(d.get("watch_below")),
        watch_change_pct=_float(d.get("watch_change_pct")),
    )


# -- version 0 -------------------------------------------------------------------------------
# Version 0 payloads carried no ``unit`` and no event ``scale``: the notifier of that release
# derived both from the kind and the name. These rules are that release's, kept only to read its
# rows; new notices get both from the poller (``poller.notices``).

_V0_SCALES = {"levelup": "level", "xp": "xp", "boss": "score", "clue": "score",
              "activity": "score"}
_V0_CHESTS = frozenset({"Barrows Chests", "Lunar Chests"})


def _v0_unit(kind: str, metric: str) -> str:
    if kind == "boss":
        return "chests" if metric in _V0_CHESTS else "kills"
    if kind == "clue":
        return "completed"
    if kind == "activity":
        return "points" if "Points" in metric else ""
    return ""


def _from_v0(notice: Notice) -> Notice:
    scale = notice.scale if notice.kind == "achievement" else _V0_SCALES.get(notice.kind)
    return replace(notice, unit=_v0_unit(notice.kind, notice.metric), scale=scale)
