"""The gains rules (poller.gains) and calendar periods (poller.periods), as tables."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone

import pytest

from poller.gains import (
    METRICS,
    Point,
    UnknownMetric,
    clan_gains,
    every_gain,
    find_metric,
    player_gain,
)
from poller.game import OVERALL, xp_for_level
from poller.periods import Period, PeriodError, calendar_period, parse_instant, parse_weekday
from poller.snapshot import Snapshot

UTC = timezone.utc
D0 = datetime(2026, 11, 1, tzinfo=UTC)
WEEK = Period(D0, D0 + timedelta(days=7))


def at(days: float) -> datetime:
    return D0 + timedelta(days=days)


def snap(skills: Mapping[str, int] | None = None, acts: Mapping[str, int] | None = None,
         layout: frozenset[str] | None = None) -> Snapshot:
    return Snapshot(skills=dict(skills or {}), activities=dict(acts or {}), layout=layout)


def gain(points: list[Point], metric: str, period: Period = WEEK) -> int | None:
    g = player_gain(points, period, find_metric(metric))
    return None if g is None else g.value


# (case, points, metric, expected gain; None = no data)
CASES = [
    ("plain xp gain", [Point(at(1), snap({"Attack": 1000})), Point(at(3), snap({"Attack": 5000}))],
     "attack", 4000),
    ("state before the start is the start",
     [Point(at(-3), snap({"Attack": 1000})), Point(at(2), snap({"Attack": 1500}))], "attack", 500),
    ("progress before the period is not counted",
     [Point(at(-5), snap({"Attack": 100})), Point(at(-1), snap({"Attack": 900})),
      Point(at(2), snap({"Attack": 1000}))], "attack", 100),
    ("after the end is not counted",
     [Point(at(1), snap({"Attack": 1000})), Point(at(9), snap({"Attack": 9000}))], "attack", 0),
    ("no snapshots at all", [], "attack", None),
    ("only snapshots after the period", [Point(at(8), snap({"Attack": 1}))], "attack", None),
    ("unchanged all period (one snapshot before)", [Point(at(-9), snap({"Attack": 7}))],
     "attack", 0),
    ("added mid-period: counts from the first snapshot",
     [Point(at(4), snap({"Attack": 2000})), Point(at(5), snap({"Attack": 2600}))], "attack", 600),
    ("unranked boss appearing at 50 counts from minimum - 1",
     [Point(at(1), snap(acts={})), Point(at(2), snap(acts={"Vorkath": 50}))], "vorkath", 46),
    ("unranked Mimic (minimum 1) counts from 0",
     [Point(at(1), snap(acts={})), Point(at(2), snap(acts={"Mimic": 3}))], "mimic", 3),
    ("a row the start's layout lacked is a baseline, not a gain",
     [Point(at(1), snap(acts={}, layout=frozenset({"Zulrah"}))),
      Point(at(2), snap(acts={"Vorkath": 50})), Point(at(3), snap(acts={"Vorkath": 60}))],
     "vorkath", 10),
    ("unranked skill counts from its first known value",
     [Point(at(1), snap({})), Point(at(2), snap({"Attack": 900_000})),
      Point(at(3), snap({"Attack": 1_000_000}))], "attack", 100_000),
    ("rolled-back end is skipped: the last trusted end counts",
     [Point(at(1), snap({"Attack": 1000})), Point(at(2), snap({"Attack": 3000})),
      Point(at(3), snap({"Attack": 500}), trusted=False)], "attack", 2000),
    ("rollback inside the period: never negative",
     [Point(at(1), snap({"Attack": 3000})), Point(at(2), snap({"Attack": 500}), trusted=False),
      Point(at(3), snap({"Attack": 800}))], "attack", 0),
    ("an untrusted start is skipped for the trusted one before it",
     [Point(at(-2), snap({"Attack": 100})), Point(at(-1), snap({"Attack": 9}), trusted=False),
      Point(at(1), snap({"Attack": 400}))], "attack", 300),
    ("rating drops are 0, not a loss",
     [Point(at(1), snap(acts={"LMS - Rank": 900})), Point(at(2), snap(acts={"LMS - Rank": 700}))],
     "lms_rank", 0),
    ("clues: the hiscores' all row",
     [Point(at(1), snap(acts={"Clue Scrolls (all)": 10, "Clue Scrolls (hard)": 4})),
      Point(at(2), snap(acts={"Clue Scrolls (all)": 13, "Clue Scrolls (hard)": 7}))], "clues", 3),
    ("bosses: the sum of each boss's gain, unranked from its minimum",
     [Point(at(1), snap(acts={"Zulrah": 100, "Vorkath": 80})),
      Point(at(2), snap(acts={"Zulrah": 110, "Vorkath": 70, "Tombs of Amascut": 7}))],
     "bosses", 10 + 0 + 3),
    ("overall xp", [Point(at(1), snap({OVERALL: 10_000})), Point(at(2), snap({OVERALL: 12_500}))],
     "overall", 2500),
]


@pytest.mark.parametrize(("points", "metric", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_gain_rules(points: list[Point], metric: str, expected: int | None) -> None:
    assert gain(points, metric) == expected


def test_levels_gained_for_skills_and_overall() -> None:
    points = [Point(at(1), snap({"Attack": xp_for_level(60), OVERALL: 1})),
              Point(at(2), snap({"Attack": xp_for_level(63) + 5, OVERALL: 2}))]
    attack = player_gain(points, WEEK, METRICS["attack"])
    assert attack is not None and attack.levels == 3
    start = Snapshot(skills={}, activities={}, overall_level=1500)
    end = Snapshot(skills={}, activities={}, overall_level=1512)
    overall = player_gain([Point(at(1), start), Point(at(2), end)], WEEK, METRICS["overall"])
    assert overall is not None and overall.levels == 12
    boss = player_gain(points, WEEK, METRICS["vorkath"])
    assert boss is not None and boss.levels is None


def test_clan_ranks_totals_and_players_without_gain() -> None:
    histories = {
        "Bob": [Point(at(1), snap({"Attack": 0})), Point(at(2), snap({"Attack": 500}))],
        "alice": [Point(at(1), snap({"Attack": 0})), Point(at(2), snap({"Attack": 500}))],
        "Carol": [Point(at(1), snap({"Attack": 0})), Point(at(2), snap({"Attack": 900}))],
        "Idle": [Point(at(-1), snap({"Attack": 7}))],
    }
    table = clan_gains(histories, WEEK, METRICS["attack"], players=["Idle", "Newbie"])
    assert [(g.player, g.rank, g.gain.value) for g in table.gainers] == [
        ("Carol", 1, 900), ("alice", 2, 500), ("Bob", 2, 500),
    ]
    assert table.no_gain == ("Idle", "Newbie")
    assert table.total == 1900 and table.total_levels is not None
    assert [g.player for g in table.top(1)] == ["Carol"]


def test_every_gain_lists_only_what_moved() -> None:
    points = [Point(at(1), snap({"Attack": 10}, {"Zulrah": 5})),
              Point(at(2), snap({"Attack": 20}, {"Zulrah": 8}))]
    assert every_gain(points, WEEK) == {"attack": 10, "bosses": 3, "zulrah": 3}


@pytest.mark.parametrize(("text", "key"), [
    ("overall", "overall"), ("Attack", "attack"), ("Vorkath", "vorkath"),
    ("K'ril Tsutsaroth", "kril_tsutsaroth"), ("bosses", "bosses"), ("Clues", "clues"),
    ("tztok-jad", "tztok_jad"),
])
def test_metric_names(text: str, key: str) -> None:
    assert find_metric(text).key == key


def test_metric_typos_get_suggestions() -> None:
    with pytest.raises(UnknownMetric, match="did you mean vorkath") as err:
        find_metric("vorkth")
    assert err.value.suggestions[0] == "vorkath"


# -- periods -------------------------------------------------------------------------------------

LONDON, NEW_YORK = "Europe/London", "America/New_York"


@pytest.mark.parametrize(("kind", "now", "tz", "start", "end", "label"), [
    # The day the clocks go back in London (25 hours): midnight BST is 23:00 UTC.
    ("day", datetime(2026, 10, 25, 12, tzinfo=UTC), LONDON,
     datetime(2026, 10, 24, 23, tzinfo=UTC), datetime(2026, 10, 25, 12, tzinfo=UTC),
     "2026-10-25"),
    # New York springs forward on 2026-03-08: the day before is 24 h, that day 23 h.
    ("day", datetime(2026, 3, 8, 12, tzinfo=UTC), NEW_YORK,
     datetime(2026, 3, 8, 5, tzinfo=UTC), datetime(2026, 3, 8, 12, tzinfo=UTC), "2026-03-08"),
    # Late evening in New York is already tomorrow in UTC: the local day counts.
    ("day", datetime(2026, 12, 2, 3, tzinfo=UTC), NEW_YORK,
     datetime(2026, 12, 1, 5, tzinfo=UTC), datetime(2026, 12, 2, 3, tzinfo=UTC), "2026-12-01"),
    # The week after London's change starts at GMT midnight (the one before at BST's).
    ("week", datetime(2026, 10, 28, 9, tzinfo=UTC), LONDON,
     datetime(2026, 10, 26, 0, tzinfo=UTC), datetime(2026, 10, 28, 9, tzinfo=UTC),
     "week of 2026-10-26"),
    ("month", datetime(2026, 11, 15, tzinfo=UTC), LONDON,
     datetime(2026, 11, 1, 0, tzinfo=UTC), datetime(2026, 11, 15, tzinfo=UTC), "2026-11"),
    ("month", datetime(2026, 12, 31, 23, tzinfo=UTC), "UTC",
     datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 31, 23, tzinfo=UTC), "2026-12"),
])
def test_calendar_periods(kind: str, now: datetime, tz: str, start: datetime, end: datetime,
                          label: str) -> None:
    period = calendar_period(kind, now, tz)  # type: ignore[arg-type]
    assert (period.start, period.end, period.label) == (start, end, label)


def test_previous_periods_are_whole_and_dst_lengths_are_real() -> None:
    now = datetime(2026, 10, 26, 12, tzinfo=UTC)
    day = calendar_period("day", now, LONDON, offset=-1)  # 2026-10-25, 25 hours long
    assert day.end - day.start == timedelta(hours=25)
    week = calendar_period("week", now, LONDON, offset=-1)  # Mon 19 (BST) to Mon 26 (GMT)
    assert week.start == datetime(2026, 10, 18, 23, tzinfo=UTC)
    assert week.end - week.start == timedelta(hours=7 * 24 + 1)
    spring = calendar_period("day", datetime(2026, 3, 9, 12, tzinfo=UTC), NEW_YORK, offset=-1)
    assert spring.end - spring.start == timedelta(hours=23)
    month = calendar_period("month", datetime(2026, 1, 10, tzinfo=UTC), "UTC", offset=-1)
    assert (month.start, month.end) == (datetime(2025, 12, 1, tzinfo=UTC),
                                        datetime(2026, 1, 1, tzinfo=UTC))


def test_week_start_is_configurable() -> None:
    thursday = datetime(2026, 12, 3, 12, tzinfo=UTC)
    assert calendar_period("week", thursday, "UTC").start == datetime(2026, 11, 30, tzinfo=UTC)
    sunday = parse_weekday("sun")
    assert calendar_period("week", thursday, "UTC", week_start=sunday).start == \
        datetime(2026, 11, 29, tzinfo=UTC)
    with pytest.raises(PeriodError):
        parse_weekday("funday")


@pytest.mark.parametrize(("text", "expected"), [
    ("7d", datetime(2026, 11, 26, 12, tzinfo=UTC)),
    ("12h", datetime(2026, 12, 3, 0, tzinfo=UTC)),
    ("2w", datetime(2026, 11, 19, 12, tzinfo=UTC)),
    ("2026-12-01", datetime(2026, 12, 1, 5, tzinfo=UTC)),  # midnight in New York
    ("2026-12-01T18:00", datetime(2026, 12, 1, 23, tzinfo=UTC)),
    ("2026-12-01T18:00+00:00", datetime(2026, 12, 1, 18, tzinfo=UTC)),
])
def test_parse_instant(text: str, expected: datetime) -> None:
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    assert parse_instant(text, now, NEW_YORK) == expected


def test_bad_instants_and_inverted_periods_are_errors() -> None:
    with pytest.raises(PeriodError, match="not a time"):
        parse_instant("last tuesday", D0, "UTC")
    with pytest.raises(PeriodError, match="before it starts"):
        Period(at(2), at(1))


@pytest.mark.parametrize(("metric", "unit"), [
    ("overall", "xp"), ("attack", "xp"), ("vorkath", "kills"), ("tombs_of_amascut", "kills"),
    ("bosses", "kills"), ("clues", "clues"), ("clue_scrolls_hard", "clues"),
    ("soul_wars_zeal", "score"),
])
def test_units(metric: str, unit: str) -> None:
    assert find_metric(metric).unit == unit
