"""The competition tables on both backends (SQLite, and PostgreSQL when configured): a round
is materialised once whoever asks first, a start is entered once, results are kept once."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from poller.snapshot import OVERALL, Snapshot
from poller.store import PollRecord, Store

T0 = datetime(2026, 12, 7, 18, tzinfo=timezone.utc)


def test_a_round_is_materialised_once(stores: tuple[Store, Store]) -> None:
    one, two = stores
    first = one.competitions.add_round("competition:sotw", "k1", ["fishing"], T0,
                                       T0 + timedelta(days=7), T0)
    second = two.competitions.add_round("competition:sotw", "k1", ["mining"], T0,
                                        T0 + timedelta(days=7), T0)
    assert first.metrics == second.metrics == ("fishing",)
    assert [r.round for r in one.competitions.rounds("competition:sotw")] == ["k1"]


def test_starts_are_entered_once_with_what_the_start_poll_saw(
    stores: tuple[Store, Store],
) -> None:
    one, two = stores
    one.sync_players([("Alice", "regular"), ("Bob", "regular")], T0 - timedelta(days=9))
    ids = {p.name: p.id for p in one.active_players()}
    before = Snapshot(skills={OVERALL: 100, "Fishing": 100}, activities={})
    seen = Snapshot(skills={OVERALL: 150, "Fishing": 150}, activities={})
    one.record_poll([PollRecord(ids["Alice"], T0 - timedelta(days=2), before),
                     PollRecord(ids["Bob"], T0 - timedelta(days=2), before)])
    # Alice is polled at the start (a change: a new row); Bob is not polled since.
    one.record_poll([PollRecord(ids["Alice"], T0 + timedelta(minutes=1), seen)])
    entered = one.competitions.record_starts("c", "k1", ids.values(), T0,
                                             T0 + timedelta(minutes=2))
    assert entered == 1
    assert two.competitions.record_starts("c", "k1", ids.values(), T0,
                                          T0 + timedelta(minutes=3)) == 0
    starts = two.competitions.starts("c", "k1")
    assert list(starts) == ["Alice"] and starts["Alice"][1].skills["Fishing"] == 150


def test_results_are_kept_once(stores: tuple[Store, Store]) -> None:
    one, two = stores
    one.competitions.save_results("c", "k1", [("Alice", 1, 640), ("Bob", 2, 540)])
    two.competitions.save_results("c", "k1", [("Alice", 1, 999)])
    assert [(r.player, r.rank, r.gain) for r in one.competitions.results("c")] == [
        ("Alice", 1, 640), ("Bob", 2, 540)]


def test_first_seen_is_agreed(stores: tuple[Store, Store]) -> None:
    one, two = stores
    assert one.posts.first_seen("competition:c") is None
    assert one.posts.since("competition:c", "2026-12-07T18:00:00Z") == "2026-12-07T18:00:00Z"
    assert two.posts.since("competition:c", "2026-12-08T00:00:00Z") == "2026-12-07T18:00:00Z"
