"""plausibility.judge: tables of snapshot pairs and the verdict each must get."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from poller import game, plausibility
from poller.plausibility import KILLS_PER_HOUR, XP_PER_HOUR, XP_PER_HOUR_CAP, judge
from poller.snapshot import OVERALL, Snapshot

M = 1_000_000


def snap(xp: Mapping[str, int] | None = None, acts: Mapping[str, int] | None = None) -> Snapshot:
    """Every skill at level 70 unless given as xp; Overall is their sum."""
    skills = {s: game.xp_for_level(70) for s in game.SKILLS}
    skills.update(xp or {})
    skills[OVERALL] = sum(skills.values())
    return Snapshot(skills=skills, activities=dict(acts or {}))


BASE = snap({"Runecraft": 5_347_176, "Attack": 20 * M}, {"Vorkath": 500, "Zulrah": 300})


@pytest.mark.parametrize(
    ("after", "elapsed", "kind"),
    [
        # Nothing, or ordinary play.
        (BASE, 1, "ok"),
        (snap({"Runecraft": 5_547_176, "Attack": 20 * M}, {"Vorkath": 530, "Zulrah": 300}), 1,
         "ok"),
        # A week of the fastest Runecraft (240k/h) at once is within the 120 h floor.
        (snap({"Runecraft": 5_347_176 + 120 * 240_000 - 1, "Attack": 20 * M},
              {"Vorkath": 500, "Zulrah": 300}), 1, "ok"),
        # ... one more hour of it is not, unless that much time has passed.
        (snap({"Runecraft": 5_347_176 + 121 * 240_000, "Attack": 20 * M},
              {"Vorkath": 500, "Zulrah": 300}), 1, "implausible"),
        (snap({"Runecraft": 5_347_176 + 121 * 240_000, "Attack": 20 * M},
              {"Vorkath": 500, "Zulrah": 300}), 200, "ok"),
        # The case: one skill to 100M between two polls.
        (snap({"Runecraft": 100 * M, "Attack": 20 * M}, {"Vorkath": 500, "Zulrah": 300}), 1,
         "implausible"),
        # Three skills jumping by tens of millions in one update: each alone would pass.
        (snap({"Runecraft": 5_347_176, "Attack": 20 * M + 30 * M, "Ranged": 60 * M,
               "Cooking": 50 * M}, {"Vorkath": 500, "Zulrah": 300}), 1, "implausible"),
        # Kills count too: 10,000 Vorkath kills in an hour.
        (snap({"Runecraft": 5_347_176, "Attack": 20 * M}, {"Vorkath": 10_500, "Zulrah": 300}), 1,
         "implausible"),
        # A bonus skill (no hours of its own) may not outrun its cap either.
        (snap({"Runecraft": 5_347_176, "Attack": 20 * M, "Hitpoints": 150 * M},
              {"Vorkath": 500, "Zulrah": 300}), 1, "implausible"),
        # A rollback: a few metrics a little lower.
        (snap({"Runecraft": 5_300_000, "Attack": 20 * M}, {"Vorkath": 495, "Zulrah": 300}), 1,
         "rollback"),
        # A rollback whose snapshot also carries real gains elsewhere is still a rollback.
        (snap({"Runecraft": 5_300_000, "Attack": 20 * M, "Magic": game.xp_for_level(71)},
              {"Vorkath": 495, "Zulrah": 300}), 1, "rollback"),
        # Far lower: days of play gone is no rollback.
        (snap({"Runecraft": 5_347_176, "Attack": 10 * M}, {"Vorkath": 500, "Zulrah": 300}), 1,
         "new_account"),
        # Most metrics lower: another account wears the name.
        (snap({s: game.xp_for_level(60) for s in game.SKILLS}), 1, "new_account"),
        # Lower somewhere and impossibly higher elsewhere.
        (snap({"Runecraft": 5_300_000, "Attack": 20 * M, "Fishing": 50 * M},
              {"Vorkath": 500, "Zulrah": 300}), 1, "new_account"),
    ],
)
def test_verdicts(after: Snapshot, elapsed: float, kind: str) -> None:
    verdict = judge(BASE, after, elapsed_hours=elapsed)
    assert verdict.kind == kind, verdict
    assert (verdict.reason != "") == (kind != "ok")


def test_unknown_values_count_nothing() -> None:
    # A metric known on one side only is no gain (appearing counts from zero, but a boss at
    # its minimum is minutes of play) and unknown is never a loss.
    before = snap(acts={"Vorkath": 500})
    assert judge(before, snap(), elapsed_hours=1).kind == "ok"
    assert judge(snap(), snap(acts={"Zulrah": 50}), elapsed_hours=1).kind == "ok"


def test_ratings_may_go_down() -> None:
    assert judge(snap(acts={"LMS - Rank": 2_000}), snap(acts={"LMS - Rank": 500}),
                 elapsed_hours=1).kind == "ok"


def test_clues_and_minigames_take_no_part() -> None:
    # Clue caskets are banked and opened at once; the Wise Old Man gives them no hours either.
    after = snap(acts={"Clue Scrolls (all)": 5_000, "Clue Scrolls (beginner)": 5_000})
    assert judge(snap(), after, elapsed_hours=1).kind == "ok"


def test_hours_adds_skills_and_bosses() -> None:
    after = snap({"Runecraft": game.xp_for_level(70) + 240_000}, {"Vorkath": 34})
    assert plausibility.hours(snap(), after) == pytest.approx(2.0)


def test_the_rate_tables_cover_the_game() -> None:
    # Every skill has a rate or a cap (never both), and every rated boss is a real one.
    assert set(XP_PER_HOUR) | set(XP_PER_HOUR_CAP) == set(game.SKILLS)
    assert not set(XP_PER_HOUR) & set(XP_PER_HOUR_CAP)
    assert set(KILLS_PER_HOUR) <= set(game.ACTIVITIES)
    assert all(rate > 0 for rate in (*XP_PER_HOUR.values(), *KILLS_PER_HOUR.values()))
