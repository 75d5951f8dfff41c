"""Events and price alerts → :class:`notifier.notice.Notice`: the one place that words them.

Everything a message shows that takes knowledge of the game is decided here (or in the game
data it reads), never in the notifier: the verified Wiki picture of a skill, boss, clue tier or
achievement (:mod:`poller.wiki_images`), the account type and its badge, the player's hiscores
page on the right board, combat and total level after the poll, what an achievement band
measures, the scale an event's value is on, a clue's tier, and the word a count is said in
("503 kills", "12 chests", "100 completed"). Pure: no clock, network or database.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol

from notifier.notice import Notice, Player, PriceAlert

from . import game, wiki_images
from .hiscores import profile_url

if TYPE_CHECKING:
    from .alerts import Alert
    from .events import Event
    from .items import ItemInfo
    from .snapshot import Snapshot

# The scale each kind of event's value is on, as the achievement bands name theirs: a 99 rides
# in "99 Attack" (level), a 200M in "200M Attack" (xp), a kill count in "500 Vorkath kills".
SCALES: Mapping[str, str] = MappingProxyType(
    {"levelup": "level", "xp": "xp", "boss": "score", "clue": "score", "activity": "score"}
)
CLUE_TIERS: Mapping[str, str] = MappingProxyType({
    "Clue Scrolls (all)": "all",
    "Clue Scrolls (beginner)": "beginner",
    "Clue Scrolls (easy)": "easy",
    "Clue Scrolls (medium)": "medium",
    "Clue Scrolls (hard)": "hard",
    "Clue Scrolls (elite)": "elite",
    "Clue Scrolls (master)": "master",
})
# Bosses counted in chests opened rather than kills.
CHEST_BOSSES: frozenset[str] = frozenset({"Barrows Chests", "Lunar Chests"})


def count_unit(kind: str, metric: str) -> str:
    """The word a count is said in: "503 kills", "12 chests", "100 completed", "2,000 points";
    "" for a count that is its own word (Soul Wars Zeal, Rifts closed)."""
    if kind == "boss":
        return "chests" if metric in CHEST_BOSSES else "kills"
    if kind == "clue":
        return "completed"
    if kind == "activity" and "Points" in metric:  # Grid, League and Deadman Points
        return "points"
    return ""


@lru_cache(maxsize=1)
def _achievements() -> dict[str, game.Achievement]:
    return {a.name: a for a in game.ACHIEVEMENTS}


def achievement(name: str) -> game.Achievement | None:
    """The achievement band called ``name`` ("500 Vorkath kills"), or None."""
    return _achievements().get(name)


def player_of(name: str, mode: str) -> Player:
    """The player as a message marks them: hiscores page, and for the ironman family the
    account type as the game names it with its chat badge."""
    typed = wiki_images.account_type(mode)
    label, badge = typed if typed is not None else (None, None)
    return Player(
        name=name, mode=mode, profile_url=profile_url(name, mode), account_type=label,
        badge_url=badge.url if badge is not None else None,
    )


def event_notice(
    event: Event, *, player: str, mode: str, snapshot: Snapshot | None, taken_at: datetime,
    old_name: str | None = None,
    was: str | None = None,
) -> Notice:
    """One event of one player's poll, with everything the notifier renders. ``snapshot`` (the
    player after the poll) gives combat, total level and overall XP; None leaves them out.
    ``old_name`` is a renamed player's previous name (the "renamed" player event); ``was``:
    the account type a type change left (a ``player`` event), named as the game does."""
    kind, metric = event.kind, event.metric
    picture: wiki_images.WikiFile | None = None
    scale = SCALES.get(kind)
    about = None
    if scale is not None:
        picture = wiki_images.metric_image(metric)
    elif kind == "combat":
        picture = wiki_images.COMBAT_ICON
    elif kind == "achievement":
        band = achievement(metric)
        if band is not None:
            about, scale, picture = band.metric, band.kind, wiki_images.achievement_image(band)
    combat = total = overall_xp = None
    if snapshot is not None:
        levels = game.levels_from_snapshot(snapshot)
        combat = game.combat_level({k: v for k, v in levels.items() if v is not None})
        total, overall_xp = snapshot.overall_level, snapshot.overall_xp
    return Notice(
        kind=kind, metric=metric, old=event.old, new=event.new, threshold=event.threshold,
        milestone=event.milestone, first=event.first, player=player_of(player, mode),
        taken_at=taken_at, icon_url=picture.url if picture is not None else None,
        combat=combat, total_level=total, overall_xp=overall_xp,
        unit=count_unit(kind, metric), scale=scale, about=about,
        tier=CLUE_TIERS.get(metric) if kind == "clue" else None, old_name=old_name,
        old_account=_type_label(was) if was is not None else None,
    )


def _type_label(mode: str) -> str:
    typed = wiki_images.account_type(mode)
    return typed[0] if typed is not None else mode.replace("_", " ").capitalize()


class WatchLines(Protocol):
    """A ``[[watch]]``'s own lines (``WatchSettings``): a second rule firing at once is named
    with its line too."""

    @property
    def above(self) -> int | None: ...

    @property
    def below(self) -> int | None: ...

    @property
    def change_pct(self) -> float | None: ...

    @property
    def window(self) -> str: ...


def price_notice(
    item: ItemInfo, alert: Alert, watch: WatchLines, *, high: int | None, low: int | None,
    average: int | None, now: datetime,
) -> Notice:
    """A price alert: the item (name, picture as the Wiki's ``/mapping`` names it, prices page),
    the prices, which rule fired and every other that fired with it."""
    return Notice(
        kind="price", metric=item.name, old=alert.old, new=alert.new, threshold=alert.threshold,
        taken_at=now, icon_url=item.icon_url,
        price=PriceAlert(
            item_id=item.id, url=item.page_url, rule=alert.rule, rules=tuple(alert.rules),
            direction=alert.direction, window=watch.window, average=average,
            change_pct=alert.change_pct, high=high, low=low, watch_above=watch.above,
            watch_below=watch.below, watch_change_pct=watch.change_pct,
        ),
    )
