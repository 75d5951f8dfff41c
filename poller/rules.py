"""What users configure about announcements (the `[rules]` table), as frozen values.

Lives apart from `settings` (the other config values) and `events` (which applies the rules) so the
pure rule functions depend on nothing but these values and `game`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .config_keys import key


def _frozen(m: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType(dict(m))


@dataclass(frozen=True, slots=True)
class LevelRules:
    """Which level-ups to announce.

    Below ``every_from`` a level is announced when it is a multiple of ``every``; from
    ``every_from`` on, every level. Nothing under ``min_level``. 99 always announces.
    ``virtual`` adds levels 100–126 (by XP), which follow the same ``every_from`` rule.
    """

    min_level: int = field(default=1, metadata=key("int", lo=1, hi=126))
    every: int = field(default=1, metadata=key("int", lo=1))
    every_from: int = field(default=90, metadata=key("int", lo=1, hi=127))
    virtual: bool = field(default=False, metadata=key("bool"))


@dataclass(frozen=True, slots=True)
class XpRules:
    """XP milestones past 99: every multiple of ``every_after_99`` (0 = off). 200M always."""

    every_after_99: int = field(default=5_000_000, metadata=key("int", lo=0))


@dataclass(frozen=True, slots=True)
class CountRules:
    """Kill counts / clue counts / activity scores: announce every ``every`` (0 = off),
    with per-name overrides (``{"TzKal-Zuk": 1}``)."""

    every: int = field(default=50, metadata=key("int", lo=0))
    # Checked by the reader against the hiscores names of this table's categories.
    overrides: Mapping[str, int] = field(default_factory=dict, metadata=key("custom"))

    def __post_init__(self) -> None:
        object.__setattr__(self, "overrides", _frozen(self.overrides))

    def step(self, name: str) -> int:
        return self.overrides.get(name, self.every)


@dataclass(frozen=True, slots=True)
class Rules:
    levels: LevelRules = field(default_factory=LevelRules, metadata=key("custom"))
    xp: XpRules = field(default_factory=XpRules, metadata=key("custom"))
    bosses: CountRules = field(
        default_factory=lambda: CountRules(every=50), metadata=key("custom")
    )
    clues: CountRules = field(
        default_factory=lambda: CountRules(every=100), metadata=key("custom")
    )
    activities: CountRules = field(
        default_factory=lambda: CountRules(every=100), metadata=key("custom")
    )
