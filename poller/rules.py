"""What users configure about announcements (the `[rules]` table), as frozen values.

Lives apart from `settings` (which parses TOML) and `events` (which applies the rules) so the
pure rule functions depend on nothing but these values and `game`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


def _frozen(m: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType(dict(m))


@dataclass(frozen=True, slots=True)
class LevelRules:
    """Which level-ups to announce.

    Below ``every_from`` a level is announced when it is a multiple of ``every``; from
    ``every_from`` on, every level. Nothing under ``min_level``. 99 always announces.
    ``virtual`` adds levels 100–126 (by XP), which follow the same ``every_from`` rule.
    """

    min_level: int = 1
    every: int = 1
    every_from: int = 90
    virtual: bool = False


@dataclass(frozen=True, slots=True)
class XpRules:
    """XP milestones past 99: every multiple of ``every_after_99`` (0 = off). 200M always."""

    every_after_99: int = 5_000_000


@dataclass(frozen=True, slots=True)
class CountRules:
    """Kill counts / clue counts / activity scores: announce every ``every`` (0 = off),
    with per-name overrides (``{"TzKal-Zuk": 1}``)."""

    every: int = 50
    overrides: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "overrides", _frozen(self.overrides))

    def step(self, name: str) -> int:
        return self.overrides.get(name, self.every)


@dataclass(frozen=True, slots=True)
class Rules:
    levels: LevelRules = field(default_factory=LevelRules)
    xp: XpRules = field(default_factory=XpRules)
    bosses: CountRules = field(default_factory=lambda: CountRules(every=50))
    clues: CountRules = field(default_factory=lambda: CountRules(every=100))
    activities: CountRules = field(default_factory=lambda: CountRules(every=100))
