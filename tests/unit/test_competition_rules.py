"""Competitions, the pure rules: rounds, the random pick, the announcement schedule and the
standings (start snapshots, late joiners, unranked starts, a rollback mid-round, a rename)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time, timedelta, timezone

import pytest

from poller.competitions import (
    RECENT_ROUNDS,
    Round,
    Standing,
    due_announcement,
    history,
    pick_metric,
    round_key,
    rounds,
    schedule,
    standings,
)
from poller.gains import Point, metric_key
from poller.game import OVERALL, SKILLS, xp_for_level
from poller.settings import CompetitionSettings
from poller.snapshot import Snapshot

UTC = timezone.utc
START = datetime(2026, 12, 7, 18, tzinfo=UTC)
END = START + timedelta(days=7)
RND = Round(round_key(START), START, END, "week of 2026-12-07")
H = timedelta(hours=1)
DAY = timedelta(days=1)


def snap(fishing: int | None = None, vorkath: int | None = None, **skills: int) -> Snapshot:
    values = {"Attack": xp_for_level(60), OVERALL: 1_000_000}
    if fishing is not None:
        values["Fishing"] = fishing
    values.update({k.title(): v for k, v in skills.items()})
    return Snapshot(skills=values, activities={} if vorkath is None else {"Vorkath": vorkath},
                    overall_level=60)


# -- rounds ----------------------------------------------------------------------------------


def test_recurring_rounds_are_the_last_the_current_and_the_next() -> None:
    comp = CompetitionSettings(name="sotw", metrics=("fishing",), every="week",
                               weekday="monday", at=time(18))
    got = rounds(comp, datetime(2026, 12, 9, tzinfo=UTC), "Europe/London", "monday")
    assert [(r.start, r.end) for r in got] == [
        (START - 7 * DAY, START), (START, END), (END, END + 7 * DAY)]
    assert got[1].key == "2026-12-07T18:00:00Z" and got[1].label == "week of 2026-12-07"


def test_a_one_off_has_its_one_round() -> None:
    comp = CompetitionSettings(name="x", metrics=("vorkath",), start=START, end=END)
    assert rounds(comp, START - 30 * DAY, "UTC", "monday") == [
        Round("2026-12-07T18:00:00Z", START, END, "")]


# -- the random pick ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [f"sotw/{i}" for i in range(40)])
def test_the_pick_is_never_one_of_the_last_four(seed: str) -> None:
    recent = ["attack", "fishing", "cooking", "mining", "woodcutting"]
    chosen = pick_metric("random_skill", recent, seed)
    assert chosen not in recent[-RECENT_ROUNDS:]
    assert chosen in {metric_key(s) for s in SKILLS}


def test_the_pick_is_the_same_for_every_process_and_varies_by_round() -> None:
    assert pick_metric("random_boss", [], "b/1") == pick_metric("random_boss", [], "b/1")
    assert len({pick_metric("random_boss", [], f"b/{i}") for i in range(20)}) > 5


def test_the_fifth_round_back_may_come_again() -> None:
    skills = sorted(metric_key(s) for s in SKILLS)
    recent = skills[:-1]  # every skill but one: only that one is left
    assert pick_metric("random_skill", recent[-4:] + [], "x") not in recent[-4:]
    assert pick_metric("random_skill", recent, "x") not in recent[-RECENT_ROUNDS:]


# -- the announcement schedule -----------------------------------------------------------------

REMINDERS = (DAY, H)


def test_the_schedule_in_order() -> None:
    assert schedule(RND, DAY, REMINDERS) == [
        ("upcoming", START - DAY), ("started", START), ("reminder-24h", END - DAY),
        ("reminder-1h", END - H), ("final", END)]


def test_reminders_before_the_start_are_left_out() -> None:
    short = Round("k", START, START + 2 * H, "")
    assert [k for k, _ in schedule(short, DAY, REMINDERS)] == [
        "upcoming", "started", "reminder-1h", "final"]


@pytest.mark.parametrize(("now", "posted", "expected"), [
    (START - 2 * DAY, set(), None),  # too early for anything
    (START - DAY + H, set(), "upcoming"),
    (START - DAY + H, {"upcoming"}, None),
    (START + 5 * 60 * timedelta(seconds=1), {"upcoming"}, "started"),
    (START + 2 * DAY, {"upcoming", "started"}, None),
    (END - DAY + H, {"upcoming", "started"}, "reminder-24h"),
    (END - H / 2, {"upcoming", "started", "reminder-24h"}, "reminder-1h"),
    (END, {"upcoming", "started", "reminder-24h", "reminder-1h"}, "final"),
    # Down from before the start until the last hour: one catch-up, the one still news.
    (END - H / 2, {"upcoming"}, "reminder-1h"),
    # Down past the end: the podium, once.
    (END + 3 * DAY, {"upcoming", "started"}, "final"),
    (END + 3 * DAY, {"upcoming", "started", "final"}, None),
])
def test_what_is_due(now: datetime, posted: set[str], expected: str | None) -> None:
    assert due_announcement(RND, DAY, REMINDERS, now, posted) == expected


# -- standings ---------------------------------------------------------------------------------


def rank(
    histories: Mapping[str, list[tuple[datetime, Snapshot, bool]]],
    starts: Mapping[str, tuple[datetime, Snapshot]] | None = None,
    metrics: tuple[str, ...] = ("fishing",), until: datetime = END,
) -> tuple[list[Standing], list[str]]:
    return standings({n: [Point(*p) for p in pts] for n, pts in histories.items()},
                     starts or {}, RND, metrics, until)


F = xp_for_level(70)


@pytest.mark.parametrize(("histories", "starts", "expected"), [
    # The start snapshot recorded at the start poll, then gains during the week.
    ({"A": [(START - 2 * DAY, snap(F), True), (START + DAY, snap(F + 100), True)]},
     {"A": (START + 60 * timedelta(seconds=1), snap(F))}, [("A", 1, 100)]),
    # Gains made before the start poll saw them are not counted: the start is what it saw.
    ({"A": [(START - 2 * DAY, snap(F), True), (START + timedelta(minutes=1), snap(F + 900), True),
            (START + DAY, snap(F + 1000), True)]},
     {"A": (START + timedelta(minutes=1), snap(F + 900))}, [("A", 1, 100)]),
    # No start recorded (joined mid-week): from their first snapshot after the start, never
    # from the state days before.
    ({"L": [(START - 3 * DAY, snap(F), True), (START + 2 * DAY, snap(F + 500), True),
            (START + 3 * DAY, snap(F + 800), True)]}, {}, [("L", 1, 300)]),
    # A boss unranked at the start counts from the hiscores minimum (Vorkath: 5), not 0.
    ({"U": [(START + DAY, snap(F, vorkath=20), True)]},
     {"U": (START + timedelta(minutes=1), snap(F))}, [("U", 1, 16)]),
    # A rollback mid-week is skipped; the end is the last trusted snapshot.
    ({"R": [(START + DAY, snap(F + 300), True), (START + 2 * DAY, snap(F - 5000), False)]},
     {"R": (START, snap(F))}, [("R", 1, 300)]),
    # After the end nothing counts.
    ({"E": [(START + DAY, snap(F + 10), True), (END + H, snap(F + 99_999), True)]},
     {"E": (START, snap(F))}, [("E", 1, 10)]),
    # Equal gains share a rank; the order then is by name.
    ({"b": [(START + DAY, snap(F + 5), True)], "A": [(START + DAY, snap(F + 5), True)],
      "c": [(START + DAY, snap(F + 1), True)]},
     {n: (START, snap(F)) for n in ("b", "A", "c")}, [("A", 1, 5), ("b", 1, 5), ("c", 3, 1)]),
])
def test_standings(histories, starts, expected) -> None:  # type: ignore[no-untyped-def]
    ranked, _ = rank(histories, starts, metrics=("fishing", "vorkath"))
    assert [(s.player, s.rank, s.gain) for s in ranked] == expected


def test_several_metrics_are_summed_and_idle_players_listed() -> None:
    ranked, idle = rank(
        {"A": [(START + DAY, snap(F, vorkath=60), True)], "Z": []},
        {"A": (START, snap(F, vorkath=50))}, metrics=("vorkath", "fishing"))
    assert [(s.player, s.gain) for s in ranked] == [("A", 10)] and idle == ["Z"]


def test_a_renamed_player_keeps_their_standing() -> None:
    # The store moves history and start to the new name: the standings see one player.
    ranked, _ = rank({"New Name": [(START + DAY, snap(F + 70), True)]},
                     {"New Name": (START, snap(F))})
    assert [(s.player, s.gain) for s in ranked] == [("New Name", 70)]


def test_history_counts_wins_and_podiums() -> None:
    results = [("r1", "A", 1), ("r1", "B", 2), ("r1", "C", 3), ("r1", "D", 4),
               ("r2", "B", 1), ("r2", "A", 2), ("r3", "A", 1), ("r3", "D", 3)]
    assert [(r.player, r.wins, r.podiums) for r in history(results)] == [
        ("A", 2, 3), ("B", 1, 2), ("C", 0, 1), ("D", 0, 1)]


# -- the config ------------------------------------------------------------------------------

HEAD = ('timezone = "Europe/London"\n[webhooks.clan]\nurl = ""\n'
        '[[players]]\nname = "Zezima"\n[[players]]\nname = "Lynx Titan"\n')


def load(tmp_path, body: str):  # type: ignore[no-untyped-def]
    from poller.config import load_settings

    path = tmp_path / "osrs-notify.toml"
    path.write_text(HEAD + body)
    return load_settings(path, environ={})


def test_a_one_off_in_the_config_timezone(tmp_path) -> None:  # type: ignore[no-untyped-def]
    [c] = load(tmp_path, '[[competition]]\nname = "xmas"\nmetrics = ["vorkath", "zulrah"]\n'
                         'start = 2026-07-20T18:00:00\nend = "2026-07-27T18:00"\n'
                         'players = ["lynx_titan"]\n').competitions
    # 18:00 in London in July is 17:00 UTC.
    assert (c.start, c.end) == (datetime(2026, 7, 20, 17, tzinfo=UTC),
                                datetime(2026, 7, 27, 17, tzinfo=UTC))
    assert c.metrics == ("vorkath", "zulrah") and c.players == ("lynx titan",)
    assert c.webhooks == ("clan",) and c.reminders == (DAY, H) and not c.recurring


@pytest.mark.parametrize(("body", "message"), [
    ('name = "c"\nmetric = "fishng"\nevery = "week"\n',
     "competition[0].metric: unknown metric 'fishng'; did you mean fishing"),
    ('name = "c"\nmetric = "fishing"\nstart = 2026-12-07T18:00:00\nend = 2026-12-01T18:00:00\n',
     "competition[0].end: competition 'c' ends (2026-12-01 18:00:00) before it starts"),
    ('name = "c"\nmetric = "fishing"\nevery = "week"\nplayers = ["Nobody"]\n',
     "competition[0].players[0]: competition 'c': 'Nobody' is not a configured player"),
    ('name = "c"\nmetric = "random_skill"\nstart = 2026-12-07T18:00:00\n'
     'end = 2026-12-14T18:00:00\n', "random_skill picks one metric per round of a recurring"),
    ('name = "c"\nmetric = "fishing"\n', "competition 'c' needs start and end"),
    ('name = "c"\nevery = "week"\n', "competition 'c' needs one of metric or metrics"),
    ('name = "c"\nmetric = "fishing"\nevery = "week"\nstart = 2026-12-07T18:00:00\n',
     "competition[0].start: competition 'c' recurs every week"),
    ('name = "c"\nmetric = "fishing"\nevery = "week"\nreminder = ["1h"]\n',
     "competition[0].reminder: unknown key"),
    ('name = "c"\nmetric = "fishing"\nevery = "week"\nreminders = ["soon"]\n',
     "competition[0].reminders[0]: 'soon' is not a duration"),
    ('name = "c"\nmetric = "fishing"\nevery = "week"\nwebhooks = ["nope"]\n',
     "competition[0].webhooks[0]: competition 'c': no webhook named 'nope'"),
])
def test_config_errors_name_the_table(tmp_path, body: str, message: str) -> None:  # type: ignore[no-untyped-def]
    from poller.settings import ConfigError

    with pytest.raises(ConfigError) as error:
        load(tmp_path, "[[competition]]\n" + body)
    assert message in str(error.value)


def test_overlapping_competitions_on_one_metric_are_allowed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    body = ('[[competition]]\nname = "a"\nmetric = "fishing"\nevery = "week"\n'
            '[[competition]]\nname = "b"\nmetric = "fishing"\nstart = 2026-12-08T00:00:00\n'
            'end = 2026-12-09T00:00:00\n')
    assert [c.name for c in load(tmp_path, body).competitions] == ["a", "b"]


@pytest.mark.parametrize(("recurring", "first_seen", "expected"), [
    (True, START - DAY, True),  # seen before the round began: it runs
    (True, START + DAY, False),  # added mid-round: recurring ones wait for the next round
    (False, START + DAY, True),  # a one-off already started runs from then on
    (False, END + H, False),  # a one-off over before it was ever seen never runs
])
def test_which_rounds_run(recurring: bool, first_seen: datetime, expected: bool) -> None:
    from poller.competitions import watched

    comp = CompetitionSettings(name="c", metrics=("fishing",), every="week" if recurring
                               else None, start=None if recurring else START,
                               end=None if recurring else END)
    assert watched(comp, RND, first_seen) is expected
