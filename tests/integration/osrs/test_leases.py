"""Leases on SQLite and the real PostgreSQL: claims are disjoint across concurrent claimers,
expired leases are taken over, a process that lost its lease records and sends nothing; and the
headline: the jobs of three `run` processes on one database (SQLite and PostgreSQL), one dead
while holding players and messages, and still every player polled exactly once per window, no
Discord message duplicated and nothing lost once the dead process's leases ran out. The jobs
read a fake clock: windows and leases pass without waiting.

PostgreSQL runs need OSRS_TEST_POSTGRES_URL; each test gets its own schema (dropped after).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from poller.jobs import WINDOW_OFFSET_KEY, LeasedDeliveries, LeasedPlayers
from poller.store import OutboxEntry, PollRecord, Store, open_store

from run_fakes import Clock, Fetcher, Sender, config, jobs
from support import pg_schema

T0 = datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
LEASE = timedelta(minutes=5)


# -- backends ---------------------------------------------------------------------------------


@dataclass
class Db:
    kind: str
    url: str
    stores: list[Store] = field(default_factory=list)

    def open(self) -> Store:
        store = open_store(self.url)
        self.stores.append(store)
        return store


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    if request.param == "sqlite":
        d = Db("sqlite", f"sqlite:///{tmp_path / 'osrs.db'}")
        yield d
        for s in d.stores:
            s.close()
        return
    with pg_schema(request.getfixturevalue("postgres_url")) as url:
        d = Db("postgresql", url)
        yield d
        for s in d.stores:
            s.close()


def players(store: Store, n: int) -> list[int]:
    store.sync_players([(f"Player {i:03d}", "regular") for i in range(n)], T0)
    return [p.id for p in store.active_players(with_snapshots=False)]


def queue_events(store: Store, per_hook: dict[str, int]) -> None:
    """Pending deliveries: ``n`` events for each webhook."""
    entries = [OutboxEntry("levelup", {"player": "x", "n": i}, (hook,))
               for hook, n in per_hook.items() for i in range(n)]
    store.record_events(entries, T0)


def parallel(n: int, work: Any) -> list[Any]:
    """``work(i)`` in ``n`` threads started together; their results."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


# -- players ----------------------------------------------------------------------------------


def test_concurrent_claimers_take_disjoint_players_and_all_of_them(db: Db) -> None:
    ids = players(db.open(), 120)
    stores = [db.open() for _ in range(4)]

    def claim_all(i: int) -> list[int]:
        got: list[int] = []
        while True:
            batch = stores[i].claim_due_players(f"owner-{i}", T0, HOUR, LEASE, 7)
            if not batch:
                return got
            got += [p.id for p in batch]

    taken = parallel(4, claim_all)
    flat = [pid for part in taken for pid in part]
    assert sorted(flat) == sorted(ids)  # every player once, none twice


def test_only_due_unleased_active_players_are_claimed(db: Db) -> None:
    store = db.open()
    ids = players(store, 6)
    store.record_poll([PollRecord(player_id=ids[0], taken_at=T0 - timedelta(minutes=30),
                                  snapshot=None)])
    store.sync_players([(f"Player {i:03d}", "regular") for i in range(1, 6)], T0)  # 0 leaves
    store.sync_players([(f"Player {i:03d}", "regular") for i in range(6)], T0)  # and is back
    store.record_poll([PollRecord(player_id=ids[1], taken_at=T0 - timedelta(minutes=61),
                                  snapshot=None)])
    got = store.claim_due_players("a", T0, HOUR, LEASE, 100)
    assert sorted(p.id for p in got) == sorted(ids[1:])  # polled 30 min ago: not due
    assert store.claim_due_players("b", T0, HOUR, LEASE, 100) == []
    # With windows: due when not polled since the window began.
    store.release_players("a")
    window = store.claim_due_players("c", T0, None, LEASE, 100,
                                     window_start=T0 - timedelta(minutes=20))
    assert sorted(p.id for p in window) == sorted(ids)


def test_an_expired_lease_is_taken_over_and_the_loser_records_nothing(db: Db) -> None:
    a, b = db.open(), db.open()
    ids = players(a, 3)
    mine = a.claim_due_players("a", T0, HOUR, LEASE, 10)
    assert len(mine) == 3
    assert b.claim_due_players("b", T0 + LEASE / 2, HOUR, LEASE, 10) == []
    theirs = b.claim_due_players("b", T0 + LEASE, HOUR, LEASE, 10)  # a's lease ran out
    assert sorted(p.id for p in theirs) == sorted(ids)

    def records(owner_events: str) -> list[PollRecord]:
        return [PollRecord(player_id=i, taken_at=T0 + LEASE,
                           snapshot=None, outbox=[OutboxEntry("player", {"by": owner_events},
                                                             ("clan",))])
                for i in ids]

    assert a.record_claimed("a", records("a")).events_added == 0  # fenced out
    assert b.record_claimed("b", records("b")).events_added == 3
    assert {e.payload["by"] for e in a.recent_events()} == {"b"}
    # Recording released b's leases; a's late release touches nothing of anyone else's.
    assert a.release_players("a") == 0
    assert b.claim_due_players("c", T0 + 2 * HOUR, HOUR, LEASE, 10) != []


def test_a_claimed_poll_counts_from_the_time_of_its_claim(db: Db) -> None:
    store = db.open()
    ids = players(store, 2)
    claimed = store.claim_due_players("a", T0, HOUR, LEASE, 10)
    late = T0 + timedelta(minutes=2)  # the fetch ended in the next window
    store.record_claimed("a", [PollRecord(player_id=p.id, taken_at=late, snapshot=None)
                               for p in claimed], polled_at=T0)
    assert {p.last_polled_at for p in store.active_players()} == {T0}
    again = store.claim_due_players("b", late, None, LEASE, 10, window_start=T0 + HOUR / 60)
    assert sorted(p.id for p in again) == sorted(ids)


def test_release_gives_back_only_the_owners_leases(db: Db) -> None:
    store = db.open()
    players(store, 4)
    a = store.claim_due_players("a", T0, HOUR, LEASE, 2)
    b = store.claim_due_players("b", T0, HOUR, LEASE, 2)
    assert store.release_players("a", [a[0].id]) == 1
    again = store.claim_due_players("c", T0, HOUR, LEASE, 10)
    assert [p.id for p in again] == [a[0].id]
    assert store.release_players("b") == len(b)


# -- deliveries -------------------------------------------------------------------------------


def test_concurrent_delivery_claims_split_by_webhook(db: Db) -> None:
    seed = db.open()
    queue_events(seed, {"a": 30, "b": 30, "c": 30, "d": 30})
    stores = [db.open() for _ in range(3)]

    def claim(i: int) -> list[tuple[int, str]]:
        got = stores[i].claim_deliveries(f"owner-{i}", T0, LEASE, 1000)
        return [(d.delivery_id, d.webhook) for d in got]

    taken = parallel(3, claim)
    flat = [d for part in taken for d in part]
    assert len(flat) == len({i for i, _ in flat})  # no delivery twice
    hooks = [{w for _, w in part} for part in taken]
    for i, mine in enumerate(hooks):  # a webhook goes to one claimer at a time
        for j, other in enumerate(hooks):
            assert i == j or not (mine & other)
    # A second round finds nothing: every webhook is held by someone.
    assert stores[0].claim_deliveries("late", T0, LEASE, 1000) == []


def test_a_delivery_lease_runs_out_and_the_loser_does_not_send(db: Db) -> None:
    a, b = db.open(), db.open()
    queue_events(a, {"clan": 5})
    mine = [d.delivery_id for d in a.claim_deliveries("a", T0, LEASE, 100)]
    assert len(mine) == 5
    assert b.claim_deliveries("b", T0 + LEASE / 2, LEASE, 100) == []
    # Renewing just before a send keeps the webhook: b still finds nothing after the old expiry.
    assert a.confirm_deliveries("a", mine[:2], T0 + LEASE / 2, LEASE) == mine[:2]
    assert [d.delivery_id for d in b.claim_deliveries("b", T0 + LEASE, LEASE, 100)] == []
    # Once every lease has run out, b takes them all; a may no longer send any.
    taken = b.claim_deliveries("b", T0 + 2 * LEASE, LEASE, 100)
    assert sorted(d.delivery_id for d in taken) == mine
    assert a.confirm_deliveries("a", mine, T0 + 2 * LEASE, LEASE) == []
    assert b.confirm_deliveries("b", mine, T0 + 2 * LEASE, LEASE) == mine
    assert b.mark_delivered(mine, T0 + 2 * LEASE) == 5
    assert b.release_deliveries("b") == 0  # marking settled and released them
    assert b.confirm_deliveries("b", mine, T0 + 2 * LEASE, LEASE) == []


def test_only_due_pending_deliveries_of_the_given_webhooks(db: Db) -> None:
    store = db.open()
    queue_events(store, {"clan": 2, "gone": 2})
    ids = [d.delivery_id for d in store.pending_deliveries(T0)]
    clan = [d.delivery_id for d in store.pending_deliveries(T0) if d.webhook == "clan"]
    store.mark_retry(clan[:1], T0, T0 + HOUR, "503")
    got = store.claim_deliveries("a", T0, LEASE, 100, webhooks=["clan"])
    assert [d.delivery_id for d in got] == clan[1:]
    assert store.claim_deliveries("b", T0 + LEASE / 2, LEASE, 100, webhooks=["clan"]) == []
    assert store.release_deliveries("a") == 1
    later = store.claim_deliveries("b", T0 + 2 * HOUR, LEASE, 100, webhooks=["clan"])
    assert [d.delivery_id for d in later] == clan
    assert set(ids) > set(clan)


def test_the_window_offset_is_chosen_once_per_database(db: Db) -> None:
    a, b = db.open(), db.open()
    first = parallel(2, lambda i: (a, b)[i].shared_fraction(WINDOW_OFFSET_KEY))
    assert first[0] == first[1] and 0.0 <= first[0] < 1.0
    assert a.shared_fraction(WINDOW_OFFSET_KEY) == first[0]


# -- three `run` processes, one dead ----------------------------------------------------------

N_PLAYERS = 24
SKILLS = ("Cooking", "Fishing")
HOOKS = ("1", "2")  # webhook ids of hook0 and hook1 in run_fakes.config


def test_three_processes_one_dead_every_player_once_per_window_every_message_once(
    db: Db, tmp_path: Path
) -> None:
    """Three `run` processes' jobs on one database, on a fake clock: one claims players and
    messages and dies holding them (its leases stay behind); the other two poll every player
    exactly once in every window — the dead one's players within the same window once its
    leases ran out — and send every message exactly once, nothing lost."""
    settings = config(tmp_path, players=N_PLAYERS, database=db.url, name="Player {i:02d}",
                      hooks=len(HOOKS))
    seed = db.open()
    seed.set_meta(WINDOW_OFFSET_KEY, "0")  # windows on the hour: T0 starts one
    clock = Clock(T0 + timedelta(minutes=1))
    sender = Sender()
    fetchers = {tag: Fetcher(clock=clock) for tag in ("p0", "p1", "p2")}
    procs = {tag: jobs(settings, f, sender, clock=clock, owner=f"host:{tag}",
                       open=lambda s: db.open())
             for tag, f in fetchers.items()}

    def level(n: int) -> None:
        for f in fetchers.values():
            f.level = n

    def every_job(*tags: str) -> None:
        parallel(len(tags), lambda i: procs[tags[i]].hiscores())
        parallel(len(tags), lambda i: procs[tags[i]].deliveries())

    # 1. The victim alone: the baselines, then (next window) everyone's level-ups, queued.
    level(60)
    procs["p0"].hiscores()
    clock.at = T0 + HOUR + timedelta(minutes=1)
    level(61)
    procs["p0"].hiscores()
    # 2. Next window, 62: the victim claims a batch of players and the messages, then dies
    #    (SIGKILL: nothing recorded, nothing sent, nothing released).
    clock.at = T0 + 2 * HOUR + timedelta(minutes=1)
    level(62)
    victim = procs["p0"]
    store = victim.store_for("hiscores")
    batch = next(LeasedPlayers(store, victim.owner, victim.timing, 0.0, 8).batches(clock))
    assert batch.players is not None and len(batch.players) == 8
    held = LeasedDeliveries(store, victim.owner, victim.timing.lease, threading.Event(),
                            ["hook0", "hook1"], clock).take(clock())
    assert held
    # 3. The survivors: all but the dead one's players at once; its messages wait.
    every_job("p1", "p2")
    polled_now = [name for f in (fetchers["p1"], fetchers["p2"]) for _, name in f.calls]
    assert len(polled_now) == N_PLAYERS - 8
    assert not set(polled_now) & {p.name for p in batch.players}
    held_hooks = {HOOKS[int(d.webhook.removeprefix("hook"))] for d in held}
    for hook in held_hooks:  # what the dead one held is not sent while its lease holds
        assert not [line for line in sender.lines(hook) if "60 → 61" in line]
    # ... and once its leases ran out (five minutes), the rest, in the same window.
    clock.advance(victim.timing.lease + timedelta(seconds=1))
    every_job("p1", "p2")
    clock.at = T0 + 2 * HOUR + timedelta(minutes=40)
    every_job("p1", "p2")  # nothing left to do in this window

    per_window: Counter[tuple[int, str]] = Counter(
        (int((at - T0) / HOUR), name) for f in fetchers.values() for at, name in f.calls)
    for k in range(3):
        assert [per_window[(k, f"Player {i:02d}")] for i in range(N_PLAYERS)] == [1] * N_PLAYERS
    assert {name for _, name in fetchers["p0"].calls} == {f"Player {i:02d}" for i in
                                                          range(N_PLAYERS)}

    # No message duplicated, none lost: each level-up line exactly once in each channel.
    want = Counter(f"Player {i:02d}: {skill} {a} → {a + 1}"
                   for i in range(N_PLAYERS) for skill in SKILLS for a in (60, 61))
    for hook in HOOKS:
        assert Counter(sender.lines(hook)) == want, hook
    events = seed.recent_events(limit=10_000)
    assert len([e for e in events if e.kind == "levelup"]) == len(want)
    assert seed.count_pending() == {}
    for p in procs.values():
        p.close()
    for table in ("player", "delivery"):
        assert leases_left(db, table) == 0


def leases_left(db: Db, table: str) -> int:
    sql = f"SELECT count(*) FROM {table} WHERE lease_owner IS NOT NULL"
    if db.kind == "sqlite":
        import sqlite3

        conn: Any = sqlite3.connect(db.url.removeprefix("sqlite:///"))
    else:
        import psycopg2

        conn = psycopg2.connect(db.url)
    try:
        cur = conn.cursor()
        cur.execute(sql)
        return int(cur.fetchone()[0])
    finally:
        conn.close()
