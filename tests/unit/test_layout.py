"""A hiscores layout gaining rows floods nobody (issue #9, item 3).

When the game data gains a row the stored snapshots never had (a boss this release now knows,
or a row Jagex adds), the next poll must not announce "now on the hiscores at N" or every band
each player already meets: a metric absent from the previous snapshot's layout is a silent
baseline. Only a metric the previous snapshot knew as unranked can appear. Rows stored before
layouts existed (format 1) cannot tell the two apart, so against them every appearance is
silent; the first poll after the upgrade stores the layout, and from then on it is exact.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from poller import game
from poller.config import load_settings
from poller.errors import PlayerNotFound
from poller.events import Derivation, Event, derive
from poller.hiscores import parse_json
from poller.pipeline import RunReport, run_once
from poller.reference import high_water
from poller.rules import Rules
from poller.settings import Settings
from poller.snapshot import Snapshot, union_layouts
from poller.store import Store, open_store

from support import config as write_config
from support import hiscores_body
from support import players as players_toml

RULES = Rules()
# Rows a 2026-07 release knows that a 2026-01 hiscores answer did not have.
NEW_ROWS = ("Brutus", "Mad Angel", "Maggot King")
SKILLS = {"Cooking": game.xp_for_level(80), "Attack": game.xp_for_level(70)}


def body(acts: Mapping[str, int], *, without: tuple[str, ...] = (),
         skills: Mapping[str, int] = SKILLS) -> dict[str, Any]:
    """A real-shaped answer; ``without`` leaves rows out entirely (an older layout)."""
    doc: dict[str, Any] = hiscores_body(dict(skills), dict(acts))
    doc["activities"] = [r for r in doc["activities"] if r["name"] not in without]
    doc["skills"] = [r for r in doc["skills"] if r["name"] not in without]
    return doc


def stored(snapshot: Snapshot) -> Snapshot:
    """As the next poll sees it: through the database's encoding."""
    return Snapshot.decode(snapshot.encode())


def kinds(d: Derivation) -> list[tuple[str, str]]:
    return [(e.kind, e.metric) for e in d.events]


# -- parser + store encoding + derive ---------------------------------------------------------

LAYOUT_CASES = [
    # id, previous answer, current answer, expected (kind, metric) events
    ("new-rows-far-past-their-bands",
     body({"Vorkath": 600}, without=NEW_ROWS),
     body({"Vorkath": 600, "Brutus": 750, "Mad Angel": 12_000, "Maggot King": 5}), []),
    ("new-rows-beside-real-progress",
     body({"Vorkath": 480}, without=NEW_ROWS),
     body({"Vorkath": 520, "Brutus": 750}),
     [("boss", "Vorkath"), ("achievement", "500 Vorkath kills")]),
    ("unranked-row-appears",
     body({"Vorkath": 600}),
     body({"Vorkath": 600, "Brutus": 750}),
     [("boss", "Brutus"), ("achievement", "100 Brutus kills"),
      ("achievement", "500 Brutus kills")]),
    ("new-skill-row-at-99", body({}, without=("Sailing",)),
     body({}, skills={**SKILLS, "Sailing": game.XP_99}), []),
    ("unranked-skill-row-at-99", body({}),
     body({}, skills={**SKILLS, "Sailing": game.XP_99}), [("achievement", "99 Sailing")]),
    ("row-dropped-then-back-is-new-again",
     body({"Vorkath": 600}, without=("Brutus",)), body({"Vorkath": 600, "Brutus": 9_000}), []),
]


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [c[1:] for c in LAYOUT_CASES],
    ids=[c[0] for c in LAYOUT_CASES],
)
def test_a_layout_gaining_rows(
    before: dict[str, Any], after: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    prev, cur = stored(parse_json(json.dumps(before))), parse_json(json.dumps(after))
    assert prev.layout is not None and cur.layout is not None
    assert kinds(derive(prev, cur, RULES)) == expected


def test_the_layout_alone_makes_a_snapshot_new() -> None:
    """Same values, one more row: stored, so the next diff knows the row was there."""
    old = parse_json(body({"Vorkath": 600}, without=NEW_ROWS))
    new = parse_json(body({"Vorkath": 600}))
    assert dict(old.skills) == dict(new.skills) and dict(old.activities) == dict(new.activities)
    assert old != new
    assert derive(stored(old), new, RULES) == Derivation()
    assert parse_json(body({"Vorkath": 600})) == new  # and unchanged answers stay equal


def test_format_1_rows_make_every_appearance_silent_once() -> None:
    values = parse_json(body({"Vorkath": 600}))
    v1 = Snapshot(skills=values.skills, activities=values.activities,
                  overall_level=values.overall_level)  # as a release before layouts stored it
    assert v1.encode()[0] == 1 and stored(v1).layout is None
    after = parse_json(body({"Vorkath": 600, "Brutus": 750, "Zulrah": 12}))
    assert derive(stored(v1), after, RULES) == Derivation()
    # The row written now carries the layout: the next appearance is news again.
    later = parse_json(body({"Vorkath": 600, "Brutus": 750, "Zulrah": 12, "Yama": 40}))
    assert kinds(derive(stored(after), later, RULES)) == [("boss", "Yama")]


def test_high_water_keeps_the_rows_of_both_sides() -> None:
    a = parse_json(body({"Vorkath": 600}, without=NEW_ROWS))
    b = parse_json(body({"Vorkath": 500}, without=("Yama",)))
    merged = high_water(a, b)
    assert merged.layout == (a.layout or frozenset()) | (b.layout or frozenset())
    assert merged.score("Vorkath") == 600
    assert union_layouts(None, b.layout) is b.layout
    assert union_layouts(a.layout, None) is a.layout
    assert union_layouts(None, None) is None


# -- through the pipeline and the store --------------------------------------------------------

HOOK = "http://127.0.0.1:9/api/webhooks/1/faketoken1"


class BodyFetcher:
    """The hiscores seam: each player's scripted answer, parsed as the real client does (or a
    Snapshot handed over as is, for rows a release before layouts would have stored)."""

    def __init__(self) -> None:
        self.answers: dict[str, dict[str, Any] | Snapshot] = {}

    def fetch(self, name: str, mode: str = "regular", **_: object) -> Snapshot:
        if mode != "regular":  # regular accounts: every other board answers 404
            raise PlayerNotFound(f"{name!r}: not on the {mode} board")
        answer = self.answers[name]
        return answer if isinstance(answer, Snapshot) else parse_json(json.dumps(answer))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store("sqlite:///" + str(tmp_path / "t.db"))
    yield s
    s.close()


class World:
    def __init__(self, tmp_path: Path, store: Store, *names: str) -> None:
        self.settings: Settings = load_settings(write_config(tmp_path, (
            'database = "sqlite:///t.db"\n[poll]\nconcurrency = 1\n'
            f'[webhooks.clan]\nurl = "{HOOK}"\n' + players_toml(*names)
        )), environ={})
        self.store = store
        self.fetcher = BodyFetcher()
        self.t = datetime(2026, 7, 1, tzinfo=timezone.utc)

    def now(self) -> datetime:
        self.t += timedelta(hours=1)
        return self.t

    def poll(self, **answers: dict[str, Any] | Snapshot) -> RunReport:
        self.fetcher.answers.update(answers)
        return run_once(self.settings, self.store, self.fetcher, now=self.now)


def events(report: RunReport, name: str) -> list[Event]:
    return list(next(r for r in report.results if r.name == name).events)


def outcome(report: RunReport, name: str) -> str:
    return next(r for r in report.results if r.name == name).outcome


def test_a_release_learning_rows_floods_no_player(tmp_path: Path, store: Store) -> None:
    players = ("Alice", "Bob", "Cara")
    world = World(tmp_path, store, *players)
    # Cara's new rows alone hold more kills than 120 h of the fastest play: they are not a
    # gain since the last poll (plausibility must not refuse them), just rows we now read.
    kills = [{"Vorkath": 600, "Brutus": 60, "Mad Angel": 9_000, "Maggot King": 5},
             {"Brutus": 1_200}, {"Vorkath": 40, "Maggot King": 11_000, "Mad Angel": 9_000}]
    old = {p: body({k: v for k, v in ks.items() if k not in NEW_ROWS}, without=NEW_ROWS)
           for p, ks in zip(players, kills, strict=True)}
    first = world.poll(**old)
    assert [outcome(first, p) for p in players] == ["baseline"] * 3, first.results

    new = {p: body(ks) for p, ks in zip(players, kills, strict=True)}
    report = world.poll(**new)
    for p in players:
        assert events(report, p) == [], p
        assert store.counts()["anomaly"] == 0
        assert outcome(report, p) == "changed", p  # the layout alone: a new row is stored
    assert report.snapshots_added == 3

    again = world.poll(**new)
    assert again.snapshots_added == 0 and again.events == 0  # unchanged adds no row

    # From now on the rows are known: a kill count that grows is news as usual.
    grown = dict(kills[1], Brutus=1_250)
    report = world.poll(Bob=body(grown))
    assert [(e.kind, e.metric) for e in events(report, "Bob")] == [("boss", "Brutus")]


def test_upgrading_from_rows_without_layouts(tmp_path: Path, store: Store) -> None:
    world = World(tmp_path, store, "Dana")
    first = parse_json(body({"Vorkath": 600}))
    world.poll(Dana=Snapshot(skills=first.skills, activities=first.activities,
                             overall_level=first.overall_level))
    [(_, row)] = store.player_history("Dana")
    assert row.layout is None  # format 1, as every row written before this release

    # The first poll after the upgrade: nothing can be called an appearance, but the layout
    # is stored even though no value changed.
    report = world.poll(Dana=body({"Vorkath": 600}))
    assert outcome(report, "Dana") == "changed" and events(report, "Dana") == []
    assert store.player_history("Dana")[-1][1].layout is not None
    report = world.poll(Dana=body({"Vorkath": 600, "Zulrah": 12}))
    assert [(e.kind, e.metric, e.first) for e in events(report, "Dana")] == [
        ("boss", "Zulrah", True)
    ]


def test_a_stored_changed_snapshot_stays_under_a_kilobyte(tmp_path: Path, store: Store) -> None:
    world = World(tmp_path, store, "Eve")
    everything = {name: 10_000 + i for i, name in enumerate(game.ACTIVITIES)}
    maxed = {s: game.MAX_XP - i for i, s in enumerate(game.SKILLS)}
    world.poll(Eve=body(everything, skills=maxed))
    [(_, snap)] = store.player_history("Eve")
    assert snap.layout is not None and len(snap.encode()) < 1024
