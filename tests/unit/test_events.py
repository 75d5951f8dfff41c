"""derive(): what two snapshots of one player announce, rule by rule."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pytest

from poller.events import Anomaly, Derivation, Event, announced_level, decreases, derive
from poller.game import ACTIVITIES, OVERALL, SKILLS, STORAGE_ORDER, xp_for_level
from poller.rules import CountRules, LevelRules, Rules, XpRules
from poller.snapshot import Snapshot

# Every test player starts with every skill at level 50 and no activity on the hiscores.
BASE_LEVEL = 50
RULES = Rules()
EVERY_ROW: frozenset[str] = frozenset(STORAGE_ORDER)


def make(
    xp: Mapping[str, int] | None = None,
    acts: Mapping[str, int] | None = None,
    *,
    levels: Mapping[str, int] | None = None,
    drop: Iterable[str] = (),
    overall: int | None = None,
    layout: Iterable[str] | None = EVERY_ROW,
) -> Snapshot:
    """A player: all skills at 50 unless given (as xp or levels), the listed names removed.

    Overall xp is the sum of the skills unless given, so that a test raising one skill never
    trips the decrease rule on Overall by accident. The layout is today's whole hiscores
    unless given, as a parsed response's is: a dropped name is then *unranked* (its row was
    there), and its later value a real appearance. ``layout=None`` is a snapshot stored
    before layouts were.
    """
    skills = {s: xp_for_level(BASE_LEVEL) for s in SKILLS}
    skills.update({s: xp_for_level(lv) for s, lv in (levels or {}).items()})
    skills.update(xp or {})
    activities = dict(acts or {})
    for name in drop:
        skills.pop(name, None)
        activities.pop(name, None)
    skills[OVERALL] = (
        overall if overall is not None else sum(v for s, v in skills.items() if v > 0)
    )
    return Snapshot(
        skills=skills,
        activities=activities,
        layout=None if layout is None else frozenset(layout),
    )


def of_kind(d: Derivation, *kinds: str) -> list[Event]:
    return [e for e in d.events if e.kind in kinds]


def names(d: Derivation, kind: str) -> list[str]:
    return [e.metric for e in d.events if e.kind == kind]


# -- baseline and no change ----------------------------------------------------------------


def test_first_snapshot_is_a_silent_baseline() -> None:
    cur = make(levels={s: 99 for s in SKILLS}, acts={"Vorkath": 5_000, "Clue Scrolls (all)": 900})
    assert derive(None, cur, RULES) == Derivation()


def test_unchanged_snapshot_derives_nothing() -> None:
    s = make(acts={"Vorkath": 100})
    assert derive(s, make(acts={"Vorkath": 100}), RULES) == Derivation()


def test_unranked_marker_and_absence_are_the_same_unknown() -> None:
    prev = make(acts={"Vorkath": -1}, xp={"Sailing": -1})
    cur = make(drop=["Sailing"])
    assert derive(prev, cur, RULES) == Derivation()


# -- level-ups -----------------------------------------------------------------------------

LEVEL_CASES = [
    # id, old, new, rules, expected (threshold, milestone) or None
    ("default-every-level", 50, 51, LevelRules(), (51, False)),
    ("default-same-level-more-xp", 50, 50, LevelRules(), None),
    ("every5-jump-68-71-announces-70", 68, 71, LevelRules(every=5), (70, False)),
    ("every5-no-multiple-crossed", 71, 74, LevelRules(every=5), None),
    ("every5-exactly-on-multiple", 64, 65, LevelRules(every=5), (65, False)),
    ("every5-every-from-88-91", 88, 91, LevelRules(every=5, every_from=90), (91, False)),
    ("every10-every-from-95-92-94", 92, 94, LevelRules(every=10, every_from=95), None),
    ("every10-every-from-95-94-95", 94, 95, LevelRules(every=10, every_from=95), (95, False)),
    ("min-level-blocks-below", 40, 59, LevelRules(min_level=60), None),
    ("min-level-crossed", 58, 61, LevelRules(min_level=60), (61, False)),
    ("min-level-with-every", 70, 85, LevelRules(min_level=80, every=5, every_from=95), (85, False)),
    ("every0-off-below-every-from", 50, 89, LevelRules(every=0), None),
    ("every0-every-from-still-on", 89, 90, LevelRules(every=0), (90, False)),
    ("99-always-despite-rules", 98, 99, LevelRules(min_level=100, every=0, every_from=100),
     (99, True)),
    ("98-99-milestone", 98, 99, LevelRules(), (99, True)),
    ("multi-level-jump-1-99", 1, 99, LevelRules(every=5), (99, True)),
    ("multi-level-jump-below-99", 30, 88, LevelRules(every=10), (80, False)),
    ("virtual-99-100", 99, 100, LevelRules(virtual=True), (100, False)),
    ("virtual-98-100-crosses-99", 98, 100, LevelRules(virtual=True), (100, True)),
    ("virtual-125-126-milestone", 125, 126, LevelRules(virtual=True), (126, True)),
    ("virtual-every-from-110", 100, 104, LevelRules(virtual=True, every=5, every_from=110), None),
    ("virtual-multiple-105", 104, 106, LevelRules(virtual=True, every=5, every_from=110),
     (105, False)),
    ("virtual-126-always", 120, 126, LevelRules(virtual=True, every=50, every_from=127),
     (126, True)),
    ("virtual-off-ignores-past-99", 99, 126, LevelRules(), None),
]


@pytest.mark.parametrize(
    ("old", "new", "level_rules", "expected"),
    [c[1:] for c in LEVEL_CASES],
    ids=[c[0] for c in LEVEL_CASES],
)
def test_levelup(
    old: int, new: int, level_rules: LevelRules, expected: tuple[int, bool] | None
) -> None:
    rules = Rules(levels=level_rules)
    prev = make(levels={"Fishing": old})
    # Same level, more xp: the "no new level" case still changes the snapshot.
    cur = make(xp={"Fishing": xp_for_level(new) + (100 if new == old else 0)})
    events = of_kind(derive(prev, cur, rules), "levelup")
    if expected is None:
        assert events == []
        return
    shown_old = old if level_rules.virtual else min(old, 99)
    shown_new = new if level_rules.virtual else min(new, 99)
    threshold, milestone = expected
    assert events == [Event("levelup", "Fishing", shown_old, shown_new, threshold, milestone)]


def test_no_levelup_for_overall() -> None:
    d = derive(make(overall=1_000_000), make(overall=150_000_000), RULES)
    assert [e.metric for e in d.events] == ["100M Overall XP"]


def test_levelups_for_several_skills_in_game_order() -> None:
    prev = make()
    cur = make(levels={"Sailing": 51, "Attack": 51, "Cooking": 51})
    assert names(derive(prev, cur, RULES), "levelup") == ["Attack", "Cooking", "Sailing"]


def test_announced_level_table() -> None:
    rules = LevelRules(min_level=10, every=10, every_from=95)
    announced = [lv for lv in range(2, 100) if announced_level(lv, rules)]
    assert announced == [10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 96, 97, 98, 99]


# -- xp milestones -------------------------------------------------------------------------

XP_CASES = [
    # id, old xp, new xp, every, expected (threshold, milestone) or None
    ("first-multiple-past-99", 13_034_431, 15_000_000, 5_000_000, (15_000_000, False)),
    ("several-crossed-highest-wins", 14_000_000, 26_000_000, 5_000_000, (25_000_000, False)),
    ("none-crossed", 15_000_000, 19_999_999, 5_000_000, None),
    ("multiples-below-99-xp-ignored", 9_000_000, 13_000_000, 5_000_000, None),
    ("from-98-into-99-range", 12_000_000, 16_000_000, 5_000_000, (15_000_000, False)),
    ("200m-milestone", 195_000_000, 200_000_000, 5_000_000, (200_000_000, True)),
    ("200m-when-off", 199_000_000, 200_000_000, 0, (200_000_000, True)),
    ("off-no-multiples", 50_000_000, 60_000_000, 0, None),
    ("200m-not-a-multiple", 196_000_000, 200_000_000, 7_000_000, (200_000_000, True)),
    ("big-jump-to-200m", 20_000_000, 200_000_000, 5_000_000, (200_000_000, True)),
]


@pytest.mark.parametrize(
    ("old", "new", "every", "expected"),
    [c[1:] for c in XP_CASES],
    ids=[c[0] for c in XP_CASES],
)
def test_xp_milestones(old: int, new: int, every: int, expected: tuple[int, bool] | None) -> None:
    rules = Rules(xp=XpRules(every_after_99=every))
    events = of_kind(derive(make({"Slayer": old}), make({"Slayer": new}), rules), "xp")
    if expected is None:
        assert events == []
    else:
        assert events == [Event("xp", "Slayer", old, new, expected[0], expected[1])]


def test_levelup_comes_before_xp_for_the_same_skill() -> None:
    d = derive(make({"Slayer": 12_000_000}), make({"Slayer": 16_000_000}), RULES)
    assert [(e.kind, e.metric) for e in of_kind(d, "levelup", "xp")] == [
        ("levelup", "Slayer"),
        ("xp", "Slayer"),
    ]


def test_no_xp_milestones_for_overall() -> None:
    d = derive(make(overall=100_000_000), make(overall=200_000_000), RULES)
    assert of_kind(d, "xp") == []


# -- combat --------------------------------------------------------------------------------


def test_combat_level_up_to_126() -> None:
    prev = make(levels={s: 98 for s in SKILLS})
    cur = make(levels={s: 99 for s in SKILLS})
    assert of_kind(derive(prev, cur, RULES), "combat") == [Event("combat", "Combat", 124, 126)]


def test_combat_unchanged_when_only_non_combat_skills_move() -> None:
    d = derive(make(), make(levels={"Cooking": 99, "Sailing": 80}), RULES)
    assert of_kind(d, "combat") == []


def test_combat_skill_appearing_on_the_hiscores_is_not_a_combat_gain() -> None:
    prev = make(drop=["Prayer"])
    cur = make(levels={"Prayer": 99})
    assert of_kind(derive(prev, cur, RULES), "combat") == []


def test_combat_gain_alongside_an_appearing_skill_counts_only_the_gain() -> None:
    # Prayer appears at 99 (a baseline); Attack and Strength really went 50 -> 60.
    prev = make(drop=["Prayer"])
    cur = make(levels={"Prayer": 99, "Attack": 60, "Strength": 60})
    # Prayer 99 on both sides: (10*(50+50+49) + 13*100)//40 = 69 -> (1490 + 13*120)//40 = 76
    assert of_kind(derive(prev, cur, RULES), "combat") == [Event("combat", "Combat", 69, 76)]


def test_combat_skill_disappearing_says_nothing() -> None:
    prev = make()
    cur = make(levels={"Attack": 70}, drop=["Defence"])
    # Defence 50 on both sides: (10*(50+50+25) + 13*100)//40 = 63 -> (1250 + 13*120)//40 = 70
    assert of_kind(derive(prev, cur, RULES), "combat") == [Event("combat", "Combat", 63, 70)]


# -- bosses, clues, activities -------------------------------------------------------------

BOSSES_50 = Rules(bosses=CountRules(every=50, overrides={"TzKal-Zuk": 1}))
COUNT_CASES = [
    # id, rules, name, old, new, expected event or None
    ("boss-crosses-500", BOSSES_50, "Vorkath", 480, 520, Event("boss", "Vorkath", 480, 520, 500)),
    ("boss-no-multiple", BOSSES_50, "Vorkath", 520, 530, None),
    ("boss-several-one-event", BOSSES_50, "Vorkath", 490, 610,
     Event("boss", "Vorkath", 490, 610, 600)),
    ("boss-exactly-on-multiple", BOSSES_50, "Zulrah", 49, 50, Event("boss", "Zulrah", 49, 50, 50)),
    ("boss-override-zuk-every-kill", BOSSES_50, "TzKal-Zuk", 3, 4,
     Event("boss", "TzKal-Zuk", 3, 4, 4)),
    ("boss-override-survives-every-0",
     Rules(bosses=CountRules(every=0, overrides={"TzKal-Zuk": 1})),
     "TzKal-Zuk", 3, 5, Event("boss", "TzKal-Zuk", 3, 5, 5)),
    ("boss-every-0-off", Rules(bosses=CountRules(every=0)), "Vorkath", 10, 400, None),
    ("boss-override-0-off", Rules(bosses=CountRules(every=50, overrides={"Vorkath": 0})),
     "Vorkath", 10, 400, None),
    ("raid-is-a-boss-event", BOSSES_50, "Chambers of Xeric", 90, 101,
     Event("boss", "Chambers of Xeric", 90, 101, 100)),
    ("clue-every-100", RULES, "Clue Scrolls (all)", 190, 210,
     Event("clue", "Clue Scrolls (all)", 190, 210, 200)),
    ("clue-override", Rules(clues=CountRules(every=100, overrides={"Clue Scrolls (master)": 10})),
     "Clue Scrolls (master)", 19, 20, Event("clue", "Clue Scrolls (master)", 19, 20, 20)),
    ("minigame-activity", RULES, "Rifts closed", 290, 310,
     Event("activity", "Rifts closed", 290, 310, 300)),
    ("points-activity", RULES, "League Points", 900, 1_200,
     Event("activity", "League Points", 900, 1_200, 1_200)),
    ("activities-off", Rules(activities=CountRules(every=0)), "Rifts closed", 290, 310, None),
    ("rating-has-no-count-events", Rules(activities=CountRules(every=1)), "LMS - Rank", 1_000,
     1_500, None),
]


@pytest.mark.parametrize(
    ("rules", "name", "old", "new", "expected"),
    [c[1:] for c in COUNT_CASES],
    ids=[c[0] for c in COUNT_CASES],
)
def test_count_events(rules: Rules, name: str, old: int, new: int, expected: Event | None) -> None:
    d = derive(make(acts={name: old}), make(acts={name: new}), rules)
    assert of_kind(d, "boss", "clue", "activity") == ([] if expected is None else [expected])


FIRST_CASES = [
    # id, rules, name, new, expected threshold; None rules result = no event at all
    ("boss-at-minimum", BOSSES_50, "Vorkath", 5, None),
    ("boss-past-a-multiple", BOSSES_50, "Vorkath", 120, 100),
    ("boss-exactly-multiple", BOSSES_50, "Vorkath", 50, 50),
    ("zuk-first-kill", BOSSES_50, "TzKal-Zuk", 1, 1),
    ("clue-first", RULES, "Clue Scrolls (all)", 1, None),
    ("soul-wars-from-minimum", RULES, "Soul Wars Zeal", 250, 200),
    ("collections-at-minimum-multiple", RULES, "Collections Logged", 520, 500),
    # Multiples below the hiscore minimum may have been crossed long ago: not claimed.
    ("multiple-below-minimum-not-claimed",
     Rules(activities=CountRules(every=100, overrides={"Colosseum Glory": 250})),
     "Colosseum Glory", 400, None),
]


@pytest.mark.parametrize(
    ("rules", "name", "new", "threshold"),
    [c[1:] for c in FIRST_CASES],
    ids=[c[0] for c in FIRST_CASES],
)
def test_first_appearance(rules: Rules, name: str, new: int, threshold: int | None) -> None:
    kind = {"Vorkath": "boss", "TzKal-Zuk": "boss", "Clue Scrolls (all)": "clue"}.get(
        name, "activity"
    )
    for prev in (make(), make(acts={name: -1})):
        d = derive(prev, make(acts={name: new}), rules)
        assert of_kind(d, "boss", "clue", "activity") == [
            Event(kind, name, None, new, threshold, first=True)  # type: ignore[arg-type]
        ]


def test_first_appearance_when_rule_is_off_says_nothing() -> None:
    d = derive(make(), make(acts={"Vorkath": 120}), Rules(bosses=CountRules(every=0)))
    assert of_kind(d, "boss") == []


def test_first_appearance_of_a_rating_says_nothing_but_its_bands() -> None:
    d = derive(make(), make(acts={"LMS - Rank": 2_100}), RULES)
    assert d.events == (Event("achievement", "2,000 LMS rating", new=2_000, milestone=True),)


def test_metric_going_unknown_says_nothing() -> None:
    prev = make(acts={"Vorkath": 600, "Clue Scrolls (all)": 10})
    cur = make(acts={"Clue Scrolls (all)": -1})
    assert derive(prev, cur, RULES) == Derivation()


def test_skill_first_appearance_is_a_baseline() -> None:
    prev = make(drop=["Sailing"])
    d = derive(prev, make(levels={"Sailing": 60}), RULES)
    assert d == Derivation()


# -- decreases -----------------------------------------------------------------------------


def test_decrease_derives_no_events_and_records_each_metric() -> None:
    prev = make({"Attack": 5_000_000}, {"Vorkath": 500, "Zulrah": 10, "LMS - Rank": 3_000})
    cur = make(
        {"Attack": 4_000_000, "Strength": xp_for_level(99)},  # a gain that must stay silent
        {"Vorkath": 400, "Zulrah": 600, "LMS - Rank": 2_000},
        overall=1,
    )
    d = derive(prev, cur, RULES)
    assert d.events == ()
    assert d.anomalies == (
        Anomaly(OVERALL, prev.skills[OVERALL], 1),
        Anomaly("Attack", 5_000_000, 4_000_000),
        Anomaly("Vorkath", 500, 400),
    )


@pytest.mark.parametrize("name", ["LMS - Rank", "PvP Arena - Rank"])
def test_ratings_go_down_without_anomaly(name: str) -> None:
    prev = make(acts={name: 3_000, "Vorkath": 480})
    cur = make(acts={name: 2_600, "Vorkath": 520})
    d = derive(prev, cur, RULES)
    assert d.anomalies == ()
    assert names(d, "boss") == ["Vorkath"]


def test_known_to_absent_or_unranked_is_not_a_decrease() -> None:
    prev = make({"Attack": 5_000_000}, {"Vorkath": 500, "Zulrah": 70})
    cur = make({"Attack": -1}, {"Zulrah": -1}, drop=["Vorkath"], overall=prev.skills[OVERALL])
    assert decreases(prev, cur) == ()
    assert derive(prev, cur, RULES) == Derivation()


def test_decrease_in_a_name_we_do_not_know_is_still_an_anomaly() -> None:
    prev = make(acts={"Some Future Boss": 50, "Vorkath": 10})
    cur = make(acts={"Some Future Boss": 40, "Vorkath": 9})
    assert decreases(prev, cur) == (Anomaly("Vorkath", 10, 9), Anomaly("Some Future Boss", 50, 40))


def test_gain_in_a_name_we_do_not_know_is_ignored() -> None:
    d = derive(make(acts={"Some Future Boss": 50}), make(acts={"Some Future Boss": 500}), RULES)
    assert d == Derivation()


# -- achievements --------------------------------------------------------------------------


def achievements_of(d: Derivation) -> list[str]:
    for e in of_kind(d, "achievement"):
        assert e.milestone and e.old is None
    return names(d, "achievement")


# Skill cases hold Overall still (OV), so that only the bands under test can be crossed.
OV = 3_000_000_000
LV99 = {s: 99 for s in SKILLS}
ACHIEVEMENT_CASES = [
    # id, prev, cur, expected achievement names (in order)
    ("base-70", make(levels={s: 70 for s in SKILLS} | {"Attack": 69}, overall=OV),
     make(levels={s: 70 for s in SKILLS}, overall=OV), ["Base 70 Stats"]),
    ("base-bands-in-one-jump", make(levels={s: 59 for s in SKILLS}, overall=OV),
     make(levels={s: 91 for s in SKILLS}, overall=OV),
     ["Base 60 Stats", "Base 70 Stats", "Base 80 Stats", "Base 90 Stats"]),
    ("maxed-with-sailing-99-last", make(levels=LV99 | {"Sailing": 98}, overall=OV),
     make(levels=LV99, overall=OV), ["Maxed", "99 Sailing"]),
    # Unknown proves nothing, so every base band becomes provable at once.
    ("maxed-when-sailing-appears-at-99", make(levels=LV99, drop=["Sailing"], overall=OV),
     make(levels=LV99, overall=OV),
     ["Base 60 Stats", "Base 70 Stats", "Base 80 Stats", "Base 90 Stats", "Maxed",
      "99 Sailing"]),
    ("unknown-skill-blocks-maxed", make(levels={s: 98 for s in SKILLS}, drop=["Sailing"],
                                        overall=OV),
     make(levels=LV99, drop=["Sailing"], overall=OV),
     [f"99 {s}" for s in SKILLS if s != "Sailing"]),
    ("skill-xp-bands", make({"Attack": 45_000_000}, overall=OV),
     make({"Attack": 105_000_000}, overall=OV), ["50M Attack", "100M Attack"]),
    ("skill-all-bands-in-one-jump", make({"Attack": 12_000_000}, overall=OV),
     make({"Attack": 200_000_000}, overall=OV),
     ["99 Attack", "50M Attack", "100M Attack", "200M Attack"]),
    ("overall-bands", make(overall=950_000_000), make(overall=2_100_000_000),
     ["1B Overall XP", "2B Overall XP"]),
    ("overall-4.8b", make(overall=4_799_999_999), make(overall=4_800_000_000),
     ["4.8B Overall XP"]),
    ("boss-bands", make(acts={"Vorkath": 450}), make(acts={"Vorkath": 1_100}),
     ["500 Vorkath kills", "1,000 Vorkath kills"]),
    ("boss-band-already-had", make(acts={"Vorkath": 600}), make(acts={"Vorkath": 700}), []),
    ("raid-bands", make(acts={"Theatre of Blood": 99}), make(acts={"Theatre of Blood": 100}),
     ["100 Theatre of Blood completions"]),
    ("jad-bands", make(acts={"TzTok-Jad": 49}), make(acts={"TzTok-Jad": 50}),
     ["50 TzTok-Jad kills"]),
    ("zuk-first-appearance", make(), make(acts={"TzKal-Zuk": 12}), ["10 TzKal-Zuk kills"]),
    ("clue-all", make(acts={"Clue Scrolls (all)": 990}), make(acts={"Clue Scrolls (all)": 1_010}),
     ["1,000 Clue Scrolls (all)"]),
    ("clue-tiers-and-all", make(acts={"Clue Scrolls (all)": 499, "Clue Scrolls (beginner)": 199}),
     make(acts={"Clue Scrolls (all)": 500, "Clue Scrolls (beginner)": 200}),
     ["500 Clue Scrolls (all)", "200 Clue Scrolls (beginner)"]),
    ("lms", make(acts={"LMS - Rank": 1_900}), make(acts={"LMS - Rank": 2_100}),
     ["2,000 LMS rating"]),
    ("soul-wars", make(acts={"Soul Wars Zeal": 4_900}), make(acts={"Soul Wars Zeal": 5_100}),
     ["5,000 Soul Wars Zeal"]),
    ("collections-first-appearance", make(), make(acts={"Collections Logged": 510}),
     ["500 Collections Logged"]),
    ("collections-bands", make(acts={"Collections Logged": 650}),
     make(acts={"Collections Logged": 1_000}),
     ["700 Collections Logged", "900 Collections Logged", "1,000 Collections Logged"]),
    ("skill-appearing-at-99", make(drop=["Sailing"]), make(levels={"Sailing": 99}),
     ["99 Sailing"]),
]


@pytest.mark.parametrize(
    ("prev", "cur", "expected"),
    [c[1:] for c in ACHIEVEMENT_CASES],
    ids=[c[0] for c in ACHIEVEMENT_CASES],
)
def test_achievements(prev: Snapshot, cur: Snapshot, expected: list[str]) -> None:
    assert achievements_of(derive(prev, cur, RULES)) == expected


def test_achievement_event_carries_the_band_value() -> None:
    d = derive(make({"Attack": 45_000_000}), make({"Attack": 55_000_000}), RULES)
    assert of_kind(d, "achievement") == [
        Event("achievement", "50M Attack", new=50_000_000, milestone=True)
    ]


def test_maxed_via_sailing_full_message() -> None:
    prev = make(levels={s: 99 for s in SKILLS} | {"Sailing": 98})
    cur = make(levels={s: 99 for s in SKILLS})
    assert derive(prev, cur, RULES).events == (
        Event("levelup", "Sailing", 98, 99, 99, milestone=True),
        Event("achievement", "Maxed", new=99, milestone=True),
        Event("achievement", "99 Sailing", new=99, milestone=True),
    )


# -- layouts: a row the previous snapshot never had -----------------------------------------

# An older hiscores layout (or an older release's): these rows did not exist yet.
OLD_ROWS = EVERY_ROW - {"Vorkath", "Sailing", "Collections Logged", "TzKal-Zuk", "Prayer"}
APPEARS = [("boss", "Vorkath"), ("achievement", "500 Vorkath kills")]
LAYOUT_CASES = [
    # id, prev, cur, expected (kind, metric) of every event
    ("boss-row-new-is-a-baseline", make(layout=OLD_ROWS), make(acts={"Vorkath": 600}), []),
    ("boss-unranked-before-appears", make(), make(acts={"Vorkath": 600}), APPEARS),
    # An explicit -1 is an unranked row: the row was there, whatever the layout says.
    ("boss-minus-one-before-appears", make(acts={"Vorkath": -1}, layout=OLD_ROWS),
     make(acts={"Vorkath": 600}), APPEARS),
    ("bands-met-on-arrival-not-claimed", make(layout=OLD_ROWS),
     make(acts={"Collections Logged": 1_000, "TzKal-Zuk": 12}), []),
    ("skill-row-new-at-99-no-99-no-maxed",
     make(levels=LV99, drop=["Sailing"], overall=OV, layout=OLD_ROWS),
     make(levels=LV99, overall=OV), []),
    ("skill-unranked-before-at-99-is-news",
     make(levels=LV99, drop=["Sailing"], overall=OV), make(levels=LV99, overall=OV),
     [("achievement", a) for a in ("Base 60 Stats", "Base 70 Stats", "Base 80 Stats",
                                   "Base 90 Stats", "Maxed", "99 Sailing")]),
    ("combat-skill-row-new", make(drop=["Prayer"], layout=OLD_ROWS),
     make(levels={"Prayer": 99}), []),
    ("new-row-beside-a-real-gain", make(acts={"Zulrah": 480}, layout=OLD_ROWS),
     make(acts={"Zulrah": 520, "Vorkath": 600}),
     [("boss", "Zulrah"), ("achievement", "500 Zulrah kills")]),
    ("new-row-beside-a-real-level", make(drop=["Sailing"], layout=OLD_ROWS),
     make(levels={"Sailing": 95, "Cooking": 51}), [("levelup", "Cooking")]),
    # Stored before layouts: cannot tell new from unranked, so no appearance is news...
    ("unknown-layout-appearance-is-silent", make(layout=None), make(acts={"Vorkath": 600}), []),
    ("unknown-layout-skill-at-99-is-silent", make(levels=LV99, drop=["Sailing"], overall=OV,
                                                  layout=None),
     make(levels=LV99, overall=OV), []),
    # ...but progress in what it knew is.
    ("unknown-layout-real-gain-is-news", make(acts={"Vorkath": 480}, layout=None),
     make(acts={"Vorkath": 520}), APPEARS[:1] + [("achievement", "500 Vorkath kills")]),
    ("overall-row-new",
     Snapshot(skills={s: xp_for_level(50) for s in SKILLS}, activities={},
              layout=EVERY_ROW - {OVERALL}),
     make(overall=2_100_000_000), []),
]


@pytest.mark.parametrize(
    ("prev", "cur", "expected"),
    [c[1:] for c in LAYOUT_CASES],
    ids=[c[0] for c in LAYOUT_CASES],
)
def test_layout_gaining_rows(
    prev: Snapshot, cur: Snapshot, expected: list[tuple[str, str]]
) -> None:
    d = derive(prev, cur, RULES)
    assert d.anomalies == ()
    assert [(e.kind, e.metric) for e in d.events] == expected


def test_a_release_learning_a_row_floods_nobody() -> None:
    """Every player's next poll after the release: each has the new row at some value, some
    far past its bands. Not one event."""
    for kills in (5, 50, 600, 12_000):
        for name in ("Vorkath", "TzKal-Zuk", "Collections Logged"):
            assert derive(make(layout=OLD_ROWS), make(acts={name: kills}), RULES) == Derivation()


# -- order and determinism -----------------------------------------------------------------


def test_events_are_ordered_skills_combat_activities_achievements() -> None:
    prev = make(
        levels={"Sailing": 98, "Attack": 98, "Strength": 98},
        acts={"Zulrah": 480, "Clue Scrolls (all)": 990, "Abyssal Sire": 40},
    )
    cur = make(
        levels={"Sailing": 99, "Attack": 99, "Strength": 99},
        acts={"Zulrah": 520, "Clue Scrolls (all)": 1_010, "Abyssal Sire": 60, "Vorkath": 7},
    )
    d = derive(prev, cur, RULES)
    assert [(e.kind, e.metric) for e in d.events] == [
        ("levelup", "Attack"),
        ("levelup", "Strength"),
        ("levelup", "Sailing"),
        ("combat", "Combat"),
        ("clue", "Clue Scrolls (all)"),
        ("boss", "Abyssal Sire"),
        ("boss", "Vorkath"),
        ("boss", "Zulrah"),
        ("achievement", "99 Attack"),
        ("achievement", "99 Strength"),
        ("achievement", "99 Sailing"),
        ("achievement", "1,000 Clue Scrolls (all)"),
        ("achievement", "500 Zulrah kills"),
    ]


def test_derive_is_deterministic_whatever_the_mapping_order() -> None:
    prev = make(levels={s: 60 + i for i, s in enumerate(SKILLS)},
                acts={n: 100 + i for i, n in enumerate(ACTIVITIES)})
    cur_skills = {s: v + 2_000_000 for s, v in prev.skills.items()}
    cur_acts = {n: v * 11 for n, v in prev.activities.items()}
    forward = Snapshot(skills=cur_skills, activities=cur_acts)
    backward = Snapshot(
        skills=dict(reversed(list(cur_skills.items()))),
        activities=dict(reversed(list(cur_acts.items()))),
    )
    first = derive(prev, forward, RULES)
    assert first.events and first == derive(prev, backward, RULES) == derive(prev, forward, RULES)


def test_derivation_is_frozen() -> None:
    d = Derivation()
    with pytest.raises(AttributeError):
        d.events = ()  # type: ignore[misc]
