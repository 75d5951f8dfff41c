"""The CSV ``index_lite.ws`` hiscores format: rows without names, read by position.

Supported only for layouts whose row order we have established from a real JSON capture, and
only when the row counts match one exactly; once named, the rows go through the same checks as
JSON (:func:`poller.hiscores_rows.parse_rows`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import HiscoresUnavailable, ValidationError
from .hiscores_rows import parse_rows
from .snapshot import Snapshot


@dataclass(frozen=True)
class CsvLayout:
    """The row order of one ``index_lite.ws`` layout: skill rows (Overall first), then
    activity rows."""

    label: str
    skills: tuple[str, ...]
    activities: tuple[str, ...]

    @property
    def key(self) -> tuple[int, int]:
        return (len(self.skills), len(self.activities))


# The 2026-07 layout, from lynx_titan_2026-07_noids.json (Wise Old Man's maintained copy).
_SKILLS_2026_07: tuple[str, ...] = (
    "Overall", "Attack", "Defence", "Strength", "Hitpoints", "Ranged", "Prayer", "Magic",
    "Cooking", "Woodcutting", "Fletching", "Fishing", "Firemaking", "Crafting", "Smithing",
    "Mining", "Herblore", "Agility", "Thieving", "Slayer", "Farming", "Runecraft", "Hunter",
    "Construction", "Sailing",
)  # fmt: skip
_ACTIVITIES_2026_07: tuple[str, ...] = (
    "Grid Points", "League Points", "Deadman Points", "Bounty Hunter - Hunter",
    "Bounty Hunter - Rogue", "Bounty Hunter (Legacy) - Hunter", "Bounty Hunter (Legacy) - Rogue",
    "Clue Scrolls (all)", "Clue Scrolls (beginner)", "Clue Scrolls (easy)",
    "Clue Scrolls (medium)", "Clue Scrolls (hard)", "Clue Scrolls (elite)",
    "Clue Scrolls (master)", "LMS - Rank", "PvP Arena - Rank", "Soul Wars Zeal", "Rifts closed",
    "Colosseum Glory", "Collections Logged", "Abyssal Sire", "Alchemical Hydra", "Amoxliatl",
    "Araxxor", "Artio", "Barrows Chests", "Brutus", "Bryophyta", "Callisto", "Calvar'ion",
    "Cerberus", "Chambers of Xeric", "Chambers of Xeric: Challenge Mode", "Chaos Elemental",
    "Chaos Fanatic", "Commander Zilyana", "Corporeal Beast", "Crazy Archaeologist",
    "Dagannoth Prime", "Dagannoth Rex", "Dagannoth Supreme", "Deranged Archaeologist",
    "Doom of Mokhaiotl", "Duke Sucellus", "General Graardor", "Giant Mole",
    "Grotesque Guardians", "Hespori", "Kalphite Queen", "King Black Dragon", "Kraken",
    "Kree'Arra", "K'ril Tsutsaroth", "Lunar Chests", "Mad Angel", "Maggot King", "Mimic", "Nex",
    "Nightmare", "Phosani's Nightmare", "Obor", "Phantom Muspah", "Sarachnis", "Scorpia",
    "Scurrius", "Shellbane Gryphon", "Skotizo", "Sol Heredit", "Spindel", "Tempoross",
    "The Gauntlet", "The Corrupted Gauntlet", "The Hueycoatl", "The Leviathan",
    "The Royal Titans", "The Whisperer", "Theatre of Blood", "Theatre of Blood: Hard Mode",
    "Thermonuclear Smoke Devil", "Tombs of Amascut", "Tombs of Amascut: Expert Mode",
    "TzKal-Zuk", "TzTok-Jad", "Vardorvis", "Venenatis", "Vet'ion", "Vorkath", "Wintertodt",
    "Yama", "Zalcano", "Zulrah",
)  # fmt: skip


def _without(names: tuple[str, ...], *removed: str) -> tuple[str, ...]:
    # Every older layout we hold is the newest one with some rows not yet added (verified
    # against each capture's order by tests/integration/osrs/test_hiscores_fixtures.py).
    missing = set(removed) - set(names)
    if missing:
        raise AssertionError(f"layout lacks {sorted(missing)}")
    return tuple(n for n in names if n not in removed)


_SKILLS_PRE_SAILING = _without(_SKILLS_2026_07, "Sailing")
_ACTIVITIES_2026_01 = _without(_ACTIVITIES_2026_07, "Brutus", "Mad Angel", "Maggot King")
# From unranked_skills_2024.json's order.
_ACTIVITIES_2024 = _without(
    _ACTIVITIES_2026_01, "Grid Points", "Collections Logged", "Amoxliatl", "Araxxor",
    "Doom of Mokhaiotl", "Shellbane Gryphon", "The Hueycoatl", "The Royal Titans", "Yama",
)  # fmt: skip
# From b0aty_2023-08.json's order (its CSV twin proves the CSV rows follow the JSON order).
_ACTIVITIES_2023_08 = _without(
    _ACTIVITIES_2024, "Deadman Points", "Colosseum Glory", "Lunar Chests", "Scurrius",
    "Sol Heredit",
)  # fmt: skip

CSV_LAYOUTS: Mapping[tuple[int, int], CsvLayout] = {
    layout.key: layout
    for layout in (
        CsvLayout("2023-08", _SKILLS_PRE_SAILING, _ACTIVITIES_2023_08),
        CsvLayout("2024", _SKILLS_PRE_SAILING, _ACTIVITIES_2024),
        # psikoi_2025-11.csv: the last pre-Sailing layout, 88 activities in lynx 2026-01's
        # order (Sailing came as a skill row; no activity was added with it).
        CsvLayout("2025-11", _SKILLS_PRE_SAILING, _ACTIVITIES_2026_01),
        CsvLayout("2026-01", _SKILLS_2026_07, _ACTIVITIES_2026_01),
        CsvLayout("2026-07", _SKILLS_2026_07, _ACTIVITIES_2026_07),
    )
}


def parse_csv(text: str | bytes, layout: CsvLayout | None = None) -> Snapshot:
    """Parse an ``index_lite.ws`` body positionally.

    The layout is chosen by the exact counts of skill rows (``rank,level,xp``) and activity
    rows (``rank,score``); a count we have not verified raises ValidationError rather than
    mapping rows onto the wrong names. An explicit ``layout`` must match exactly too. Once
    named, the rows go through the same checks as JSON (`parse_rows`).
    """
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValidationError("hiscores CSV is not UTF-8 text") from exc
    if text.lstrip().startswith("<"):
        raise HiscoresUnavailable("hiscores sent an HTML page instead of data")
    lines = text.strip().splitlines()
    skill_rows: list[tuple[int, ...]] = []
    act_rows: list[tuple[int, ...]] = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        # ASCII digits only: int() would also take "1_000", "+5" or Arabic-Indic digits.
        if _CSV_LINE.fullmatch(line) is None:
            raise ValidationError(f"hiscores CSV line {number} is not integers: {line[:40]!r}")
        try:
            values = tuple(int(f) for f in line.split(","))
        except ValueError:  # more digits than Python will read
            raise ValidationError(f"hiscores CSV line {number} has a number too long") from None
        if len(values) == 3 and not act_rows:
            skill_rows.append(values)
        elif len(values) == 2:
            act_rows.append(values)
        else:
            raise ValidationError(
                f"hiscores CSV line {number} has an unexpected shape: {line[:40]!r}"
            )
    counts = (len(skill_rows), len(act_rows))
    if layout is None:
        layout = CSV_LAYOUTS.get(counts)
        if layout is None:
            known = ", ".join(f"{s}+{a}" for s, a in CSV_LAYOUTS)
            raise ValidationError(
                f"hiscores CSV has {counts[0]} skill + {counts[1]} activity rows, a layout this "
                f"release does not know (known: {known}); refusing to guess"
            )
    elif layout.key != counts:
        raise ValidationError(
            f"hiscores CSV has {counts[0]}+{counts[1]} rows, layout {layout.label} has "
            f"{layout.key[0]}+{layout.key[1]}"
        )
    return parse_rows(
        [
            {"name": name, "rank": rank, "level": level, "xp": xp}
            for name, (rank, level, xp) in zip(layout.skills, skill_rows, strict=True)
        ],
        [
            {"name": name, "rank": rank, "score": score}
            for name, (rank, score) in zip(layout.activities, act_rows, strict=True)
        ],
    )


_CSV_LINE = re.compile(r"-?[0-9]+(?:,-?[0-9]+)*")
