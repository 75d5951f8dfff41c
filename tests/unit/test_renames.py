"""poller.renames: is a name that arrived in the config one that left, renamed? Tables of cases."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone

import pytest

from poller import game
from poller.hiscores import parse_json
from poller.renames import Decision, Seen, continuation, match_renames
from poller.snapshot import Snapshot

from support import hiscores_body

T0 = datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)


def snap(levels: Mapping[str, int] | None = None, acts: Mapping[str, int] | None = None,
         *, base: int = 70) -> Snapshot:
    """Every skill at ``base`` unless given, the listed activities ranked."""
    skills = {s: game.xp_for_level(base) for s in game.SKILLS}
    skills.update({s: game.xp_for_level(lv) for s, lv in (levels or {}).items()})
    return parse_json(hiscores_body(skills, acts or {}))


def unranked() -> Snapshot:
    """An account too small for the hiscores to rank even its overall xp."""
    body = hiscores_body({}, {})
    body["skills"][0].update(rank=-1, xp=-1)  # type: ignore[index]
    return parse_json(body)


MAIN = snap({"Attack": 80}, {"Zulrah": 500})
MAIN_LATER = snap({"Attack": 81}, {"Zulrah": 510})  # an hour's play later
SMALL = snap(base=30)
OTHER = snap({"Attack": 75}, {"Zulrah": 900})  # higher here, lower there: not MAIN
HUGE = snap(base=99, acts={"Zulrah": 500})  # no one plays 30 → 99 everywhere in a day


def old(name: str, snapshot: Snapshot, hours_ago: float = 1) -> Seen:
    return Seen(name, snapshot, T0 - timedelta(hours=hours_ago))


def new(name: str, snapshot: Snapshot) -> Seen:
    return Seen(name, snapshot, T0)


@pytest.mark.parametrize(
    ("departed", "arrived", "expected"),
    [
        pytest.param(
            [old("Old Name", MAIN)], [new("New Name", MAIN)],
            [Decision("renamed", "New Name", "Old Name", "the stats continue")],
            id="the same stats under a new name",
        ),
        pytest.param(
            [old("Old Name", MAIN)], [new("New Name", MAIN_LATER)],
            [Decision("renamed", "New Name", "Old Name", "the stats continue")],
            id="plausible progress in between",
        ),
        pytest.param(
            [old("Old Name", MAIN)], [new("Stranger", OTHER)],
            [Decision("fresh", "Stranger", None,
                      "not Old Name: Attack, Overall would have gone down")],
            id="a different account: some stats lower",
        ),
        pytest.param(
            [old("Old Name", SMALL, hours_ago=24)], [new("Big Main", HUGE)],
            [Decision("fresh", "Big Main", None, "not Old Name: gains need")],
            id="a different account: gains no one makes in the time",
        ),
        pytest.param(
            [old("Old Name", MAIN)], [new("Nobody", unranked())],
            [Decision("fresh", "Nobody", None, "not Old Name: overall xp is not ranked")],
            id="an unranked account proves nothing",
        ),
        pytest.param(
            [old("Lynx_Titan", MAIN)], [new("lynx titan", MAIN)],
            [Decision("respelled", "lynx titan", "Lynx_Titan",
                      "the same player: only the display name changes")],
            id="a case-only change is a display-name update",
        ),
        pytest.param(
            [], [new("Newcomer", MAIN)],
            [Decision("fresh", "Newcomer", None, "no player left the config")],
            id="nothing left: a plain new player",
        ),
        pytest.param(
            [old("Alpha", MAIN), old("Bravo", SMALL)],
            [new("Bravo New", snap(base=30)), new("Alpha New", MAIN_LATER)],
            [Decision("renamed", "Bravo New", "Bravo", "the stats continue"),
             Decision("renamed", "Alpha New", "Alpha", "the stats continue")],
            id="two left and two arrived: each takes the one it continues",
        ),
        pytest.param(
            [old("Alpha", MAIN)], [new("Copy One", MAIN), new("Copy Two", MAIN_LATER)],
            [Decision("renamed", "Copy One", "Alpha", "the stats continue"),
             Decision("fresh", "Copy Two", None,
                      "not Alpha: that name continues as Copy One")],
            id="one departure goes to one arrival only: the closest",
        ),
        pytest.param(
            [old("Small", SMALL), old("Alpha", MAIN)], [new("Alpha New", MAIN)],
            [Decision("renamed", "Alpha New", "Alpha", "the stats continue")],
            id="of two plausible names left, the closer one",
        ),
        pytest.param(
            [old("Alpha", MAIN), old("Gone", OTHER)],
            [new("Alpha New", MAIN), new("Stranger", SMALL)],
            [Decision("renamed", "Alpha New", "Alpha", "the stats continue"),
             Decision("fresh", "Stranger", None, "not Alpha: ")],
            id="several at once: a rename and a stranger",
        ),
    ],
)
def test_match_renames(
    departed: list[Seen], arrived: list[Seen], expected: list[Decision]
) -> None:
    got = match_renames(departed, arrived)
    assert [(d.kind, d.new, d.old) for d in got] == [(d.kind, d.new, d.old) for d in expected]
    for decision, want in zip(got, expected, strict=True):
        assert decision.reason.startswith(want.reason), decision.reason


def test_a_stranger_is_told_why_for_every_name_that_left() -> None:
    (decision,) = match_renames(
        [old("Alpha", MAIN), old("Gone", OTHER)], [new("Stranger", SMALL)]
    )
    assert decision.kind == "fresh"
    assert decision.reason.startswith("not Alpha: ") and "; not Gone: " in decision.reason


@pytest.mark.parametrize(
    ("before", "after", "hours_ago", "continues"),
    [
        (MAIN, MAIN, 1, True),
        (MAIN, MAIN_LATER, 1, True),
        (MAIN_LATER, MAIN, 1, False),  # went down
        (SMALL, HUGE, 24, False),  # too much in a day
        (SMALL, snap(base=31), 24, True),  # a level everywhere in a day: within the bound
        (MAIN, unranked(), 1, False),
    ],
)
def test_continuation(before: Snapshot, after: Snapshot, hours_ago: float, continues: bool) -> None:
    found = continuation(old("Old", before, hours_ago), new("New", after))
    assert (found.hours is not None) is continues, found.reason
