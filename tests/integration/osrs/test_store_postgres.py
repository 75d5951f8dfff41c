"""The store's behaviour, run on both backends: SQLite in a temp dir and a real PostgreSQL.

The PostgreSQL runs need OSRS_TEST_POSTGRES_URL (see tests/conftest.py). Each test gets its own
schema (``osrs_test_<random>``, chosen through the URL's ``?options=-c search_path=…``), dropped
afterwards, so nothing is left in the server and tests never see each other's rows.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest

from poller import game
from poller.snapshot import OVERALL, Snapshot
from poller.store import (
    LockHeld,
    OutboxEntry,
    PollRecord,
    Store,
    StoreError,
    migrations,
    open_store,
    polls,
)

from support import pg_admin, pg_schema

T0 = datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)


# -- backends ---------------------------------------------------------------------------------


@dataclass
class Backend:
    """A fresh, empty database for one test, and every store opened on it (closed at teardown)."""

    kind: str
    url: str
    stores: list[Store] = field(default_factory=list)

    def open(self) -> Store:
        store = open_store(self.url)
        self.stores.append(store)
        return store

    def close_all(self) -> None:
        for store in self.stores:
            store.close()


@contextmanager
def _pg_backend(base: str) -> Iterator[Backend]:
    with pg_schema(base) as url:
        b = Backend("postgresql", url)
        try:
            yield b
        finally:
            b.close_all()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path) -> Iterator[Backend]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        b = Backend("sqlite", f"sqlite:///{tmp_path / 'osrs.db'}")
        yield b
        b.close_all()
        return
    with _pg_backend(request.getfixturevalue("postgres_url")) as b:
        yield b


@pytest.fixture
def pg_backend(postgres_url: str) -> Iterator[Backend]:
    with _pg_backend(postgres_url) as b:
        yield b


@pytest.fixture
def store(backend: Backend) -> Store:
    return backend.open()


# -- helpers ----------------------------------------------------------------------------------


def maxed(bump: int = 0, **over: int) -> Snapshot:
    """A maxed-looking account with a score in every activity: the largest realistic row."""
    skills = {OVERALL: 4_600_000_000 + bump, **{s: 200_000_000 for s in game.SKILLS}}
    acts = {name: 10_000 + i for i, name in enumerate(game.ACTIVITIES)}
    for name, value in over.items():
        (skills if name in skills else acts)[name.replace("_", " ")] = value
    return Snapshot(skills=skills, activities=acts, overall_level=2376,
                    ranks={OVERALL: 1 + bump})


def small(attack_xp: int = 1_000, **ranks: int) -> Snapshot:
    return Snapshot(skills={OVERALL: attack_xp + 1154, "Attack": attack_xp, "Hitpoints": 1154},
                    activities={}, overall_level=34, ranks=ranks)


def pid(store: Store, name: str) -> int:
    st = store.get_player(name)
    assert st is not None
    return st.id


def poll(store: Store, name: str, snapshot: Snapshot | None, at: datetime, **kw) -> object:  # type: ignore[no-untyped-def]
    return store.record_poll([PollRecord(player_id=pid(store, name), taken_at=at,
                                         snapshot=snapshot, **kw)])


def level_event(skill: str = "Attack", webhooks: tuple[str, ...] = ("clan",)) -> OutboxEntry:
    return OutboxEntry(kind="levelup", payload={"metric": skill, "old": 69, "new": 70},
                       webhooks=webhooks)


# -- config sync --------------------------------------------------------------------------------


def test_sync_adds_deactivates_reactivates_and_follows_case(store: Store) -> None:
    r = store.sync_players([("Lynx Titan", "regular"), ("Zezima", "regular")], T0)
    assert r.added == ("Lynx Titan", "Zezima")
    assert [p.name for p in store.active_players()] == ["Lynx Titan", "Zezima"]
    lynx = store.get_player("lynx_titan")
    assert lynx is not None and lynx.active and lynx.last_snapshot is None
    assert lynx.created_at == T0

    # Removed from the config: kept with its history, no longer polled.
    poll(store, "Zezima", small(), T0)
    r = store.sync_players([("Lynx Titan", "regular")], T0)
    assert r.deactivated == ("Zezima",) and not r.added
    assert [p.name for p in store.active_players()] == ["Lynx Titan"]
    z = store.get_player("zezima")
    assert z is not None and not z.active and z.last_snapshot == small()

    # Back in the config, with a new display spelling: same row, same history.
    r = store.sync_players([("Lynx Titan", "regular"), ("ZEZIMA", "ironman")], T0)
    assert r.reactivated == ("ZEZIMA",) and r.updated_name == ("ZEZIMA",)
    assert r.updated_mode == ("ZEZIMA",) and not r.added
    z2 = store.get_player("Zezima")
    assert z2 is not None and z2.id == z.id and z2.name == "ZEZIMA" and z2.mode == "ironman"
    assert z2.last_snapshot == small()

    # Nothing to do is nothing done.
    r = store.sync_players([("Lynx Titan", "regular"), ("ZEZIMA", "ironman")], T0)
    assert not r.changed


def test_sync_refuses_two_spellings_of_one_player(store: Store) -> None:
    with pytest.raises(StoreError, match="same player"):
        store.sync_players([("Lynx Titan", "regular"), ("lynx_titan", "regular")], T0)
    assert store.all_players() == []


def test_preview_players_writes_nothing(store: Store) -> None:
    store.sync_players([("Lynx Titan", "regular")], T0)
    poll(store, "Lynx Titan", small(), T0)
    preview = store.preview_players([("Lynx Titan", "ironman"), ("B0aty", "regular")])
    assert [(p.name, p.mode) for p in preview] == [("B0aty", "regular"), ("Lynx Titan", "ironman")]
    assert preview[0].id < 0 and preview[0].last_snapshot is None
    assert preview[1].last_snapshot == small()
    assert [p.name for p in store.all_players()] == ["Lynx Titan"]
    assert store.get_player("Lynx Titan").mode == "regular"  # type: ignore[union-attr]


# -- polls ------------------------------------------------------------------------------------


def test_baseline_then_unchanged_poll_adds_no_row(store: Store) -> None:
    store.sync_players([("Lynx Titan", "regular")], T0)
    stats = poll(store, "Lynx Titan", maxed(), T0)
    assert stats.snapshots_added == 1  # type: ignore[attr-defined]
    p = store.get_player("Lynx Titan")
    assert p is not None
    assert p.last_snapshot == maxed() and p.last_snapshot_at == T0 and p.reference == maxed()
    assert p.last_polled_at == T0 and p.last_changed_at == T0

    # Same stats, only ranks moved (other players played): no row, only the poll time moves.
    later = T0 + timedelta(hours=1)
    stats = poll(store, "Lynx Titan", maxed(), later)
    assert stats.snapshots_added == 0  # type: ignore[attr-defined]
    p = store.get_player("Lynx Titan")
    assert p is not None and p.last_polled_at == later and p.last_changed_at == T0
    assert store.counts()["snapshot"] == 1
    assert [at for at, _ in store.player_history("Lynx Titan")] == [T0]


def test_changed_poll_adds_one_compact_row(store: Store) -> None:
    store.sync_players([("Lynx Titan", "regular")], T0)
    poll(store, "Lynx Titan", maxed(), T0)
    later = T0 + timedelta(hours=1)
    stats = poll(store, "Lynx Titan", maxed(bump=5_000, Zulrah=99_999), later)
    assert stats.snapshots_added == 1  # type: ignore[attr-defined]
    history = store.player_history("Lynx Titan")
    assert [at for at, _ in history] == [T0, later]
    assert history[1][1].score("Zulrah") == 99_999
    p = store.get_player("Lynx Titan")
    assert p is not None and p.last_changed_at == later and p.last_snapshot_at == later
    # Spec: "a changed one stays under 1 KB stored" — measured in the database itself.
    sizes = [row[0] for row in store.db.database.execute_sql("SELECT length(data) FROM snapshot")]
    assert sizes and max(sizes) < 1024


def test_events_and_deliveries_reference_the_new_snapshot(store: Store) -> None:
    store.sync_players([("Lynx Titan", "regular")], T0)
    poll(store, "Lynx Titan", small(1_000), T0)
    stats = poll(
        store, "Lynx Titan", small(2_000), T0 + timedelta(hours=1),
        outbox=[level_event(webhooks=("clan", "log")), OutboxEntry("xp", {"n": 1}, ())],
    )
    assert (stats.snapshots_added, stats.events_added, stats.deliveries_added) == (1, 2, 2)  # type: ignore[attr-defined]
    events = store.recent_events("Lynx Titan")
    assert [e.kind for e in events] == ["xp", "levelup"]  # newest first
    snap_ids = {e.snapshot_id for e in events}
    assert len(snap_ids) == 1 and None not in snap_ids
    due = store.pending_deliveries(T0 + timedelta(hours=2))
    assert [(d.webhook, d.kind, d.player_name) for d in due] == [
        ("clan", "levelup", "Lynx Titan"), ("log", "levelup", "Lynx Titan")
    ]
    assert due[0].payload == {"metric": "Attack", "old": 69, "new": 70}
    assert store.count_pending() == {"clan": 1, "log": 1}


def test_unchanged_poll_events_point_at_the_existing_snapshot(store: Store) -> None:
    store.sync_players([("Lynx Titan", "regular")], T0)
    poll(store, "Lynx Titan", small(), T0)
    poll(store, "Lynx Titan", small(), T0 + timedelta(hours=1),
         outbox=[OutboxEntry("player", {"metric": "back"}, ("clan",))])
    poll(store, "Lynx Titan", None, T0 + timedelta(hours=2),
         outbox=[OutboxEntry("player", {"metric": "missing"}, ("clan",))])
    back, missing = store.recent_events()[1], store.recent_events()[0]
    assert back.snapshot_id is not None and missing.snapshot_id is None
    assert store.counts()["snapshot"] == 1


EMPTY = {"player": 0, "snapshot": 0, "event": 0, "delivery": 0, "anomaly": 0, "attempt": 0}


def test_failed_batch_leaves_nothing_behind(store: Store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    store.sync_players([("A", "regular"), ("B", "regular")], T0)
    a, b = pid(store, "A"), pid(store, "B")
    good = PollRecord(a, T0, small(), outbox=[level_event()])

    # A payload that cannot be stored fails the batch before anything is written.
    bad = PollRecord(b, T0, small(), outbox=[OutboxEntry("levelup", {"when": object()}, ("c",))])
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        store.record_poll([good, bad])
    assert store.counts() == {**EMPTY, "player": 2}

    # A failure after the snapshots and events were inserted rolls all of them back.
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    real = polls.write_events

    def events_then_boom(*args: object) -> None:
        real(*args)  # type: ignore[arg-type]
        boom()

    monkeypatch.setattr(polls, "write_events", events_then_boom)
    with pytest.raises(RuntimeError, match="disk full"):
        store.record_poll([good, PollRecord(b, T0, small(5))])
    assert store.counts() == {**EMPTY, "player": 2}
    pa = store.get_player("A")
    assert pa is not None and pa.last_polled_at is None and pa.last_snapshot is None

    # And the store is usable afterwards, remembering nothing of the rolled-back batch.
    monkeypatch.undo()
    stats = store.record_poll([good])
    assert (stats.snapshots_added, stats.events_added) == (1, 1)


def test_not_found_keeps_last_snapshot_and_records_presence(store: Store) -> None:
    store.sync_players([("Lynx Titan", "regular")], T0)
    poll(store, "Lynx Titan", small(), T0)
    poll(store, "Lynx Titan", None, T0 + timedelta(hours=1), status="missing",
         not_found_streak=3, error="not found on the hiscores (3/3)")
    p = store.get_player("Lynx Titan")
    assert p is not None
    assert (p.status, p.not_found_streak, p.last_error) == (
        "missing", 3, "not found on the hiscores (3/3)"
    )
    assert p.last_snapshot == small() and p.last_polled_at == T0 + timedelta(hours=1)
    # A good poll clears the error; status/streak only change when given.
    poll(store, "Lynx Titan", small(), T0 + timedelta(hours=2))
    p = store.get_player("Lynx Titan")
    assert p is not None and p.last_error is None and p.status == "missing"
    with pytest.raises(ValueError, match="status"):
        poll(store, "Lynx Titan", small(), T0, status="banned")


def test_anomaly_snapshot_becomes_the_baseline(store: Store) -> None:
    store.sync_players([("Lynx Titan", "regular")], T0)
    poll(store, "Lynx Titan", small(5_000), T0)
    rolled_back = small(3_000)
    stats = poll(store, "Lynx Titan", rolled_back, T0 + timedelta(hours=1),
                 anomalies=[("Attack", 5_000, 3_000, "rollback")], reference=small(5_000))
    assert stats.snapshots_added == 1 and stats.anomalies_added == 1  # type: ignore[attr-defined]
    p = store.get_player("Lynx Titan")
    assert p is not None
    assert p.last_snapshot == rolled_back  # the new truth the next poll is compared with
    assert p.reference == small(5_000)  # the pipeline's high-water mark, kept beside it
    (a,) = store.anomalies("Lynx Titan")
    assert (a.player_name, a.metric, a.old, a.new, a.reviewed) == (
        "Lynx Titan", "Attack", 5_000, 3_000, False
    )
    assert a.taken_at == T0 + timedelta(hours=1)
    assert store.review_anomalies([a.id]) == 1
    assert store.anomalies(unreviewed=True) == []

    # Once the player is past the old peak, reference and snapshot coincide again.
    poll(store, "Lynx Titan", small(6_000), T0 + timedelta(hours=2), reference=small(6_000))
    p = store.get_player("Lynx Titan")
    assert p is not None and p.reference == p.last_snapshot == small(6_000)


def test_player_twice_in_one_batch(store: Store) -> None:
    store.sync_players([("Lynx Titan", "regular")], T0)
    i = pid(store, "Lynx Titan")
    t1, t2, t3 = (T0 + timedelta(minutes=m) for m in (1, 2, 3))
    stats = store.record_poll([
        PollRecord(i, T0, small(1)), PollRecord(i, t1, small(1)),
        PollRecord(i, t2, small(2)), PollRecord(i, t3, small(2), outbox=[level_event()]),
    ])
    assert stats.snapshots_added == 2
    p = store.get_player("Lynx Titan")
    assert p is not None and p.last_snapshot == small(2) and p.last_polled_at == t3
    (event,) = store.recent_events()
    history_ids = [r[0] for r in store.db.execute("SELECT id FROM snapshot ORDER BY id")]
    assert event.snapshot_id == history_ids[-1]


def test_change_detection_with_a_second_writer(backend: Backend) -> None:
    # Each store remembers the snapshots it handed out; another process writing in between
    # must not fool it.
    mine, other = backend.open(), backend.open()
    mine.sync_players([("A", "regular")], T0)
    poll(mine, "A", small(1), T0)
    (a,) = mine.active_players()
    poll(other, "A", small(2), T0 + timedelta(minutes=1))
    stats = mine.record_poll([PollRecord(a.id, T0 + timedelta(minutes=2), small(2))])
    assert stats.snapshots_added == 0  # equal to what the other store wrote
    stats = mine.record_poll([PollRecord(a.id, T0 + timedelta(minutes=3), small(1))])
    assert stats.snapshots_added == 1  # equal to what *this* store once saw, not the last row
    assert [s for _, s in mine.player_history("A")] == [small(1), small(2), small(1)]


def test_unknown_metrics_in_any_order_are_unchanged(backend: Backend) -> None:
    # Names the game table does not know yet are stored as JSON in dict order: two equal
    # snapshots may then encode differently, and must still count as unchanged.
    first = Snapshot(skills={OVERALL: 10, "Attack": 5, "Brand New Skill": 3, "Zz": 2},
                     activities={"New Boss": 7, "Zulrah": 1})
    again = Snapshot(skills={"Zz": 2, "Brand New Skill": 3, "Attack": 5, OVERALL: 10},
                     activities={"Zulrah": 1, "New Boss": 7})
    store = backend.open()
    store.sync_players([("A", "regular")], T0)
    assert poll(store, "A", first, T0).snapshots_added == 1  # type: ignore[attr-defined]
    fresh = backend.open()  # remembers nothing: compares with the stored bytes
    assert poll(fresh, "A", again, T0 + timedelta(hours=1)).snapshots_added == 0  # type: ignore[attr-defined]
    (_, stored), = fresh.player_history("A")
    assert stored == first and stored.score("New Boss") == 7


def test_timestamps_are_utc_whatever_zone_comes_in(store: Store) -> None:
    store.sync_players([("A", "regular")], T0)
    cest = timezone(timedelta(hours=2))
    poll(store, "A", small(), datetime(2026, 7, 1, 14, 0, 0, 123456, tzinfo=cest))
    p = store.get_player("A")
    assert p is not None
    assert p.last_polled_at == datetime(2026, 7, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
    assert p.last_polled_at.tzinfo is timezone.utc  # type: ignore[union-attr]
    poll(store, "A", small(2), datetime(2026, 7, 1, 13, 0))  # naive = UTC
    assert store.get_player("A").last_changed_at == T0 + timedelta(hours=1)  # type: ignore[union-attr]


def test_unknown_player_id_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="no player"):
        store.record_poll([PollRecord(999, T0, small())])


def test_roster_without_snapshots_then_per_batch(store: Store) -> None:
    store.sync_players([("A", "regular"), ("B", "regular")], T0)
    poll(store, "A", small(), T0)
    light = store.active_players(with_snapshots=False)
    assert [p.last_snapshot for p in light] == [None, None]
    assert light[0].last_snapshot_at == T0  # the time is still known
    loaded = store.last_snapshots([p.id for p in light])
    assert loaded == {light[0].id: (small(), small())}


def test_record_events_without_player(store: Store) -> None:
    stats = store.record_events(
        [OutboxEntry("price", {"item": "Twisted bow", "price": 1_700_000_000}, ("market",))], T0
    )
    assert (stats.events_added, stats.deliveries_added) == (1, 1)
    (d,) = store.pending_deliveries(T0)
    assert d.player_name is None and d.kind == "price" and d.payload["item"] == "Twisted bow"


# -- outbox -----------------------------------------------------------------------------------


def test_delivery_state_machine(store: Store) -> None:
    store.sync_players([("A", "regular")], T0)
    poll(store, "A", small(1), T0)
    poll(store, "A", small(2), T0 + timedelta(minutes=1),
         outbox=[level_event("Attack", ("clan", "dead")), level_event("Strength", ("clan",))])
    now = T0 + timedelta(minutes=2)
    due = store.pending_deliveries(now)
    assert [(d.webhook, d.payload["metric"]) for d in due] == [
        ("clan", "Attack"), ("dead", "Attack"), ("clan", "Strength")
    ]
    assert store.pending_deliveries(T0) == []  # not due before it was created
    assert [d.webhook for d in store.pending_deliveries(now, webhook="dead")] == ["dead"]
    assert len(store.pending_deliveries(now, limit=1)) == 1
    clan_attack, dead, clan_strength = (d.delivery_id for d in due)

    # 5xx: stays pending, invisible until its next attempt.
    assert store.mark_retry([clan_attack], now, now + timedelta(minutes=5), "HTTP 503") == 1
    assert [d.delivery_id for d in store.pending_deliveries(now)] == [dead, clan_strength]
    retry = [d for d in store.pending_deliveries(now + timedelta(minutes=5))
             if d.delivery_id == clan_attack]
    assert retry[0].attempts == 1

    # 404: the webhook is held with everything it had pending, then released.
    assert store.hold_webhook("dead", "unknown webhook (404)") == 1
    assert dead not in {d.delivery_id for d in store.pending_deliveries(now)}
    assert store.count_pending() == {"clan": 2}
    assert store.count_pending(include_held=True) == {"clan": 2, "dead": 1}
    assert store.mark_retry([dead], now, now, "late 503") == 0  # held stays held
    assert store.release_webhook("dead") == 1
    assert dead in {d.delivery_id for d in store.pending_deliveries(now)}

    # 400: permanent, never offered again.
    assert store.mark_failed([dead], now, "HTTP 400: embed too long") == 1
    # Sent: gone from the queue, whatever happens to it later.
    assert store.mark_delivered([clan_strength, clan_attack], now) == 2
    assert store.mark_delivered([clan_strength], now) == 0
    assert store.mark_retry([clan_strength], now, now, "x") == 0
    assert store.pending_deliveries(now + timedelta(days=1)) == []
    assert store.count_pending(include_held=True) == {}


# -- rename -----------------------------------------------------------------------------------


def test_rename_to_a_new_name_carries_history(store: Store) -> None:
    store.sync_players([("Old Name", "ironman")], T0)
    poll(store, "Old Name", small(1), T0)
    poll(store, "Old Name", small(2), T0 + timedelta(hours=1), outbox=[level_event()],
         anomalies=[("Attack", 9, 2, "rollback")])
    before = store.get_player("Old Name")
    store.rename_player("old_name", "New Name", T0 + timedelta(hours=2))

    new = store.get_player("new name")
    assert new is not None and before is not None
    assert (new.id, new.name, new.mode, new.active) == (before.id, "New Name", "ironman", True)
    assert new.last_snapshot == small(2)
    assert len(store.player_history("New Name")) == 2
    assert [e.player_name for e in store.recent_events("New Name")] == ["New Name"]
    assert [a.player_name for a in store.anomalies("New Name")] == ["New Name"]

    tomb = store.get_player("Old Name")
    assert tomb is not None and not tomb.active and tomb.renamed_to == "New Name"
    assert store.player_history("Old Name") == []

    # The config still says "Old Name": it follows the rename instead of starting over.
    r = store.sync_players([("Old Name", "ironman")], T0 + timedelta(hours=3))
    assert r.redirected == (("Old Name", "New Name"),) and not r.added and not r.deactivated
    assert [p.name for p in store.active_players()] == ["New Name"]
    # Once the config is updated, nothing changes.
    r = store.sync_players([("New Name", "ironman")], T0 + timedelta(hours=4))
    assert not r.changed and not r.redirected


def test_snapshots_between_reads_a_period_for_gains(store: Store) -> None:
    store.sync_players([("Alice", "regular"), ("Bob", "regular")], T0)
    poll(store, "Alice", small(1), T0 - timedelta(days=2))  # her state when the period begins
    poll(store, "Alice", small(2), T0 - timedelta(days=1),  # later, but a rollback: not it
         anomalies=[("Attack", 9, 2, "rollback")])
    poll(store, "Alice", small(3), T0 + timedelta(hours=1))
    poll(store, "Alice", small(4), T0 + timedelta(hours=5))  # after the end
    poll(store, "Bob", small(7), T0 + timedelta(hours=2), anomalies=[("Attack", 9, 7, "rollback")])
    got = store.snapshots_between(T0, T0 + timedelta(hours=3))
    assert got == {
        "Alice": [(T0 - timedelta(days=2), small(1), True),
                  (T0 + timedelta(hours=1), small(3), True)],
        "Bob": [(T0 + timedelta(hours=2), small(7), False)],
    }
    store.rename_player("Alice", "Alicia", T0 + timedelta(hours=6))
    assert list(store.snapshots_between(T0, T0 + timedelta(hours=3))) == ["Alicia", "Bob"]


def test_rename_merges_into_a_new_player_without_history(store: Store) -> None:
    # The user edited the config first: the new name was added (and failed to poll) already.
    store.sync_players([("Old Name", "regular")], T0)
    poll(store, "Old Name", small(1), T0)
    poll(store, "Old Name", small(2), T0 + timedelta(hours=1), outbox=[level_event()])
    store.sync_players([("New Name", "regular")], T0 + timedelta(hours=2))
    poll(store, "New Name", None, T0 + timedelta(hours=2), status="ok", not_found_streak=1,
         error="boom")
    new_id = pid(store, "New Name")

    store.rename_player("Old Name", "New Name", T0 + timedelta(hours=3))
    new = store.get_player("New Name")
    assert new is not None and new.id == new_id and new.active
    assert new.last_snapshot == small(2) and new.last_changed_at == T0 + timedelta(hours=1)
    assert (new.not_found_streak, new.last_error) == (0, None)
    assert len(store.player_history("New Name")) == 2
    assert [e.player_name for e in store.recent_events()] == ["New Name"]
    old = store.get_player("Old Name")
    assert old is not None and not old.active and old.renamed_to == "New Name"
    assert (old.last_snapshot, old.last_polled_at, old.last_changed_at) == (None, None, None)


def test_rename_refusals(store: Store) -> None:
    store.sync_players([("Lynx Titan", "regular"), ("Zezima", "regular")], T0)
    poll(store, "Lynx Titan", small(), T0)
    poll(store, "Zezima", small(), T0)
    with pytest.raises(StoreError, match="both have history") as both:
        store.rename_player("Lynx Titan", "Zezima", T0)
    assert "\n" not in str(both.value)
    with pytest.raises(StoreError, match="did you mean Lynx Titan"):
        store.rename_player("Lynx Titn", "Someone", T0)
    with pytest.raises(StoreError, match="same player name"):
        store.rename_player("Lynx Titan", "lynx_titan", T0)
    store.rename_player("Lynx Titan", "Lynx Titan II", T0)
    with pytest.raises(StoreError, match="already renamed to Lynx Titan II"):
        store.rename_player("Lynx Titan", "Other", T0)
    # Nothing moved by the refusals.
    assert len(store.player_history("Zezima")) == 1
    assert len(store.player_history("Lynx Titan II")) == 1


def test_rename_back_and_forth(store: Store) -> None:
    store.sync_players([("A", "regular")], T0)
    poll(store, "A", small(), T0)
    store.rename_player("A", "B", T0)
    store.rename_player("B", "A", T0)
    a, b = store.get_player("A"), store.get_player("B")
    assert a is not None and b is not None
    assert a.active and a.renamed_to is None and a.last_snapshot == small()
    assert not b.active and b.renamed_to == "A"
    assert store.sync_players([("A", "regular")], T0).changed is False


# -- locks ------------------------------------------------------------------------------------

_HOLDER = r"""
import sys
from poller.store import open_store
store = open_store(sys.argv[1])
with store.lock("poll"):
    print("held", flush=True)
    sys.stdin.readline()
store.close()
"""


def _spawn_holder(url: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, url],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "held", line
    return proc


def _eventually_lockable(store: Store, seconds: float = 10.0) -> None:
    # The server notices a dead client's socket promptly but not instantly.
    deadline = time.monotonic() + seconds
    while True:
        try:
            with store.lock("poll"):
                return
        except LockHeld:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_lock_is_exclusive_across_processes(backend: Backend) -> None:
    store = backend.open()
    holder = _spawn_holder(backend.url)
    try:
        with pytest.raises(LockHeld), store.lock("poll"):
            pass
        with store.lock("other"):  # another name is another lock
            pass
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=30)
    assert holder.returncode == 0
    _eventually_lockable(store)


def test_lock_of_a_crashed_holder_is_released(backend: Backend) -> None:
    store = backend.open()
    holder = _spawn_holder(backend.url)
    try:
        with pytest.raises(LockHeld), store.lock("poll"):
            pass
    finally:
        os.kill(holder.pid, signal.SIGKILL)  # no cleanup code runs
        holder.wait(timeout=30)
    _eventually_lockable(store)


def test_lock_is_exclusive_within_one_process(store: Store) -> None:
    with store.lock("poll"):
        with pytest.raises(LockHeld):
            with store.lock("poll"):
                pass
    with store.lock("poll"):
        pass


# -- schema -----------------------------------------------------------------------------------


def test_migration_upgrades_and_keeps_data(backend: Backend, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    store = backend.open()
    n = migrations.current_version()
    assert store.schema_version() == n
    store.sync_players([("Lynx Titan", "regular")], T0)
    poll(store, "Lynx Titan", small(), T0, outbox=[level_event()])
    store.close()

    ran: list[int] = []

    def v2_add_note(db) -> None:  # type: ignore[no-untyped-def]
        # The data is already there when the step runs, inside its transaction.
        ran.append(db.execute_sql("SELECT COUNT(*) FROM snapshot").fetchone()[0])
        db.execute_sql("ALTER TABLE player ADD COLUMN note TEXT")
        db.execute_sql("UPDATE player SET note = 'upgraded'")

    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, v2_add_note])
    upgraded = backend.open()
    assert ran == [1] and upgraded.schema_version() == n + 1
    assert [r[0] for r in upgraded.db.execute("SELECT note FROM player")] == ["upgraded"]
    p = upgraded.get_player("Lynx Titan")
    assert p is not None and p.last_snapshot == small()
    assert len(upgraded.pending_deliveries(T0)) == 1
    upgraded.close()
    # Opening again runs nothing twice.
    assert backend.open().schema_version() == n + 1 and ran == [1]


def test_real_upgrade_from_version_1_keeps_data(backend: Backend, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A database written by the first release opens with today's schema, data intact."""
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:1])
    old = backend.open()
    assert old.schema_version() == 1
    # Written with version 1's own columns: today's queries name columns it never had.
    db, at = old.db, old.db.t(T0)
    db.execute(
        'INSERT INTO player ("key", name, mode, active, created_at, status, not_found_streak) '
        "VALUES ('lynx titan', 'Lynx Titan', 'regular', ?, ?, 'ok', 0)", (True, at))
    [(player,)] = db.execute("SELECT id FROM player").fetchall()
    db.execute("INSERT INTO snapshot (player_id, taken_at, data) VALUES (?, ?, ?)",
               (player, at, small().encode()))
    [(snap,)] = db.execute("SELECT id FROM snapshot").fetchall()
    db.execute("UPDATE player SET last_snapshot_id = ?, last_polled_at = ? WHERE id = ?",
               (snap, at, player))
    db.execute("INSERT INTO event (player_id, snapshot_id, kind, payload, created_at) "
               "VALUES (?, ?, 'levelup', ?, ?)",
               (player, snap, json.dumps(level_event().payload), at))
    [(event,)] = db.execute("SELECT id FROM event").fetchall()
    db.execute("INSERT INTO delivery (event_id, webhook, status, attempts, next_attempt_at, "
               "created_at) VALUES (?, 'clan', 'pending', 0, ?, ?)", (event, at, at))
    old.close()
    monkeypatch.undo()
    store = backend.open()
    assert store.schema_version() == migrations.current_version() > 1
    assert store.get_player("Lynx Titan").last_snapshot == small()  # type: ignore[union-attr]
    assert len(store.pending_deliveries(T0)) == 1
    assert store.webhook_states() == {} and store.attempts() == []


def test_failed_migration_leaves_the_last_good_version(backend: Backend, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    backend.open().close()
    n = migrations.current_version()

    def v2_broken(db) -> None:  # type: ignore[no-untyped-def]
        db.execute_sql("ALTER TABLE player ADD COLUMN note TEXT")
        db.execute_sql("SELECT no_such_column FROM player")

    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, v2_broken])
    with pytest.raises(StoreError, match=f"schema version {n + 1} failed"):
        backend.open()
    monkeypatch.undo()
    store = backend.open()
    assert store.schema_version() == n
    cols = [r[0] for r in store.db.database.execute_sql("SELECT * FROM player").description]
    assert "note" not in cols


def test_database_from_a_newer_release_is_refused(backend: Backend) -> None:
    store = backend.open()
    store.db.execute("UPDATE meta SET value = ? WHERE \"key\" = 'schema_version'", ("99",))
    store.close()
    with pytest.raises(StoreError, match="created by a newer osrs-notify") as err:
        backend.open()
    assert "99" in str(err.value) and "\n" not in str(err.value)


def _execute_raw(backend: Backend, *statements: str) -> list[tuple[object, ...]]:
    """Run statements on the backend's database without the store (as another program
    would); the last one's rows."""
    if backend.kind == "sqlite":
        import sqlite3

        conn = sqlite3.connect(backend.url.removeprefix("sqlite:///"))
    else:
        import psycopg2

        conn = psycopg2.connect(backend.url)  # its search_path: this test's own schema
    try:
        cur = conn.cursor()
        for sql in statements:
            cur.execute(sql)
        rows = cur.fetchall() if cur.description else []
        conn.commit()
        return rows
    finally:
        conn.close()


def test_a_database_with_tables_but_no_schema_marker_is_refused_and_left_alone(
    backend: Backend,
) -> None:
    """Another program's database (on PostgreSQL: a schema with its tables, e.g. `public` of an
    application's database) is not a fresh start: our tables are never added among its own."""
    _execute_raw(backend, "CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT)",
                 "INSERT INTO orders VALUES (1, 'Twisted bow')")
    with pytest.raises(StoreError, match="is not an osrs-notify database") as err:
        backend.open()
    text = str(err.value)
    assert "(orders)" in text and "no osrs-notify schema marker" in text and "\n" not in text
    if backend.kind == "postgresql":
        assert "search_path" in text  # how to give osrs-notify a schema of its own
    tables = "SELECT name FROM sqlite_master WHERE type = 'table'" if backend.kind == "sqlite" \
        else "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    assert _execute_raw(backend, tables) == [("orders",)]
    assert _execute_raw(backend, "SELECT * FROM orders") == [(1, "Twisted bow")]


def test_a_database_whose_schema_marker_is_lost_is_not_taken_for_a_new_one(
    backend: Backend,
) -> None:
    store = backend.open()
    store.sync_players([("Lynx Titan", "regular")], T0)
    poll(store, "Lynx Titan", small(), T0)
    store.close()
    _execute_raw(backend, "DELETE FROM meta")
    with pytest.raises(StoreError, match=r"is not an osrs-notify database: .*\(anomaly, attempt,"):
        backend.open()
    assert _execute_raw(backend, "SELECT name FROM player") == [("Lynx Titan",)]


def test_reopening_keeps_everything(backend: Backend) -> None:
    store = backend.open()
    store.sync_players([("Lynx Titan", "regular")], T0)
    poll(store, "Lynx Titan", maxed(), T0, outbox=[level_event()])
    store.close()
    again = backend.open()
    p = again.get_player("Lynx Titan")
    assert p is not None and p.last_snapshot == maxed() and p.last_snapshot_at == T0
    assert again.counts() == {
        "player": 1, "snapshot": 1, "event": 1, "delivery": 1, "anomaly": 0, "attempt": 0
    }


# -- PostgreSQL only ----------------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_extra_connect_kwargs_select_the_schema(postgres_url: str) -> None:
    schema = f"osrs_test_{uuid.uuid4().hex[:12]}"
    admin = pg_admin(postgres_url)
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE SCHEMA "{schema}"')
        store = open_store(postgres_url, options=f"-c search_path={schema}")
        try:
            store.sync_players([("A", "regular")], T0)
            assert store.backend == "postgresql"
        finally:
            store.close()
        with admin.cursor() as cur:
            cur.execute(
                "SELECT data_type FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = 'snapshot' AND column_name = 'data'",
                (schema,),
            )
            assert cur.fetchone() == ("bytea",)
            cur.execute(f'SELECT name FROM "{schema}".player')
            assert cur.fetchall() == [("A",)]
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.close()


@pytest.mark.postgres
def test_postgres_store_reconnects_after_losing_its_connection(pg_backend: Backend) -> None:
    store = pg_backend.open()
    store.sync_players([("A", "regular")], T0)
    (backend_pid,) = store.db.execute("SELECT pg_backend_pid()").fetchone()
    admin = pg_admin(store.db.target.location)
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(%s)", (backend_pid,))
    finally:
        admin.close()
    with pytest.raises(StoreError, match="database error"):
        store.active_players()
    assert [p.name for p in store.active_players()] == ["A"]  # the next call reconnects


@pytest.mark.postgres
def test_a_sqlite_and_a_postgres_store_at_once(pg_backend: Backend, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """One process with both open (an export from PostgreSQL to SQLite, say): each store's
    queries run on its own database, with its own dialect, even inside the other's
    transaction."""
    pg = pg_backend.open()
    lite = open_store(f"sqlite:///{tmp_path / 'copy.db'}")
    try:
        for store, names in ((pg, ["A", "B"]), (lite, ["C"])):
            store.sync_players([(n, "regular") for n in names], T0)
        later = T0 + timedelta(minutes=5)
        with pg.transaction():
            for p in pg.active_players():
                poll(pg, p.name, small(), T0,
                     outbox=[OutboxEntry("levelup", {"who": p.name}, ("hook",))])
            # Copy into SQLite while PostgreSQL's transaction is still open.
            lite.record_events([OutboxEntry("levelup", {"copied": True}, ("hook",))], T0)
            lite.mark_retry([d.delivery_id for d in lite.pending_deliveries(T0)], T0, later,
                            "try later")
        assert [p.name for p in pg.all_players()] == ["A", "B"]
        assert [p.name for p in lite.all_players()] == ["C"]
        assert [d.payload for d in pg.pending_deliveries(T0)] == [{"who": "A"}, {"who": "B"}]
        assert lite.pending_deliveries(T0) == []  # due at `later`: compared as time, not text
        (copied,) = lite.pending_deliveries(later)
        assert copied.payload == {"copied": True} and copied.created_at == T0
        assert pg.counts()["snapshot"] == 2 and lite.counts()["snapshot"] == 0
    finally:
        lite.close()


@pytest.mark.postgres
def test_postgres_bad_password_is_masked(postgres_url: str) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(postgres_url)
    netloc = f"nosuchuser:s3cr3t-pw@{parts.hostname}:{parts.port or 5432}"
    url = parts._replace(netloc=netloc).geturl()
    with pytest.raises(StoreError) as err:
        open_store(url)
    text = str(err.value)
    assert "s3cr3t-pw" not in text and "****" in text and "\n" not in text


# -- webhook state, attempts, meta ------------------------------------------------------------


def test_disabled_webhook_keeps_its_messages_until_re_enabled(store: Store) -> None:
    store.sync_players([("Lynx Titan", "regular")], T0)
    poll(store, "Lynx Titan", small(), T0)
    poll(store, "Lynx Titan", small(5), T0, outbox=[OutboxEntry("levelup", {"m": 1}, ("a", "b"))])
    assert store.disable_webhook("a", "404 Unknown Webhook", "hash1", T0) == 1
    state = store.webhook_states()["a"]
    assert state.disabled and state.reason == "404 Unknown Webhook"
    assert state.address_hash == "hash1"
    assert [d.webhook for d in store.pending_deliveries(T0)] == ["b"]
    assert store.count_pending(include_held=True) == {"a": 1, "b": 1}

    assert store.enable_webhook("a", "hash2", T0 + timedelta(hours=1)) == 1
    assert not store.webhook_states()["a"].disabled
    assert sorted(d.webhook for d in store.pending_deliveries(T0)) == ["a", "b"]


def test_attempts_are_recorded_newest_first(store: Store) -> None:
    store.record_attempt("a", T0, outcome="retry", status_code=503, error="Service Unavailable",
                         elapsed_ms=12, delivery_ids=[7, 5])
    store.record_attempt("a", T0 + timedelta(seconds=5), outcome="sent", status_code=200,
                         error=None, elapsed_ms=30, delivery_ids=[5, 7])
    store.record_attempt("b", T0, outcome="disable", status_code=404, error="Unknown Webhook",
                         elapsed_ms=9, delivery_ids=[])
    rows = store.attempts("a")
    assert [(r.outcome, r.status_code, r.deliveries) for r in rows] == [
        ("sent", 200, 2), ("retry", 503, 2)
    ]
    assert len(store.attempts()) == 3 and store.counts()["attempt"] == 3


def test_meta_values_round_trip(store: Store) -> None:
    assert store.get_meta("discord_paused_until") is None
    store.set_meta("discord_paused_until", "1234.5")
    store.set_meta("discord_paused_until", "99")
    assert store.get_meta("discord_paused_until") == "99"
    store.set_meta("discord_paused_until", None)
    assert store.get_meta("discord_paused_until") is None
