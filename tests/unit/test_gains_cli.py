"""`osrs-notify gains`, in process, over back-dated snapshots written through the store."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from poller import clock
from poller.game import OVERALL, xp_for_level
from poller.snapshot import Snapshot
from poller.store import PollRecord

from support import Run, config, db_store, players

NOW = datetime(2026, 12, 3, 12, tzinfo=timezone.utc)
BASE = 'database = "sqlite:///t.db"\ntimezone = "Europe/London"\n'


@pytest.fixture(autouse=True)
def env(main_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "utcnow", lambda: NOW)


def snap(attack: int, overall: int, acts: Mapping[str, int] | None = None) -> Snapshot:
    return Snapshot(skills={"Attack": xp_for_level(attack), OVERALL: overall},
                    activities=dict(acts or {}), overall_level=attack)


def write(tmp_path: Path, history: Mapping[str, list[tuple[float, Snapshot]]],
          anomalies: Mapping[tuple[str, float], str] | None = None) -> None:
    """Each player's (days before NOW, snapshot), stored as polls at those times."""
    with db_store(tmp_path) as store:
        store.sync_players([(name, "regular") for name in history], NOW - timedelta(days=60))
        ids = {p.name: p.id for p in store.active_players()}
        for name, points in history.items():
            for days, snapshot in points:
                why = (anomalies or {}).get((name, days))
                store.record_poll([PollRecord(
                    ids[name], NOW - timedelta(days=days), snapshot,
                    anomalies=[("Attack", 1, 0, why)] if why else (),
                )])


@pytest.fixture
def clan(tmp_path: Path) -> None:
    config(tmp_path, BASE + players("Alice", "Bob", "Carol", "Dave"))
    write(tmp_path, {
        "Alice": [(20, snap(60, 1_000_000, {"Vorkath": 100})),
                  (4, snap(62, 1_300_000, {"Vorkath": 130}))],
        "Bob": [(10, snap(50, 500_000)), (2, snap(55, 900_000, {"Vorkath": 50})),
                # a rollback on the last day: skipped, Bob's week ends on day 2
                (1, snap(40, 100_000))],
        "Carol": [(30, snap(70, 2_000_000))],  # nothing this week
        "Dave": [],  # configured, never polled
    }, anomalies={("Bob", 1): "rollback"})


def test_top_gainers_totals_and_no_gain(run: Callable[..., Run], clan: None) -> None:
    done = run("gains", "--since", "7d")
    assert done.code == 0, done
    lines = done.out.splitlines()
    assert lines[0] == "Overall gains, 2026-11-26 12:00 → 2026-12-03 12:00 (Europe/London)"
    assert lines[3].split() == ["1", "Bob", "400,000", "+5"]
    assert lines[4].split() == ["2", "Alice", "300,000", "+2"]
    assert "Clan total: 700,000 xp, +7 levels (2 players gained)" in done.out
    assert "No gain: Carol, Dave" in done.out


def test_bosses_count_unranked_starts_from_the_minimum(run: Callable[..., Run], clan: None) -> None:
    data = json.loads(run("gains", "--metric", "Vorkath", "--json").out)
    assert [(g["player"], g["gained"], g["levels"]) for g in data["gainers"]] == [
        ("Bob", 46, None), ("Alice", 30, None),  # Bob appeared at 50: from 4, not 0
    ]
    assert data["total"] == 76 and data["no_gain"] == ["Carol", "Dave"] and data["unit"] == "kills"
    assert data["since"] == "2026-11-26T12:00:00+00:00"


def test_top_and_a_longer_period(run: Callable[..., Run], clan: None) -> None:
    data = json.loads(run("gains", "--since", "2026-11-01", "--top", "1", "--json").out)
    assert [(g["player"], g["gained"]) for g in data["gainers"]] == [("Bob", 400_000)]
    # Alice's snapshot from day 20 is inside November: her month starts there.
    assert data["gaining_players"] == 2 and data["total"] == 700_000
    until = json.loads(run("gains", "--since", "30d", "--until", "5d", "--json").out)
    assert until["gainers"] == [] and until["total"] == 0


def test_calendar_periods(run: Callable[..., Run], clan: None) -> None:
    week = json.loads(run("gains", "--period", "week", "--json").out)
    assert week["since"] == "2026-11-30T00:00:00+00:00"  # Monday, London midnight (GMT)
    assert [g["player"] for g in week["gainers"]] == ["Bob"]  # Alice's day 4 was Sunday
    last = json.loads(run("gains", "--period", "week", "--previous", "--json").out)
    assert [g["player"] for g in last["gainers"]] == ["Alice"]
    sunday = json.loads(run("gains", "--period", "week", "--week-start", "sun", "--json").out)
    assert sorted(g["player"] for g in sunday["gainers"]) == ["Alice", "Bob"]


def test_one_player(run: Callable[..., Run], clan: None) -> None:
    done = run("gains", "--player", "alice")
    assert done.code == 0, done
    assert "Alice: rank 2 of 2" in done.out
    assert "  vorkath: +30" in done.out and "  bosses: +30" in done.out
    data = json.loads(run("gains", "--player", "Bob", "--json").out)
    assert data["rank"] == 1 and data["gains"]["vorkath"] == 46


def test_a_renamed_player_keeps_their_gains(
    run: Callable[..., Run], tmp_path: Path, clan: None
) -> None:
    assert run("players", "rename", "Alice", "Alicia").code == 0
    config(tmp_path, BASE + players("Alicia", "Bob", "Carol", "Dave"))
    data = json.loads(run("gains", "--json").out)
    assert ("Alicia", 300_000) in [(g["player"], g["gained"]) for g in data["gainers"]]


@pytest.mark.parametrize(("args", "message"), [
    (["--metric", "vorkth"], "unknown metric 'vorkth'; did you mean vorkath?"),
    (["--since", "last tuesday"], "'last tuesday' is not a time"),
    (["--since", "1d", "--until", "3d"], "before it starts"),
    (["--period", "week", "--since", "3d"], "--period cannot be combined"),
    (["--previous"], "--previous needs --period"),
    (["--period", "week", "--week-start", "funday"], "'funday' is not a weekday"),
    (["--player", "Zed"], "no player named 'Zed'"),
])
def test_user_errors_are_one_line(
    run: Callable[..., Run], clan: None, args: list[str], message: str
) -> None:
    done = run("gains", *args)
    assert done.code == 2 and message in done.err and done.err.count("\n") == 1, done


def test_weeks_begin_on_the_configured_day(
    run: Callable[..., Run], tmp_path: Path, clan: None
) -> None:
    config(tmp_path, BASE + 'week_start = "sunday"\n' + players("Alice", "Bob", "Carol", "Dave"))
    week = json.loads(run("gains", "--period", "week", "--json").out)
    assert week["since"] == "2026-11-29T00:00:00+00:00"
    monday = json.loads(run("gains", "--period", "week", "--week-start", "mon", "--json").out)
    assert monday["since"] == "2026-11-30T00:00:00+00:00"
    config(tmp_path, BASE + 'week_start = "sundae"\n' + players("Alice"))
    bad = run("gains", "--period", "week")
    assert bad.code == 2 and "week_start" in bad.err, bad
