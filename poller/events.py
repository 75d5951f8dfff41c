"""What happened between two snapshots: pure functions of (previous, current, rules).

Nothing here reads a clock, the network or the database; every rule is table-tested.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

EventKind = Literal[
    "levelup", "xp", "combat", "boss", "clue", "activity", "achievement", "price", "player"
]
PLAYER_EVENT_KINDS: tuple[str, ...] = (
    "levelup", "xp", "combat", "boss", "clue", "activity", "achievement", "player"
)


@dataclass(frozen=True, slots=True)
class Event:
    """One thing worth telling a clan, as plain values (the notifier renders it).

    - levelup:   metric=skill, old/new = levels (virtual if enabled), threshold = highest
                 announced level crossed; milestone for 99 (and 126 when virtual).
    - xp:        metric=skill, old/new = xp, threshold = highest xp milestone crossed
                 (e.g. 25_000_000); milestone for 200M.
    - combat:    metric="Combat", old/new = combat levels.
    - boss/clue/activity: metric=hiscores name, old/new = counts, threshold = highest multiple
                 crossed; ``first`` when the metric just appeared on the hiscores (old is None,
                 "now on the hiscores at N").
    - achievement: metric = achievement name ("Base 90 Stats", "99 Attack", "500 Vorkath kills",
                 "Maxed", "100M Overall XP"), new = the band's value; always milestone.
    - player:    metric = "missing" | "back" | "renamed".
    """

    kind: EventKind
    metric: str
    old: int | None = None
    new: int | None = None
    threshold: int | None = None
    milestone: bool = False
    first: bool = False

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Anomaly:
    """A monotonic metric went down (rollback, name transfer, de-iron): recorded for review."""

    metric: str
    old: int
    new: int
