"""Game data: the XP table, combat level, totals, hiscore minimums and achievement bands."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from poller import game
from poller.game import (
    ACHIEVEMENTS,
    ACTIVITIES,
    MAX_TOTAL_LEVEL,
    MAX_TOTAL_XP,
    MAX_XP,
    OVERALL,
    SKILLS,
    STORAGE_ORDER,
    XP_99,
    Achievement,
    Category,
    achieved,
    achievement_value,
    achievements,
    base_level,
    category,
    combat_level,
    is_monotonic,
    level_for_xp,
    levels_from_snapshot,
    minimum,
    score_bands,
    total_level,
    xp_for_level,
)
from poller.snapshot import Snapshot


def snap(
    xp: Mapping[str, int] | None = None,
    *,
    levels: Mapping[str, int] | None = None,
    acts: Mapping[str, int] | None = None,
    overall_level: int | None = None,
) -> Snapshot:
    """A snapshot from xp and/or levels (a level becomes the xp where it starts)."""
    skills = dict(xp or {})
    skills.update({s: xp_for_level(lv) for s, lv in (levels or {}).items()})
    return Snapshot(skills=skills, activities=dict(acts or {}), overall_level=overall_level)


def all_levels(level: int, **overrides: int) -> dict[str, int]:
    return {s: overrides.get(s, level) for s in SKILLS}


# -- tables that other code stores by position ----------------------------------------------


def test_storage_order_is_overall_skills_then_activities() -> None:
    assert STORAGE_ORDER[0] == OVERALL
    assert STORAGE_ORDER[1:25] == SKILLS
    assert STORAGE_ORDER[25:] == tuple(ACTIVITIES)
    assert len(SKILLS) == 24 and SKILLS[-1] == "Sailing"
    assert len(ACTIVITIES) == 91


# -- XP table ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "xp"),
    [
        (1, 0),
        (2, 83),
        (10, 1_154),
        (50, 101_333),
        (92, 6_517_253),
        (99, 13_034_431),
        (100, 14_391_160),
        (126, 188_884_740),
    ],
    ids=lambda v: str(v),
)
def test_xp_for_level_spec_vectors(level: int, xp: int) -> None:
    assert xp_for_level(level) == xp


def test_xp_table_is_strictly_increasing_and_99_constant() -> None:
    table = [xp_for_level(lv) for lv in range(1, 127)]
    assert all(table[i] < table[i + 1] for i in range(len(table) - 1))
    assert XP_99 == 13_034_431
    assert MAX_XP == 200_000_000


@pytest.mark.parametrize("level", [0, 127, -1])
def test_xp_for_level_rejects_levels_outside_the_table(level: int) -> None:
    with pytest.raises(ValueError):
        xp_for_level(level)


@pytest.mark.parametrize(
    ("xp", "virtual", "level"),
    [
        (0, False, 1),
        (82, False, 1),
        (83, False, 2),
        (13_034_430, False, 98),
        (13_034_431, False, 99),
        (200_000_000, False, 99),
        (13_034_431, True, 99),
        (14_391_159, True, 99),
        (14_391_160, True, 100),
        (188_884_739, True, 125),
        (188_884_740, True, 126),
        (200_000_000, True, 126),
    ],
    ids=[
        "zero", "one-below-2", "exactly-2", "one-below-99", "exactly-99", "200m-capped-99",
        "virtual-99", "virtual-below-100", "virtual-100", "virtual-125", "virtual-126",
        "virtual-200m",
    ],
)
def test_level_for_xp_boundaries(xp: int, virtual: bool, level: int) -> None:
    assert level_for_xp(xp, virtual=virtual) == level


def test_level_for_xp_round_trips_every_level() -> None:
    for lv in range(1, 127):
        assert level_for_xp(xp_for_level(lv), virtual=True) == lv
        if lv > 1:
            assert level_for_xp(xp_for_level(lv) - 1, virtual=True) == lv - 1


def test_level_for_xp_rejects_negative_xp() -> None:
    with pytest.raises(ValueError):
        level_for_xp(-1)


# -- combat level --------------------------------------------------------------------------

C = ("Attack", "Strength", "Defence", "Hitpoints", "Ranged", "Magic", "Prayer")


def combat(att: int, str_: int, def_: int, hp: int, rng: int, mag: int, pray: int) -> int:
    return combat_level(dict(zip(C, (att, str_, def_, hp, rng, mag, pray), strict=True)))


@pytest.mark.parametrize(
    ("stats", "expected"),
    [
        ((99, 99, 99, 99, 99, 99, 99), 126),
        ((1, 1, 1, 10, 1, 1, 1), 3),
        ((10, 10, 10, 10, 10, 10, 10), 12),
        ((99, 99, 99, 99, 99, 99, 89), 124),
        # Accounts whose in-game combat level is known (RuneLite's combat plugin tests).
        ((65, 70, 60, 71, 75, 73, 56), 83),
        ((43, 36, 1, 42, 51, 64, 15), 43),
        ((74, 74, 72, 72, 44, 60, 52), 90),
        # One prayer level from the next combat level: 53 -> 54 tips it.
        ((74, 75, 72, 72, 44, 60, 53), 90),
        ((74, 75, 72, 72, 44, 60, 54), 91),
        # Sums that land exactly on a whole level (x40 = 240): floor must not drop to 5.
        ((5, 5, 1, 10, 1, 1, 1), 6),
        ((5, 4, 1, 10, 1, 1, 1), 5),
        ((1, 1, 1, 10, 7, 1, 1), 6),
        ((1, 1, 1, 10, 6, 1, 1), 5),
        ((1, 1, 1, 10, 1, 7, 1), 6),
        # Pures: ranged and magic only count 1.5x, floored.
        ((1, 1, 1, 99, 99, 1, 1), 73),
        ((60, 99, 1, 99, 99, 99, 52), 83),
    ],
    ids=[
        "maxed", "new-account", "all-10", "maxed-89-prayer", "bmid", "runelite", "zezima",
        "prayer-53", "prayer-54", "exact-melee", "below-exact-melee", "exact-ranged",
        "below-exact-ranged", "exact-magic", "ranged-pure", "one-defence-pure",
    ],
)
def test_combat_level(stats: tuple[int, ...], expected: int) -> None:
    assert combat(*stats) == expected


def test_combat_level_matches_exact_arithmetic_everywhere() -> None:
    # The formula with fractions, checked over a grid that covers every melee/range/mage mix.
    from fractions import Fraction

    for def_ in (1, 40, 70, 99):
        for hp in (10, 55, 99):
            for pray in (1, 43, 44, 77, 99):
                for off in range(1, 100, 7):
                    exact = Fraction(1, 4) * (def_ + hp + pray // 2) + Fraction(13, 40) * max(
                        off + off, (3 * off) // 2
                    )
                    assert combat(off, off, def_, hp, off, off, pray) == int(exact)


def test_combat_level_defaults_missing_skills_to_start_levels() -> None:
    assert combat_level({}) == 3
    assert combat_level({"Hitpoints": None, "Attack": None}) == 3
    assert combat_level({"Hitpoints": 1}) == 3  # HP below 10 counts as 10
    assert combat_level({"Attack": 99, "Strength": 99}) == 67  # (10 * 11 + 13 * 198) // 40


def test_combat_level_caps_virtual_levels_at_99() -> None:
    assert combat_level({s: 126 for s in C}) == 126


# -- levels and totals from a snapshot -----------------------------------------------------


def test_levels_from_snapshot_unknown_is_none() -> None:
    s = snap({"Attack": 13_034_431, "Defence": -1, "Sailing": 0, OVERALL: 5})
    levels = levels_from_snapshot(s)
    assert list(levels) == list(SKILLS)
    assert levels["Attack"] == 99
    assert levels["Defence"] is None
    assert levels["Strength"] is None
    assert levels["Sailing"] == 1


def test_levels_from_snapshot_virtual() -> None:
    s = snap({"Attack": 200_000_000})
    assert levels_from_snapshot(s)["Attack"] == 99
    assert levels_from_snapshot(s, virtual=True)["Attack"] == 126


@pytest.mark.parametrize(
    ("snapshot", "virtual", "expected"),
    [
        (snap(levels=all_levels(99), overall_level=2376), False, 2376),
        # The hiscores' number wins: it knows the unranked skills' levels, we do not.
        (snap(levels={"Attack": 50}, overall_level=700), False, 700),
        # Without it: unknown skills count as where every account starts (1, Hitpoints 10).
        (snap(levels={"Attack": 50}), False, 50 + 22 + 10),
        (snap(levels=all_levels(99)), False, MAX_TOTAL_LEVEL),
        # A virtual total is ours alone: the hiscores never report one.
        (snap(xp={s: 200_000_000 for s in SKILLS}, overall_level=2376), True, 126 * 24),
    ],
    ids=["hiscores-total", "hiscores-total-with-unranked", "summed", "summed-max", "virtual"],
)
def test_total_level(snapshot: Snapshot, virtual: bool, expected: int) -> None:
    assert total_level(snapshot, virtual=virtual) == expected


def test_totals_constants() -> None:
    assert MAX_TOTAL_LEVEL == 2376
    assert MAX_TOTAL_XP == 4_800_000_000


@pytest.mark.parametrize(
    ("levels", "expected"),
    [
        (all_levels(99), 99),
        (all_levels(99, Sailing=98), 98),
        (all_levels(75, Attack=60), 60),
    ],
    ids=["maxed", "sailing-98", "lowest-wins"],
)
def test_base_level(levels: dict[str, int], expected: int) -> None:
    assert base_level(snap(levels=levels)) == expected


def test_base_level_unknown_skill_proves_nothing() -> None:
    levels = all_levels(99)
    del levels["Sailing"]
    assert base_level(snap(levels=levels)) is None
    assert base_level(snap({**{s: 13_034_431 for s in SKILLS}, "Sailing": -1})) is None


# -- activities ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Vorkath", 5),
        ("Chambers of Xeric", 5),
        ("Sol Heredit", 5),
        ("TzKal-Zuk", 1),
        ("Mimic", 1),
        ("Clue Scrolls (all)", 1),
        ("Clue Scrolls (master)", 1),
        ("LMS - Rank", 500),
        ("PvP Arena - Rank", 2525),
        ("Soul Wars Zeal", 200),
        ("Rifts closed", 2),
        ("Colosseum Glory", 300),
        ("Collections Logged", 500),
        ("League Points", 100),
        ("Bounty Hunter - Hunter", 2),
        ("Attack", 1),
        ("Some Boss Jagex Adds Tomorrow", 1),
    ],
)
def test_minimum(name: str, expected: int) -> None:
    assert minimum(name) == expected


def test_every_activity_has_a_positive_minimum() -> None:
    assert all(minimum(name) >= 1 for name in ACTIVITIES)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("LMS - Rank", False),
        ("PvP Arena - Rank", False),
        ("Attack", True),
        (OVERALL, True),
        ("Vorkath", True),
        ("Clue Scrolls (all)", True),
        ("Soul Wars Zeal", True),
        ("Collections Logged", True),
        ("Unknown New Boss", True),
    ],
)
def test_is_monotonic(name: str, expected: bool) -> None:
    assert is_monotonic(name) is expected


def test_category() -> None:
    assert category("Vorkath") is Category.BOSS
    assert category("Theatre of Blood") is Category.RAID
    assert category("Clue Scrolls (all)") is Category.CLUE
    assert category("LMS - Rank") is Category.RATING
    assert category("Attack") is None
    assert category("Nope") is None


# -- achievements --------------------------------------------------------------------------


def test_achievement_names_are_unique_and_frozen() -> None:
    names = [a.name for a in ACHIEVEMENTS]
    assert len(names) == len(set(names))
    with pytest.raises(AttributeError):
        ACHIEVEMENTS[0].name = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    "expected",
    [
        Achievement("Base 60 Stats", OVERALL, 60, "base"),
        Achievement("Base 90 Stats", OVERALL, 90, "base"),
        Achievement("Maxed", OVERALL, 99, "base"),
        Achievement("100M Overall XP", OVERALL, 100_000_000, "xp"),
        Achievement("1B Overall XP", OVERALL, 1_000_000_000, "xp"),
        Achievement("4.8B Overall XP", OVERALL, 4_800_000_000, "xp"),
        Achievement("99 Attack", "Attack", 99, "level"),
        Achievement("50M Attack", "Attack", 50_000_000, "xp"),
        Achievement("200M Sailing", "Sailing", 200_000_000, "xp"),
        Achievement("500 Vorkath kills", "Vorkath", 500, "score"),
        Achievement("10,000 Vorkath kills", "Vorkath", 10_000, "score"),
        Achievement("100 Chambers of Xeric completions", "Chambers of Xeric", 100, "score"),
        Achievement("50 TzTok-Jad kills", "TzTok-Jad", 50, "score"),
        Achievement("10 TzKal-Zuk kills", "TzKal-Zuk", 10, "score"),
        Achievement("500 Barrows Chests", "Barrows Chests", 500, "score"),
        Achievement("1,000 Clue Scrolls (all)", "Clue Scrolls (all)", 1_000, "score"),
        Achievement("2,000 LMS rating", "LMS - Rank", 2_000, "score"),
        Achievement("5,000 Soul Wars Zeal", "Soul Wars Zeal", 5_000, "score"),
        Achievement("1,200 Collections Logged", "Collections Logged", 1_200, "score"),
    ],
    ids=lambda a: a.name,
)
def test_achievement_definitions(expected: Achievement) -> None:
    assert expected in ACHIEVEMENTS


@pytest.mark.parametrize(
    ("name", "bands"),
    [
        ("Vorkath", (500, 1_000, 5_000, 10_000)),
        ("Mad Angel", (500, 1_000, 5_000, 10_000)),
        ("Tombs of Amascut: Expert Mode", (100, 500, 1_000, 5_000)),
        ("Theatre of Blood", (100, 500, 1_000, 5_000)),
        ("TzTok-Jad", (50, 100, 500, 1_000)),
        ("Obor", (50, 100, 500, 1_000)),
        ("Bryophyta", (50, 100, 500, 1_000)),
        ("Hespori", (50, 100, 500, 1_000)),
        ("Skotizo", (50, 100, 500, 1_000)),
        ("TzKal-Zuk", (10, 50, 100, 200)),
        ("Mimic", (10, 50, 100, 200)),
        ("Sol Heredit", (10, 50, 100, 200)),
        ("Lunar Chests", (100, 250, 500, 1_000)),
        ("The Corrupted Gauntlet", (100, 200, 1_000, 2_000)),
        ("Clue Scrolls (beginner)", (200, 500, 1_000, 5_000)),
        ("Clue Scrolls (master)", (100, 500, 1_000, 5_000)),
        ("LMS - Rank", (2_000, 5_000, 10_000, 15_000)),
        ("Soul Wars Zeal", (5_000, 10_000, 20_000)),
        ("Collections Logged", (500, 700, 900, 1_000, 1_100, 1_200)),
        ("PvP Arena - Rank", ()),
        ("Colosseum Glory", ()),
        ("League Points", ()),
        ("Not An Activity", ()),
    ],
)
def test_score_bands(name: str, bands: tuple[int, ...]) -> None:
    assert score_bands(name) == bands


def test_every_boss_and_raid_has_bands_and_every_skill_four() -> None:
    for name, cat in ACTIVITIES.items():
        if cat in (Category.BOSS, Category.RAID):
            assert len(achievements(name)) == 4, name
    for skill in SKILLS:
        assert [a.name for a in achievements(skill)] == [
            f"99 {skill}", f"50M {skill}", f"100M {skill}", f"200M {skill}"
        ]


def test_every_score_band_is_at_or_above_the_hiscore_minimum() -> None:
    # What makes a first appearance at a band's value a real crossing (see events).
    for a in ACHIEVEMENTS:
        if a.kind == "score":
            assert a.threshold >= minimum(a.metric), a.name


def test_achievements_are_in_announcement_order() -> None:
    kinds = [a.kind for a in ACHIEVEMENTS]
    assert kinds[:5] == ["base"] * 5
    assert [a.metric for a in ACHIEVEMENTS[5:11]] == [OVERALL] * 6
    metrics = [a.metric for a in ACHIEVEMENTS[5:]]
    positions = [STORAGE_ORDER.index(m) for m in metrics]
    assert positions == sorted(positions)
    for metric in {a.metric for a in ACHIEVEMENTS if a.kind != "base"}:
        thresholds = [a.threshold for a in achievements(metric) if a.kind != "level"]
        assert thresholds == sorted(thresholds)


@pytest.mark.parametrize(
    ("name", "snapshot", "value", "reached"),
    [
        ("Maxed", snap(levels=all_levels(99)), 99, True),
        ("Maxed", snap(levels=all_levels(99, Sailing=98)), 98, False),
        ("Base 70 Stats", snap(levels=all_levels(70)), 70, True),
        ("99 Attack", snap({"Attack": 13_034_430}), 98, False),
        ("99 Attack", snap({"Attack": 13_034_431}), 99, True),
        ("50M Attack", snap({"Attack": 50_000_000}), 50_000_000, True),
        ("1B Overall XP", snap({OVERALL: 999_999_999}), 999_999_999, False),
        ("500 Vorkath kills", snap(acts={"Vorkath": 500}), 500, True),
        ("500 Vorkath kills", snap(acts={"Vorkath": -1}), None, False),
        ("500 Vorkath kills", snap(), None, False),
        ("99 Attack", snap({"Attack": -1}), None, False),
    ],
)
def test_achievement_value_and_achieved(
    name: str, snapshot: Snapshot, value: int | None, reached: bool
) -> None:
    a = next(a for a in ACHIEVEMENTS if a.name == name)
    assert achievement_value(a, snapshot) == value
    assert achieved(a, snapshot) is reached


@pytest.mark.parametrize(
    ("xp", "text"),
    [
        (50_000_000, "50M"),
        (100_000_000, "100M"),
        (1_000_000_000, "1B"),
        (4_800_000_000, "4.8B"),
        (2_500, "2.5K"),
        (999, "999"),
        (12_750_000, "12.75M"),  # a milestone every 1.25M is said exactly, not "12.8M"
    ],
)
def test_format_xp(xp: int, text: str) -> None:
    from notifier.numbers import fmt_xp

    assert fmt_xp(xp) == text


def test_module_exposes_constants_used_elsewhere() -> None:
    assert game.MAX_LEVEL == 99 and game.MAX_VIRTUAL_LEVEL == 126
    assert set(game.COMBAT_SKILLS) == set(C)
    assert game.start_level("Hitpoints") == 10 and game.start_level("Attack") == 1
