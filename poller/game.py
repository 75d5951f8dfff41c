"""Everything the program knows about Old School RuneScape itself, in one place.

Names are the hiscores JSON names (``index_lite.json``). Parsing is by name, so a boss Jagex
inserts tomorrow shifts nothing; adding it here only lets us announce it.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Literal, Protocol

# XP as players say it ("50M", "4.8B"): one formatter for achievement titles and messages.
from notifier.numbers import fmt_xp

# The 24 skills in hiscores order, Overall excluded. "Runecraft" is the JSON spelling.
SKILLS: tuple[str, ...] = (
    "Attack", "Defence", "Strength", "Hitpoints", "Ranged", "Prayer", "Magic", "Cooking",
    "Woodcutting", "Fletching", "Fishing", "Firemaking", "Crafting", "Smithing", "Mining",
    "Herblore", "Agility", "Thieving", "Slayer", "Farming", "Runecraft", "Hunter",
    "Construction", "Sailing",
)
OVERALL = "Overall"


class Category(str, Enum):
    BOSS = "boss"
    RAID = "raid"
    CLUE = "clue"
    MINIGAME = "minigame"
    RATING = "rating"  # LMS, PvP Arena: may go down
    POINTS = "points"  # league/deadman/bounty points


# Activities in hiscores order as of 2026-07 (91), with their category.
ACTIVITIES: dict[str, Category] = {
    "Grid Points": Category.POINTS,
    "League Points": Category.POINTS,
    "Deadman Points": Category.POINTS,
    "Bounty Hunter - Hunter": Category.POINTS,
    "Bounty Hunter - Rogue": Category.POINTS,
    "Bounty Hunter (Legacy) - Hunter": Category.POINTS,
    "Bounty Hunter (Legacy) - Rogue": Category.POINTS,
    "Clue Scrolls (all)": Category.CLUE,
    "Clue Scrolls (beginner)": Category.CLUE,
    "Clue Scrolls (easy)": Category.CLUE,
    "Clue Scrolls (medium)": Category.CLUE,
    "Clue Scrolls (hard)": Category.CLUE,
    "Clue Scrolls (elite)": Category.CLUE,
    "Clue Scrolls (master)": Category.CLUE,
    "LMS - Rank": Category.RATING,
    "PvP Arena - Rank": Category.RATING,
    "Soul Wars Zeal": Category.MINIGAME,
    "Rifts closed": Category.MINIGAME,
    "Colosseum Glory": Category.MINIGAME,
    "Collections Logged": Category.MINIGAME,
    "Abyssal Sire": Category.BOSS,
    "Alchemical Hydra": Category.BOSS,
    "Amoxliatl": Category.BOSS,
    "Araxxor": Category.BOSS,
    "Artio": Category.BOSS,
    "Barrows Chests": Category.BOSS,
    "Brutus": Category.BOSS,
    "Bryophyta": Category.BOSS,
    "Callisto": Category.BOSS,
    "Calvar'ion": Category.BOSS,
    "Cerberus": Category.BOSS,
    "Chambers of Xeric": Category.RAID,
    "Chambers of Xeric: Challenge Mode": Category.RAID,
    "Chaos Elemental": Category.BOSS,
    "Chaos Fanatic": Category.BOSS,
    "Commander Zilyana": Category.BOSS,
    "Corporeal Beast": Category.BOSS,
    "Crazy Archaeologist": Category.BOSS,
    "Dagannoth Prime": Category.BOSS,
    "Dagannoth Rex": Category.BOSS,
    "Dagannoth Supreme": Category.BOSS,
    "Deranged Archaeologist": Category.BOSS,
    "Doom of Mokhaiotl": Category.BOSS,
    "Duke Sucellus": Category.BOSS,
    "General Graardor": Category.BOSS,
    "Giant Mole": Category.BOSS,
    "Grotesque Guardians": Category.BOSS,
    "Hespori": Category.BOSS,
    "Kalphite Queen": Category.BOSS,
    "King Black Dragon": Category.BOSS,
    "Kraken": Category.BOSS,
    "Kree'Arra": Category.BOSS,
    "K'ril Tsutsaroth": Category.BOSS,
    "Lunar Chests": Category.BOSS,
    "Mad Angel": Category.BOSS,
    "Maggot King": Category.BOSS,
    "Mimic": Category.BOSS,
    "Nex": Category.BOSS,
    "Nightmare": Category.BOSS,
    "Phosani's Nightmare": Category.BOSS,
    "Obor": Category.BOSS,
    "Phantom Muspah": Category.BOSS,
    "Sarachnis": Category.BOSS,
    "Scorpia": Category.BOSS,
    "Scurrius": Category.BOSS,
    "Shellbane Gryphon": Category.BOSS,
    "Skotizo": Category.BOSS,
    "Sol Heredit": Category.BOSS,
    "Spindel": Category.BOSS,
    "Tempoross": Category.BOSS,
    "The Gauntlet": Category.BOSS,
    "The Corrupted Gauntlet": Category.BOSS,
    "The Hueycoatl": Category.BOSS,
    "The Leviathan": Category.BOSS,
    "The Royal Titans": Category.BOSS,
    "The Whisperer": Category.BOSS,
    "Theatre of Blood": Category.RAID,
    "Theatre of Blood: Hard Mode": Category.RAID,
    "Thermonuclear Smoke Devil": Category.BOSS,
    "Tombs of Amascut": Category.RAID,
    "Tombs of Amascut: Expert Mode": Category.RAID,
    "TzKal-Zuk": Category.BOSS,
    "TzTok-Jad": Category.BOSS,
    "Vardorvis": Category.BOSS,
    "Venenatis": Category.BOSS,
    "Vet'ion": Category.BOSS,
    "Vorkath": Category.BOSS,
    "Wintertodt": Category.BOSS,
    "Yama": Category.BOSS,
    "Zalcano": Category.BOSS,
    "Zulrah": Category.BOSS,
}

# Storage codes for snapshot encoding. APPEND-ONLY: a stored row names metrics by their index
# here, so reordering or removing an entry would corrupt every database. New names go at the end.
STORAGE_ORDER: tuple[str, ...] = (OVERALL, *SKILLS, *ACTIVITIES)


# -- XP table --------------------------------------------------------------------------------

MAX_LEVEL = 99
MAX_VIRTUAL_LEVEL = 126
MAX_XP = 200_000_000
MAX_TOTAL_LEVEL = MAX_LEVEL * len(SKILLS)  # 2376 since Sailing made it 24 skills
MAX_TOTAL_XP = MAX_XP * len(SKILLS)  # 4.8B

# The hiscores store ranks and activity scores as signed 32-bit integers: nothing real exceeds
# these, so a larger value is a broken response, not a record (see hiscores.parse_json).
MAX_RANK = 2**31 - 1
MAX_SCORE = 2**31 - 1


def _build_xp_table() -> tuple[int, ...]:
    # Index i holds the xp for level i + 1. The game floors each level's points before summing,
    # and only then divides by 4; flooring in any other order drifts by a few xp by level 99.
    # Float floor is safe here: for L <= 125, L + 300 * 2**(L/7) is either exact (L a multiple of
    # 7) or at least 0.005 from an integer (checked at 60 digits), far beyond float error.
    table = [0]
    points = 0
    for level in range(1, MAX_VIRTUAL_LEVEL):
        points += math.floor(level + 300 * 2 ** (level / 7))
        table.append(points // 4)
    return tuple(table)


XP_TABLE: tuple[int, ...] = _build_xp_table()
XP_99: int = XP_TABLE[MAX_LEVEL - 1]  # 13,034,431


def xp_for_level(level: int) -> int:
    """The xp at which ``level`` (1–126) begins."""
    if not 1 <= level <= MAX_VIRTUAL_LEVEL:
        raise ValueError(f"level must be 1..{MAX_VIRTUAL_LEVEL}, got {level}")
    return XP_TABLE[level - 1]


def level_for_xp(xp: int, *, virtual: bool = False) -> int:
    """The level ``xp`` gives: 1–99, or 1–126 when ``virtual`` (levels past 99 by xp)."""
    if xp < 0:
        # Negative xp is the hiscores' "unranked" marker: an unknown, which has no level.
        raise ValueError(f"xp must be >= 0, got {xp}")
    level = bisect_right(XP_TABLE, xp)
    return min(level, MAX_VIRTUAL_LEVEL if virtual else MAX_LEVEL)


# -- combat level ----------------------------------------------------------------------------

COMBAT_SKILLS: tuple[str, ...] = (
    "Attack", "Strength", "Defence", "Hitpoints", "Ranged", "Magic", "Prayer",
)
# What a skill nobody has seen counts as: where every account starts.
_START_LEVEL: dict[str, int] = {"Hitpoints": 10}


def start_level(skill: str) -> int:
    """The level every account begins with: 10 Hitpoints, 1 for every other skill."""
    return _START_LEVEL.get(skill, 1)


def combat_level(levels: Mapping[str, int | None]) -> int:
    """Combat level from real (not virtual) levels; a missing or None skill counts as its
    starting level (1; Hitpoints 10).

    0.325 has no exact binary form, so a float version is right at the boundaries (where the
    sum is a whole number) only by luck of rounding. Scaling by 40 (0.25 -> 10, 0.325 -> 13)
    keeps every step an integer and makes the floor exact by construction.
    """

    def lvl(skill: str) -> int:
        value = levels.get(skill)
        return start_level(skill) if value is None else min(value, MAX_LEVEL)

    base = 10 * (lvl("Defence") + max(lvl("Hitpoints"), 10) + lvl("Prayer") // 2)
    melee = lvl("Attack") + lvl("Strength")
    ranged = 3 * lvl("Ranged") // 2
    magic = 3 * lvl("Magic") // 2
    return (base + 13 * max(melee, ranged, magic)) // 40


# -- levels from a snapshot ------------------------------------------------------------------


class Scores(Protocol):
    """What the rules below read from a :class:`poller.snapshot.Snapshot`. A protocol, not the
    class: snapshots take their storage codes from here, so the import runs one way."""

    @property
    def skills(self) -> Mapping[str, int]: ...

    @property
    def activities(self) -> Mapping[str, int]: ...

    @property
    def overall_level(self) -> int | None: ...


def _known(value: int | None) -> int | None:
    # The hiscores mark unranked as -1; a value we cannot trust is unknown, never zero.
    return None if value is None or value < 0 else value


def levels_from_snapshot(
    snapshot: Scores, *, virtual: bool = False, skills: tuple[str, ...] = SKILLS
) -> dict[str, int | None]:
    """Level per skill (game order, or the order of ``skills`` when given: combat needs only
    seven); None where the skill is unknown (unranked or absent)."""
    out: dict[str, int | None] = {}
    for skill in skills:
        xp = _known(snapshot.skills.get(skill))
        out[skill] = None if xp is None else level_for_xp(xp, virtual=virtual)
    return out


def total_level(snapshot: Scores, *, virtual: bool = False) -> int:
    """Total level.

    The hiscores' own Overall level wins when present: it is the only source that knows the
    levels of unranked skills. Without it (or for a *virtual* total, which the hiscores never
    report) we sum the 24 skills, counting an unknown skill at its starting level — a lower
    bound, never an invention.
    """
    if not virtual and snapshot.overall_level is not None and snapshot.overall_level > 0:
        return snapshot.overall_level
    levels = levels_from_snapshot(snapshot, virtual=virtual)
    return sum(start_level(s) if lv is None else lv for s, lv in levels.items())


def base_level(snapshot: Scores) -> int | None:
    """The level every one of the 24 skills has reached (the "Base N Stats" value), or None
    when any skill is unknown: an unranked skill cannot prove a base."""
    lowest: int | None = None
    for skill in SKILLS:
        xp = _known(snapshot.skills.get(skill))
        if xp is None:
            return None
        lowest = xp if lowest is None or xp < lowest else lowest
    # Level grows with xp, so the lowest level is the lowest xp's: one lookup, not 24.
    return None if lowest is None else level_for_xp(lowest)


# -- activities: categories, monotonicity, hiscore minimums ----------------------------------


def category(name: str) -> Category | None:
    """The activity's category; None for skills, Overall and names we do not know."""
    return ACTIVITIES.get(name)


def is_monotonic(name: str) -> bool:
    """Whether a drop in this metric means something is wrong (rollback, transfer, de-iron).

    Only ratings (LMS, PvP Arena) legitimately go down; xp, kill counts, clues and scores only
    grow. Names we do not know are assumed monotonic: a new boss's kill count is a count too.
    """
    return ACTIVITIES.get(name) is not Category.RATING


# The score below which the hiscores show -1 instead of the value. An activity that appears
# therefore appears at >= its minimum, and its previous value was at most minimum - 1: that is
# what lets "first appearance" tell which thresholds were truly crossed.
# Sources: the Wise Old Man's metric table (bosses 5 except Mimic and TzKal-Zuk at 1; LMS 500,
# PvP Arena 2525, Soul Wars 200, Rifts closed 2, Colosseum Glory 300, Collections Logged 500,
# Bounty Hunter 2, clues 1) and its earlier releases (League Points 100). Grid Points and
# Deadman Points are not tracked there: 1 (any score) until known better.
_BOSS_MINIMUM = 5
_MINIMUMS: dict[str, int] = {
    "Mimic": 1,
    "TzKal-Zuk": 1,
    "League Points": 100,
    "Bounty Hunter - Hunter": 2,
    "Bounty Hunter - Rogue": 2,
    "Bounty Hunter (Legacy) - Hunter": 2,
    "Bounty Hunter (Legacy) - Rogue": 2,
    "LMS - Rank": 500,
    "PvP Arena - Rank": 2525,
    "Soul Wars Zeal": 200,
    "Rifts closed": 2,
    "Colosseum Glory": 300,
    "Collections Logged": 500,
}


def minimum(name: str) -> int:
    """The lowest score the hiscores rank for ``name`` (1 for skills and unknown names)."""
    if name in _MINIMUMS:
        return _MINIMUMS[name]
    if ACTIVITIES.get(name) in (Category.BOSS, Category.RAID):
        return _BOSS_MINIMUM
    return 1


# -- achievements ----------------------------------------------------------------------------

AchievementKind = Literal["base", "level", "xp", "score"]


@dataclass(frozen=True, slots=True)
class Achievement:
    """One achievement band, as the Wise Old Man defines them (adapted to 24 skills).

    ``kind`` says what ``threshold`` is measured against:
    - base:  the lowest of the 24 skill levels ("Base 90 Stats", and "Maxed" at 99);
             metric is "Overall".
    - level: the skill's real level ("99 Attack").
    - xp:    the skill's (or Overall's) xp ("50M Attack", "1B Overall XP").
    - score: the activity's hiscores score ("500 Vorkath kills", "1,000 Clue Scrolls (all)").
    """

    name: str
    metric: str
    threshold: int
    kind: AchievementKind


BASE_STAT_LEVELS: tuple[int, ...] = (60, 70, 80, 90)
SKILL_XP_BANDS: tuple[int, ...] = (50_000_000, 100_000_000, 200_000_000)
# The Wise Old Man stops at 4.6B, the pre-Sailing maximum; ours ends at the new 4.8B maximum.
OVERALL_XP_BANDS: tuple[int, ...] = (
    100_000_000, 200_000_000, 500_000_000, 1_000_000_000, 2_000_000_000, MAX_TOTAL_XP,
)

_BOSS_BANDS = (500, 1_000, 5_000, 10_000)
_RAID_BANDS = (100, 500, 1_000, 5_000)
_LOW_BANDS = (50, 100, 500, 1_000)  # slow or once-a-while bosses
_RARE_BANDS = (10, 50, 100, 200)  # one kill is an event in itself
# Score bands by name; a boss or raid not named here takes its category's bands. Activities
# without bands (PvP Arena, Rifts closed, Colosseum Glory, league/deadman points) have none in
# the Wise Old Man either. "Mad Angel" is newer than its table and takes the boss default.
SCORE_BANDS: dict[str, tuple[int, ...]] = {
    "Bryophyta": _LOW_BANDS,
    "Hespori": _LOW_BANDS,
    "Obor": _LOW_BANDS,
    "Skotizo": _LOW_BANDS,
    "TzTok-Jad": _LOW_BANDS,
    "Mimic": _RARE_BANDS,
    "Sol Heredit": _RARE_BANDS,
    "TzKal-Zuk": _RARE_BANDS,
    "Brutus": _RAID_BANDS,
    "Doom of Mokhaiotl": _RAID_BANDS,
    "Lunar Chests": (100, 250, 500, 1_000),
    "The Gauntlet": (100, 200, 1_000, 2_000),
    "The Corrupted Gauntlet": (100, 200, 1_000, 2_000),
    "Bounty Hunter - Hunter": (1_000, 5_000, 10_000),
    "Bounty Hunter - Rogue": (1_000, 5_000, 10_000),
    "Clue Scrolls (all)": (500, 1_000, 5_000, 10_000),
    "Clue Scrolls (beginner)": (200, 500, 1_000, 5_000),
    "Clue Scrolls (easy)": (500, 1_000, 5_000, 10_000),
    "Clue Scrolls (medium)": (500, 1_000, 5_000, 10_000),
    "Clue Scrolls (hard)": (500, 1_000, 5_000, 10_000),
    "Clue Scrolls (elite)": (100, 500, 1_000, 5_000),
    "Clue Scrolls (master)": (100, 500, 1_000, 5_000),
    "LMS - Rank": (2_000, 5_000, 10_000, 15_000),
    "Soul Wars Zeal": (5_000, 10_000, 20_000),
    "Collections Logged": (500, 700, 900, 1_000, 1_100, 1_200),
}
_CATEGORY_BANDS: dict[Category, tuple[int, ...]] = {
    Category.BOSS: _BOSS_BANDS,
    Category.RAID: _RAID_BANDS,
}
# How a score band reads; "{n}" is the formatted count.
_SCORE_NAMES: dict[str, str] = {
    "Barrows Chests": "{n} Barrows Chests",
    "Lunar Chests": "{n} Lunar Chests",
    "LMS - Rank": "{n} LMS rating",
    "Bounty Hunter - Hunter": "{n} Bounty Hunter (Hunter) score",
    "Bounty Hunter - Rogue": "{n} Bounty Hunter (Rogue) score",
}


def score_bands(name: str) -> tuple[int, ...]:
    """Achievement bands for an activity, lowest first; () when it has none."""
    bands = SCORE_BANDS.get(name)
    if bands is not None:
        return bands
    cat = ACTIVITIES.get(name)
    return _CATEGORY_BANDS.get(cat, ()) if cat is not None else ()


def _score_name(name: str, threshold: int) -> str:
    n = f"{threshold:,}"
    template = _SCORE_NAMES.get(name)
    if template is not None:
        return template.format(n=n)
    cat = ACTIVITIES.get(name)
    if cat is Category.BOSS:
        return f"{n} {name} kills"
    if cat is Category.RAID:
        return f"{n} {name} completions"
    return f"{n} {name}"


def _build_achievements() -> tuple[Achievement, ...]:
    # Built in announcement order: base stats, Overall, skills, then activities in game order.
    out = [Achievement(f"Base {lv} Stats", OVERALL, lv, "base") for lv in BASE_STAT_LEVELS]
    out.append(Achievement("Maxed", OVERALL, MAX_LEVEL, "base"))
    out += [
        Achievement(f"{fmt_xp(xp)} Overall XP", OVERALL, xp, "xp") for xp in OVERALL_XP_BANDS
    ]
    for skill in SKILLS:
        out.append(Achievement(f"99 {skill}", skill, MAX_LEVEL, "level"))
        out += [Achievement(f"{fmt_xp(xp)} {skill}", skill, xp, "xp") for xp in SKILL_XP_BANDS]
    for name in ACTIVITIES:
        out += [Achievement(_score_name(name, t), name, t, "score") for t in score_bands(name)]
    return tuple(out)


ACHIEVEMENTS: tuple[Achievement, ...] = _build_achievements()


def achievements(metric: str | None = None) -> tuple[Achievement, ...]:
    """Every achievement definition in announcement order, or only those of one metric."""
    if metric is None:
        return ACHIEVEMENTS
    return tuple(a for a in ACHIEVEMENTS if a.metric == metric)


def achievement_value(achievement: Achievement, snapshot: Scores) -> int | None:
    """The snapshot's value on the achievement's scale (a level, xp or score); None if unknown."""
    if achievement.kind == "base":
        return base_level(snapshot)
    if achievement.kind == "score":
        return _known(snapshot.activities.get(achievement.metric))
    xp = _known(snapshot.skills.get(achievement.metric))
    if xp is None or achievement.kind == "xp":
        return xp
    return level_for_xp(xp)


def achieved(achievement: Achievement, snapshot: Scores) -> bool:
    """Whether the snapshot shows the band reached; an unknown value never reaches a band."""
    value = achievement_value(achievement, snapshot)
    return value is not None and value >= achievement.threshold
