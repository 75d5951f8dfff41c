"""pipeline.run_once / plan_player / reference.high_water: a fake fetcher, a real SQLite store.

The fetcher is scripted per player (a snapshot, or an error to raise); settings come from a
TOML file written to tmp_path, so routing, rules and ``missing_after`` are the real parser's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from poller import game, pipeline
from poller.config import load_settings
from poller.errors import HiscoresUnavailable, PlayerNotFound, ValidationError
from poller.events import Event
from poller.hiscores import parse_json
from poller.pipeline import PlayerResult, RunReport, run_once
from poller.reference import high_water
from poller.settings import Settings
from poller.snapshot import OVERALL, Snapshot
from poller.store import Store, open_store

from support import config as write_config
from support import hiscores_body, sqlite_dump
from support import players as players_toml

T0 = datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)
HOOK = "http://127.0.0.1:9/api/webhooks/{id}/faketoken{id}"

BASE_LEVEL = 50


def snap(levels: Mapping[str, int] | None = None, acts: Mapping[str, int] | None = None,
         *, xp: Mapping[str, int] | None = None) -> Snapshot:
    """A player as the real parser sees a real-shaped body: every skill at 50 unless given
    (as a level or as xp), the listed activities ranked, everything else unranked."""
    skills = {s: game.xp_for_level(BASE_LEVEL) for s in game.SKILLS}
    skills.update({s: game.xp_for_level(lv) for s, lv in (levels or {}).items()})
    skills.update(xp or {})
    return parse_json(hiscores_body(skills, acts or {}))


class FakeFetcher:
    """``fetch(name, mode)`` from a script: a Snapshot is returned, an exception raised.

    As on the real hiscores, a scripted player is on the regular board only, unless ``boards``
    lists other boards for them: every other board answers 404."""

    def __init__(self, script: Mapping[str, Snapshot | BaseException] | None = None) -> None:
        self.script: dict[str, Snapshot | BaseException] = dict(script or {})
        self.boards: dict[str, set[str]] = {}
        self.calls: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def fetch(self, name: str, mode: str = "regular", **_: object) -> Snapshot:
        with self._lock:
            self.calls.append((name, mode))
        reply = self.script.get(name)
        if mode != "regular" and mode not in self.boards.get(name, ()):
            raise PlayerNotFound(f"{name!r}: not on the {mode} board")
        if reply is None:
            raise PlayerNotFound(f"{name!r}: not scripted")
        if isinstance(reply, BaseException):
            raise reply
        return reply


class Clock:
    """A ``now`` for run_once: one minute later on every call."""

    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> datetime:
        self.t += timedelta(minutes=1)
        return self.t


def settings_from(tmp_path: Path, body: str) -> Settings:
    return load_settings(write_config(tmp_path, body), environ={})


SIMPLE = (
    'database = "sqlite:///t.db"\n'
    "[poll]\nconcurrency = 1\nmissing_after = 3\n"
    f'[webhooks.clan]\nurl = "{HOOK.format(id=1)}"\n'
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store("sqlite:///" + str(tmp_path / "t.db"))
    yield s
    s.close()


class Poller:
    """run_once with one clock, settings and fetcher across polls."""

    def __init__(self, settings: Settings, store: Store, fetcher: FakeFetcher) -> None:
        self.settings, self.store, self.fetcher = settings, store, fetcher
        self.clock = Clock()

    def __call__(self, **script: Snapshot | BaseException) -> RunReport:
        self.fetcher.script.update(script)
        return run_once(self.settings, self.store, self.fetcher, now=self.clock)

    def dry(self, **script: Snapshot | BaseException) -> RunReport:
        self.fetcher.script.update(script)
        return run_once(self.settings, self.store, self.fetcher, now=self.clock, dry_run=True)


def make_poller(tmp_path: Path, store: Store, body: str) -> Poller:
    return Poller(settings_from(tmp_path, body), store, FakeFetcher())


def result(report: RunReport, name: str) -> PlayerResult:
    return next(r for r in report.results if r.name == name)


def kinds(res: PlayerResult) -> list[tuple[str, str]]:
    return [(e.kind, e.metric) for e in res.events]


# -- baseline and unchanged -----------------------------------------------------------------------


def test_first_poll_is_a_silent_baseline_and_stores_the_snapshot(
    tmp_path: Path, store: Store
) -> None:
    poll = make_poller(tmp_path, store, SIMPLE + players_toml("Alice"))
    maxed = snap({s: 99 for s in game.SKILLS}, {"Vorkath": 5_000, "Clue Scrolls (all)": 900})

    report = poll(Alice=maxed)

    assert [(r.name, r.outcome) for r in report.results] == [("Alice", "baseline")]
    assert report.events == 0 and report.exit_code == 0
    assert report.added_players == ("Alice",)
    assert (report.snapshots_added, report.events_added, report.deliveries_added) == (1, 0, 0)
    counts = store.counts()
    assert (counts["snapshot"], counts["event"], counts["delivery"]) == (1, 0, 0)
    [(_, stored)] = store.player_history("Alice")
    assert stored == maxed
    st = store.get_player("Alice")
    assert st is not None and st.last_polled_at is not None and st.last_error is None


def test_an_unchanged_poll_adds_no_snapshot_and_no_events(tmp_path: Path, store: Store) -> None:
    poll = make_poller(tmp_path, store, SIMPLE + players_toml("Alice"))
    first = snap({"Attack": 70})
    poll(Alice=first)
    before = store.counts()
    # Same stats, different ranks (others played meanwhile): still unchanged.
    again = parse_json(hiscores_body({s: first.skills[s] for s in game.SKILLS}, {}))
    report = poll(Alice=again)

    assert result(report, "Alice").outcome == "unchanged"
    assert report.events == 0 and report.snapshots_added == 0
    assert store.counts() == before
    st = store.get_player("Alice")
    assert st is not None and st.last_polled_at is not None and st.last_polled_at > T0


# -- level-ups and routing ------------------------------------------------------------------------

ROUTING = (
    'database = "sqlite:///t.db"\n'
    "[poll]\nconcurrency = 2\n"
    f'[webhooks.clan]\nurl = "{HOOK.format(id=1)}"\n'
    f'[webhooks.ach]\nurl = "{HOOK.format(id=2)}"\nevents = ["achievement"]\n'
    f'[webhooks.solo]\nurl = "{HOOK.format(id=3)}"\nplayers = ["Bob"]\n'
    f'[webhooks.noalice]\nurl = "{HOOK.format(id=4)}"\nexclude = ["Alice"]\n'
    # No URL: nothing may be queued for it (stale news the day a URL is added).
    '[webhooks.unset]\nurl = ""\n'
    + players_toml("Alice", "Carol")
    + '\n[[players]]\nname = "Bob"\nwebhooks = ["solo"]\n'
)


@pytest.fixture
def routed(tmp_path: Path, store: Store) -> RunReport:
    """Alice, Bob and Carol each take Attack from 98 to 99 (a level-up and an achievement)."""
    poll = make_poller(tmp_path, store, ROUTING)
    before = snap({"Attack": 98})
    after = snap({"Attack": 99})
    poll(Alice=before, Bob=before, Carol=before)
    return poll(Alice=after, Bob=after, Carol=after)


@pytest.mark.parametrize(
    ("player", "kind", "hooks"),
    [
        # noalice excludes her, solo is Bob's, ach takes none; "unset" has no URL yet: its
        # messages are queued all the same, held until it is set (never dropped).
        ("Alice", "levelup", ("clan", "unset")),
        ("Alice", "achievement", ("clan", "ach", "unset")),
        ("Carol", "levelup", ("clan", "noalice", "unset")),
        ("Carol", "achievement", ("clan", "ach", "noalice", "unset")),
        ("Bob", "levelup", ("solo",)),  # his own webhooks list wins over the "*" ones
        ("Bob", "achievement", ("solo",)),
    ],
)
def test_level_ups_are_queued_to_the_webhooks_that_take_them(
    routed: RunReport, player: str, kind: str, hooks: tuple[str, ...]
) -> None:
    res = result(routed, player)
    assert res.outcome == "changed"
    queued = [q for q in res.queued if q.event.kind == kind]
    assert queued, f"no {kind} event for {player}: {kinds(res)}"
    for q in queued:
        assert q.webhooks == hooks


def test_level_up_events_and_their_deliveries_are_stored(routed: RunReport, store: Store) -> None:
    for name in ("Alice", "Bob", "Carol"):
        res = result(routed, name)
        assert Event("levelup", "Attack", 98, 99, 99, milestone=True) in res.events
        assert ("achievement", "99 Attack") in kinds(res)
    pending = store.pending_deliveries(T0 + timedelta(days=1))
    by_hook: dict[str, set[tuple[str | None, str]]] = {}
    for d in pending:
        by_hook.setdefault(d.webhook, set()).add((d.player_name, d.kind))
    assert set(by_hook) == {"clan", "ach", "solo", "noalice", "unset"}  # "unset": held later
    assert {k for _, k in by_hook["ach"]} == {"achievement"}
    assert {p for p, _ in by_hook["solo"]} == {"Bob"}
    assert "Alice" not in {p for p, _ in by_hook["noalice"]}
    assert "Bob" not in {p for p, _ in by_hook["clan"]}
    expected = sum(len(q.webhooks) for r in routed.results for q in r.queued)
    assert len(pending) == expected == routed.deliveries_added
    assert routed.events_added == routed.events == store.counts()["event"]


def test_a_jump_announces_the_highest_threshold_crossed_once(
    tmp_path: Path, store: Store
) -> None:
    body = SIMPLE + "[rules]\nlevels = { every = 5, every_from = 95 }\n" + players_toml("Alice")
    poll = make_poller(tmp_path, store, body)
    poll(Alice=snap({"Attack": 68}))
    report = poll(Alice=snap({"Attack": 71}))
    levelups = [e for e in result(report, "Alice").events if e.kind == "levelup"]
    assert levelups == [Event("levelup", "Attack", 68, 71, 70)]


# -- payloads -------------------------------------------------------------------------------------


def test_payloads_carry_player_combat_total_level_and_time(tmp_path: Path, store: Store) -> None:
    poll = make_poller(tmp_path, store, SIMPLE + players_toml("Lynx_Titan"))
    poll(Lynx_Titan=snap({"Attack": 80, "Strength": 80}))
    after = snap({"Attack": 81, "Strength": 80})
    report = poll(Lynx_Titan=after)

    res = result(report, "Lynx_Titan")
    assert res.queued
    levels = {k: v for k, v in game.levels_from_snapshot(after).items() if v is not None}
    stored = {e.payload["metric"]: e.payload for e in store.recent_events("Lynx_Titan")}
    for q in res.queued:
        p = q.notice.to_json()
        assert stored[p["metric"]] == p  # what the outbox holds
        assert p["player"] == "Lynx_Titan"
        assert p["mode"] == "regular"
        assert p["kind"] == q.event.kind and p["metric"] == q.event.metric
        assert p["combat"] == game.combat_level(levels)
        assert p["total_level"] == after.overall_level == 50 * 22 + 81 + 80
        assert p["overall_xp"] == after.overall_xp
        taken = datetime.fromisoformat(str(p["taken_at"]))
        assert report.started_at < taken < report.finished_at
        assert stored[p["metric"]] == dict(p)  # the outbox holds exactly what was planned


# -- failures -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (HiscoresUnavailable("hiscores sent an HTML page"), "unavailable"),
        (ValidationError("hiscores JSON lacks 'skills'"), "invalid"),
        (RuntimeError("bug in a parser"), "invalid"),
        (KeyError("Sailing"), "invalid"),
    ],
)
def test_one_players_failure_does_not_stop_the_others(
    tmp_path: Path, store: Store, error: BaseException, outcome: str
) -> None:
    body = SIMPLE.replace("concurrency = 1", "concurrency = 3") + players_toml("Ann", "Bea", "Cid")
    poll = make_poller(tmp_path, store, body)
    poll(Ann=snap({"Attack": 60}), Bea=snap(), Cid=snap({"Attack": 60}))
    before = store.get_player("Bea")

    report = poll(Ann=snap({"Attack": 61}), Bea=error, Cid=snap({"Attack": 61}))

    assert {r.name: r.outcome for r in report.results} == {
        "Ann": "changed", "Bea": outcome, "Cid": "changed",
    }
    assert report.exit_code == 1
    assert [r.name for r in report.failed] == ["Bea"]
    bea = result(report, "Bea")
    assert bea.events == () and bea.error and "\n" not in bea.error
    for name in ("Ann", "Cid"):
        assert ("levelup", "Attack") in kinds(result(report, name))
    assert store.counts()["snapshot"] == 3 + 2
    after = store.get_player("Bea")
    assert after is not None and before is not None
    assert after.last_snapshot == before.last_snapshot  # the last good snapshot is kept
    assert after.last_error == bea.error


def test_all_good_exits_zero_and_not_found_is_not_a_failure(tmp_path: Path, store: Store) -> None:
    poll = make_poller(tmp_path, store, SIMPLE + players_toml("Ann", "Gone"))
    report = poll(Ann=snap(), Gone=PlayerNotFound("404"))
    assert {r.name: r.outcome for r in report.results} == {"Ann": "baseline", "Gone": "not_found"}
    assert report.exit_code == 0


# -- presence: not found, missing, back -----------------------------------------------------------


def test_not_found_streak_announces_missing_once_then_back_once(
    tmp_path: Path, store: Store
) -> None:
    poll = make_poller(tmp_path, store, SIMPLE + players_toml("Zezima"))
    poll(Zezima=snap({"Attack": 70}))
    gone = PlayerNotFound("404")

    seen: list[list[tuple[str, str]]] = []
    for _ in range(5):
        seen.append(kinds(result(poll(Zezima=gone), "Zezima")))
    # An outage in the middle neither counts as "not found" nor resets the streak.
    outage = result(poll(Zezima=HiscoresUnavailable("503")), "Zezima")
    assert outage.events == ()
    state = store.get_player("Zezima")
    assert state is not None and (state.status, state.not_found_streak) == ("missing", 5)

    assert seen == [[], [], [("player", "missing")], [], []]  # missing_after = 3
    back = poll(Zezima=snap({"Attack": 70}))
    assert kinds(result(back, "Zezima")) == [("player", "back")]
    assert result(back, "Zezima").outcome == "unchanged"
    again = poll(Zezima=snap({"Attack": 70}))
    assert kinds(result(again, "Zezima")) == []
    state = store.get_player("Zezima")
    assert state is not None and (state.status, state.not_found_streak) == ("ok", 0)
    stored = [(e.kind, e.payload["metric"]) for e in store.recent_events("Zezima")]
    assert sorted(stored) == [("player", "back"), ("player", "missing")]


def test_a_missing_event_is_routed_and_carries_the_streak(tmp_path: Path, store: Store) -> None:
    body = SIMPLE.replace("missing_after = 3", "missing_after = 1") + players_toml("Zezima")
    poll = make_poller(tmp_path, store, body)
    poll(Zezima=snap())
    res = result(poll(Zezima=PlayerNotFound("404")), "Zezima")
    [q] = res.queued
    assert q.event == Event("player", "missing", new=1)
    assert q.webhooks == ("clan",)
    assert q.notice.player is not None and q.notice.player.name == "Zezima"
    assert q.notice.total_level == snap().overall_level
    assert res.error is not None and "1/1" in res.error


def test_a_short_not_found_streak_is_forgotten_when_found(tmp_path: Path, store: Store) -> None:
    poll = make_poller(tmp_path, store, SIMPLE + players_toml("Zezima"))
    poll(Zezima=snap())
    poll(Zezima=PlayerNotFound("404"))
    poll(Zezima=PlayerNotFound("404"))
    assert kinds(result(poll(Zezima=snap()), "Zezima")) == []
    poll(Zezima=PlayerNotFound("404"))
    poll(Zezima=PlayerNotFound("404"))  # 2 in a row again, not 4: no "missing"
    state = store.get_player("Zezima")
    assert state is not None and (state.status, state.not_found_streak) == ("ok", 2)
    assert store.counts()["event"] == 0


# -- rollbacks and the high-water mark ------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after", "metric"),
    [
        (snap({"Attack": 70}), snap({"Attack": 69}, {"Vorkath": 100}), "Attack"),
        (snap(xp={"Attack": 737_627}), snap(xp={"Attack": 737_626}), "Attack"),  # by 1 xp
        (snap(acts={"Vorkath": 120}), snap({"Attack": 90}, {"Vorkath": 119}), "Vorkath"),
        (snap(acts={"Clue Scrolls (all)": 300}), snap(acts={"Clue Scrolls (all)": 10}),
         "Clue Scrolls (all)"),
    ],
    ids=["level", "one-xp", "boss", "clues"],
)
def test_any_decrease_is_an_anomaly_with_no_events(
    tmp_path: Path, store: Store, before: Snapshot, after: Snapshot, metric: str
) -> None:
    poll = make_poller(tmp_path, store, SIMPLE + players_toml("Roll"))
    poll(Roll=before)
    report = poll(Roll=after)

    res = result(report, "Roll")
    assert res.outcome == "anomaly" and res.events == () and res.anomalies >= 1
    assert report.exit_code == 0 and report.events_added == 0
    rows = store.anomalies("Roll")
    assert metric in {a.metric for a in rows}
    row = next(a for a in rows if a.metric == metric)
    src = before.skills if metric in before.skills else before.activities
    dst = after.skills if metric in after.skills else after.activities
    assert (row.old, row.new) == (src[metric], dst[metric])
    # The lower values are stored: they are what the next poll is compared with.
    assert store.player_history("Roll")[-1][1] == after
    assert store.counts()["event"] == 0


def test_after_a_rollback_only_new_highs_are_announced(tmp_path: Path, store: Store) -> None:
    poll = make_poller(tmp_path, store, SIMPLE + players_toml("Roll"))
    poll(Roll=snap({"Attack": 80}, {"Vorkath": 150}))
    assert result(poll(Roll=snap({"Attack": 75}, {"Vorkath": 90})), "Roll").outcome == "anomaly"

    # Re-earning up to the old marks announces nothing (no level-ups, no KC milestones).
    for level, kc in ((77, 100), (80, 150)):
        res = result(poll(Roll=snap({"Attack": level}, {"Vorkath": kc})), "Roll")
        assert res.outcome == "changed" and res.events == (), (level, kc, kinds(res))

    # Above the mark: only the thresholds past it.
    res = result(poll(Roll=snap({"Attack": 82}, {"Vorkath": 210})), "Roll")
    assert [e for e in res.events if e.kind == "levelup"] == [
        Event("levelup", "Attack", 80, 82, 82)
    ]
    assert [e for e in res.events if e.kind == "boss"] == [
        Event("boss", "Vorkath", 150, 210, 200)
    ]
    assert {a.metric for a in store.anomalies("Roll")} == {OVERALL, "Attack", "Vorkath"}


def test_a_gain_elsewhere_during_the_rollback_recovery_is_announced(
    tmp_path: Path, store: Store
) -> None:
    poll = make_poller(tmp_path, store, SIMPLE + players_toml("Roll"))
    poll(Roll=snap({"Attack": 80}))
    poll(Roll=snap({"Attack": 75}))
    res = result(poll(Roll=snap({"Attack": 76, "Strength": 51})), "Roll")
    assert [e for e in res.events if e.kind == "levelup"] == [
        Event("levelup", "Strength", 50, 51, 51)
    ]


@pytest.mark.parametrize("rating", ["LMS - Rank", "PvP Arena - Rank"])
def test_a_rating_going_down_is_not_an_anomaly(
    tmp_path: Path, store: Store, rating: str
) -> None:
    poll = make_poller(tmp_path, store, SIMPLE + players_toml("Pker"))
    poll(Pker=snap(acts={rating: 1_500}))
    res = result(poll(Pker=snap({"Attack": 51}, {rating: 1_200})), "Pker")
    assert res.outcome == "changed" and res.anomalies == 0
    assert ("levelup", "Attack") in kinds(res)
    assert store.counts()["anomaly"] == 0
    # And the next rise is judged from the new (lower) rating, not a high-water mark.
    st = store.get_player("Pker")
    assert st is not None and st.reference is not None
    assert st.reference.activities[rating] == 1_200


# -- dry run --------------------------------------------------------------------------------------


def test_dry_run_writes_nothing_but_returns_what_would_be_queued(
    tmp_path: Path, store: Store
) -> None:
    poll = make_poller(tmp_path, store, SIMPLE + players_toml("Alice", "Gone"))
    poll(Alice=snap({"Attack": 70}), Gone=PlayerNotFound("404"))
    # A new player appears in the config; the old ones are still there.
    poll.settings = settings_from(tmp_path, SIMPLE + players_toml("Alice", "Gone", "Newbie"))
    counts, players, dump = store.counts(), store.all_players(), sqlite_dump(tmp_path / "t.db")

    report = poll.dry(Alice=snap({"Attack": 71}), Gone=PlayerNotFound("404"), Newbie=snap())

    assert report.dry_run
    assert {r.name: r.outcome for r in report.results} == {
        "Alice": "changed", "Gone": "not_found", "Newbie": "baseline",
    }
    alice = result(report, "Alice")
    assert ("levelup", "Attack") in kinds(alice)
    assert all(q.webhooks == ("clan",) for q in alice.queued)
    assert (report.snapshots_added, report.events_added, report.deliveries_added) == (0, 0, 0)
    assert report.added_players == ()
    assert store.counts() == counts
    assert store.all_players() == players
    assert store.get_player("Newbie") is None
    assert sqlite_dump(tmp_path / "t.db") == dump
    assert ("Newbie", "regular") in poll.fetcher.calls  # fetched all the same


def test_dry_run_on_an_empty_database_adds_no_players(tmp_path: Path, store: Store) -> None:
    poll = make_poller(tmp_path, store, SIMPLE + players_toml("Alice", "Bob"))
    report = poll.dry(Alice=snap(), Bob=snap())
    assert [r.outcome for r in report.results] == ["baseline", "baseline"]
    assert store.all_players() == []
    assert set(store.counts().values()) == {0}


# -- batches --------------------------------------------------------------------------------------


def test_every_batch_is_recorded(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "BATCH_SIZE", 2)
    names = [f"P{i}" for i in range(7)]
    poll = make_poller(tmp_path, store, SIMPLE + players_toml(*names))
    batches: list[int] = []
    real = store.record_poll

    def spy(records):  # type: ignore[no-untyped-def]
        batches.append(len(records))
        return real(records)

    monkeypatch.setattr(store, "record_poll", spy)

    first = poll(**{n: snap() for n in names})
    assert batches == [2, 2, 2, 1]
    assert first.snapshots_added == 7 and len(first.results) == 7
    second = poll(**{n: snap({"Attack": 51}) for n in names})
    assert second.snapshots_added == 7
    assert second.events_added == second.events == store.counts()["event"] >= 7
    assert all(("levelup", "Attack") in kinds(r) for r in second.results)
    assert store.counts()["snapshot"] == 14
    assert all(p.last_polled_at is not None for p in store.all_players())


# -- high_water -----------------------------------------------------------------------------------


def S(skills: Mapping[str, int] | None = None, acts: Mapping[str, int] | None = None,
      level: int | None = None, ranks: Mapping[str, int] | None = None) -> Snapshot:
    return Snapshot(skills=dict(skills or {}), activities=dict(acts or {}), overall_level=level,
                    ranks=dict(ranks or {}))


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (S({"Attack": 100}), S({"Attack": 90}), S({"Attack": 100})),
        (S({"Attack": 90}), S({"Attack": 100}), S({"Attack": 100})),
        (S({"Attack": 100, OVERALL: 500}), S({"Attack": 90, OVERALL: 600}),
         S({"Attack": 100, OVERALL: 600})),
        (S(acts={"Vorkath": 50}), S(acts={"Vorkath": 40}), S(acts={"Vorkath": 50})),
        # Ratings take the newest value, up or down.
        (S(acts={"LMS - Rank": 900}), S(acts={"LMS - Rank": 700}), S(acts={"LMS - Rank": 700})),
        (S(acts={"PvP Arena - Rank": 700}), S(acts={"PvP Arena - Rank": 900}),
         S(acts={"PvP Arena - Rank": 900})),
        # Known on one side only: kept (unknown is not zero).
        (S({"Attack": 100}, {"Zulrah": 5}), S({"Magic": 7}), S({"Attack": 100, "Magic": 7},
                                                                {"Zulrah": 5})),
        (S(), S({"Attack": 1}, {"Zulrah": 5}), S({"Attack": 1}, {"Zulrah": 5})),
        # Names outside the game tables are treated as counts.
        (S(acts={"New Boss": 9}), S(acts={"New Boss": 3}), S(acts={"New Boss": 9})),
        # Overall level: the higher known one.
        (S(level=1500), S(level=1400), S(level=1500)),
        (S(level=None), S(level=1400), S(level=1400)),
        (S(level=1500), S(level=None), S(level=1500)),
        (S(), S(), S()),
    ],
)
def test_high_water(a: Snapshot, b: Snapshot, expected: Snapshot) -> None:
    merged = high_water(a, b)
    assert merged == expected
    assert (dict(merged.skills), dict(merged.activities)) == (
        dict(expected.skills), dict(expected.activities),
    )


def test_high_water_keeps_the_newest_ranks_and_leaves_inputs_alone() -> None:
    a = S({"Attack": 100}, ranks={"Attack": 5})
    b = S({"Attack": 90}, ranks={"Attack": 9})
    merged = high_water(a, b)
    assert dict(merged.ranks) == {"Attack": 9}
    assert a == S({"Attack": 100}) and b == S({"Attack": 90})


# -- plan_player directly -------------------------------------------------------------------------


def _state(store: Store, name: str):  # type: ignore[no-untyped-def]
    [st] = [p for p in store.active_players() if p.name == name]
    return st


def test_plan_player_is_pure_and_builds_the_poll_record(tmp_path: Path, store: Store) -> None:
    poll = make_poller(tmp_path, store, SIMPLE + players_toml("Alice"))
    poll(Alice=snap({"Attack": 70}))
    st = _state(store, "Alice")
    counts = store.counts()
    now = T0 + timedelta(hours=5)
    routes: list[tuple[str, str]] = []

    def route(kind: str, player: str) -> tuple[str, ...]:
        routes.append((kind, player))
        return ("x",)

    fetched = pipeline._Fetched(st, snapshot=snap({"Attack": 71}))
    res, rec = pipeline.plan_player(fetched, settings=poll.settings, now=now, route=route)

    assert store.counts() == counts
    assert res.outcome == "changed" and ("levelup", "Attack") in kinds(res)
    assert rec.player_id == st.id and rec.taken_at == now
    assert rec.snapshot == snap({"Attack": 71}) and rec.reference == rec.snapshot
    planned = [(q.event.kind, ("x",)) for q in res.queued]
    assert [(o.kind, o.webhooks) for o in rec.outbox] == planned
    assert {p for _, p in routes} == {"Alice"}
    assert (rec.status, rec.not_found_streak, rec.error) == ("ok", 0, None)


@pytest.mark.parametrize(
    ("error", "outcome", "streak"),
    [
        (PlayerNotFound("404"), "not_found", 1),
        (HiscoresUnavailable("503"), "unavailable", None),
        (ValidationError("bad"), "invalid", None),
        (ZeroDivisionError("division by zero"), "invalid", None),
    ],
)
def test_plan_player_on_errors_keeps_the_snapshot(
    tmp_path: Path, store: Store, error: BaseException, outcome: str, streak: int | None
) -> None:
    poll = make_poller(tmp_path, store, SIMPLE + players_toml("Alice"))
    poll(Alice=snap())
    st = _state(store, "Alice")
    res, rec = pipeline.plan_player(
        pipeline._Fetched(st, error=error), settings=poll.settings, now=T0,
        route=poll.settings.route,
    )
    assert res.outcome == outcome and res.events == ()
    assert rec.snapshot is None and rec.reference is None and rec.outbox == ()
    assert rec.not_found_streak == streak
    assert res.error and rec.error == res.error


# -- misc -----------------------------------------------------------------------------------------


def test_players_removed_from_the_config_are_not_polled(tmp_path: Path, store: Store) -> None:
    poll = make_poller(tmp_path, store, SIMPLE + players_toml("Alice", "Bob"))
    poll(Alice=snap(), Bob=snap())
    poll.settings = settings_from(tmp_path, SIMPLE + players_toml("Alice"))
    poll.fetcher.calls.clear()
    report = poll(Alice=snap())
    assert report.removed_players == ("Bob",)
    assert [n for n, _ in poll.fetcher.calls] == ["Alice"]


def test_modes_reach_the_fetcher(tmp_path: Path, store: Store) -> None:
    body = SIMPLE + '\n[[players]]\nname = "Iron Al"\nmode = "ironman"\n'
    poll = make_poller(tmp_path, store, body)
    poll.fetcher.boards["Iron Al"] = {"ironman"}
    poll(**{"Iron Al": snap()})
    assert poll.fetcher.calls == [("Iron Al", "ironman")]


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_renamed_player_is_routed_as_the_config_entry_until_the_config_follows(
    tmp_path: Path, store: Store, dry_run: bool
) -> None:
    hooks = (
        f'[webhooks.solo]\nurl = "{HOOK.format(id=3)}"\nplayers = ["Alice"]\n'
        f'[webhooks.public]\nurl = "{HOOK.format(id=4)}"\nexclude = ["Alice"]\n'
    )
    own = '\n[[players]]\nname = "Alice"\nwebhooks = ["solo"]\n'
    poll = make_poller(tmp_path, store, SIMPLE + hooks + own + players_toml("Bob"))
    poll(Alice=snap(), Bob=snap())
    store.rename_player("Alice", "Alicia", T0)

    # The config still says Alice: her events must not reach `public` (which excludes her)
    # or `clan` (she asked for `solo` only).
    run = poll.dry if dry_run else poll
    report = run(Alicia=snap({"Attack": 51}), Bob=snap({"Attack": 51}))
    alicia = result(report, "Alicia")
    assert alicia.outcome == "changed" and alicia.queued
    assert {q.webhooks for q in alicia.queued} == {("solo",)}
    assert all(q.notice.to_json()["player"] == "Alicia" for q in alicia.queued)
    assert {q.webhooks for q in result(report, "Bob").queued} == {("clan", "public")}
    assert ("Alicia", "regular") in poll.fetcher.calls


# -- trust: implausible gains, rollbacks with real gains, new accounts, never-found names -------

M = 1_000_000


@pytest.mark.parametrize(
    "jump",
    [
        pytest.param({"Runecraft": 100 * M}, id="one skill to 100M"),
        pytest.param({"Ranged": 60 * M, "Cooking": 40 * M, "Construction": 50 * M},
                     id="three skills by tens of millions"),
    ],
)
def test_an_implausible_snapshot_is_refused_and_the_next_is_judged_against_the_trusted_one(
    tmp_path: Path, store: Store, jump: dict[str, int]
) -> None:
    poll = make_poller(tmp_path, store, SIMPLE + players_toml("Taken"))
    trusted = snap({"Runecraft": 90, "Magic": 65})
    poll(Taken=trusted)

    res = result(poll(Taken=snap({"Runecraft": 90, "Magic": 65}, xp=jump)), "Taken")
    assert res.outcome == "anomaly" and res.events == ()
    assert res.note is not None and "fastest play" in res.note
    # Not stored, never a reference: the trusted snapshot is still the last one.
    st = store.get_player("Taken")
    assert st is not None and st.last_snapshot == trusted and st.reference == trusted
    rows = store.anomalies("Taken")
    assert {a.metric for a in rows} == set(jump)
    assert all(a.reason and "fastest play" in a.reason for a in rows)

    # The next plausible answer is news against the trusted snapshot, once.
    res = result(poll(Taken=snap({"Runecraft": 90, "Magic": 66})), "Taken")
    assert kinds(res) == [("levelup", "Magic")]
    assert store.counts()["event"] == 1


def test_a_rollback_snapshot_with_real_gains_announces_them_once_trusted_again(
    tmp_path: Path, store: Store
) -> None:
    poll = make_poller(tmp_path, store, SIMPLE + players_toml("Roll"))
    poll(Roll=snap({"Attack": 80, "Magic": 65}))
    # Attack rolled back, and Magic 65 → 66 in the same snapshot: nothing derived from it.
    res = result(poll(Roll=snap({"Attack": 78, "Magic": 66})), "Roll")
    assert res.outcome == "anomaly" and res.events == ()
    assert {a.reason for a in store.anomalies("Roll")} == {"rollback"}
    # The next poll finds nothing lower: the data is trusted again, Magic 66 is news.
    res = result(poll(Roll=snap({"Attack": 78, "Magic": 66})), "Roll")
    assert kinds(res) == [("levelup", "Magic")]
    # ... exactly once; re-earning the rolled-back Attack levels is never news.
    for level in (79, 80):
        res = result(poll(Roll=snap({"Attack": level, "Magic": 66})), "Roll")
        assert res.events == (), level
    res = result(poll(Roll=snap({"Attack": 81, "Magic": 66})), "Roll")
    assert [(e.kind, e.metric, e.old, e.new) for e in res.events if e.kind == "levelup"] == [
        ("levelup", "Attack", 80, 81)
    ]
    levelups = [e.payload["metric"] for e in store.recent_events("Roll") if e.kind == "levelup"]
    assert sorted(levelups) == ["Attack", "Magic"]


def test_a_name_handed_to_another_account_starts_a_silent_baseline_and_keeps_the_old_history(
    tmp_path: Path, store: Store
) -> None:
    poll = make_poller(tmp_path, store, SIMPLE + players_toml("Zezima"))
    old = snap({s: 90 for s in game.SKILLS}, {"Vorkath": 900})
    poll(Zezima=old)
    poll(Zezima=snap({s: 90 for s in game.SKILLS}, {"Vorkath": 905}))

    other = snap({"Attack": 60, "Strength": 70}, {"Zulrah": 80})
    report = poll(Zezima=other)
    res = result(report, "Zezima")
    assert res.outcome == "new_account"
    assert kinds(res) == [("player", "new_account")]  # said once, nothing else
    assert res.note is not None and "another account" in res.note

    # The old history lives on under an archived identity; the name starts afresh.
    archived = [p for p in store.all_players() if p.name.startswith("Zezima (until ")]
    assert len(archived) == 1 and not archived[0].active
    assert [s for _, s in store.player_history(archived[0].name)][-1].activities["Vorkath"] == 905
    assert [s for _, s in store.player_history("Zezima")] == [other]
    st = store.get_player("Zezima")
    assert st is not None and st.reference == other and st.active

    # The new account is judged against itself from now on: its own progress is news.
    res = result(poll(Zezima=snap({"Attack": 61, "Strength": 70}, {"Zulrah": 80})), "Zezima")
    assert kinds(res) == [("levelup", "Attack")]
    res = result(poll(Zezima=snap({"Attack": 61, "Strength": 70}, {"Zulrah": 80})), "Zezima")
    assert res.events == () and res.outcome == "unchanged"


def test_a_name_never_found_is_the_admins_problem_not_a_missing_message(
    tmp_path: Path, store: Store
) -> None:
    poll = make_poller(tmp_path, store, SIMPLE + players_toml("Typo Name"))
    for n in range(1, 6):
        res = result(poll(**{"Typo Name": PlayerNotFound("404")}), "Typo Name")
        assert res.outcome == "not_found" and res.events == ()
        assert res.error is not None and "never found" in res.error and f"{n} poll" in res.error
    st = store.get_player("Typo Name")
    assert st is not None and (st.status, st.not_found_streak) == ("ok", 5)
    assert store.counts()["event"] == 0

    # Once found, it is a baseline like any other; from then on a 404 streak is "missing".
    poll(**{"Typo Name": snap()})
    seen = [kinds(result(poll(**{"Typo Name": PlayerNotFound("404")}), "Typo Name"))
            for _ in range(3)]
    assert seen == [[], [], [("player", "missing")]]


def test_a_bonus_skill_past_its_cap_is_refused_and_recorded(tmp_path: Path, store: Store) -> None:
    poll = make_poller(tmp_path, store, SIMPLE + players_toml("Hp"))
    poll(Hp=snap())
    res = result(poll(Hp=snap(xp={"Hitpoints": 150 * M})), "Hp")
    assert res.outcome == "anomaly" and res.events == ()
    [row] = store.anomalies("Hp")
    assert (row.metric, row.new) == ("Hitpoints", 150 * M)
    assert "fastest method" in (row.reason or "")
