"""Store details that are SQLite's or nobody's: URLs, connection settings, errors, locks, speed.

The behaviour shared with PostgreSQL (sync, polls, outbox, renames, migrations, cross-process
locks) runs on both backends in tests/integration/osrs/test_store_postgres.py.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from poller import game
from poller.snapshot import OVERALL, Snapshot
from poller.store import (
    DatabaseFull,
    LockHeld,
    OutboxEntry,
    PollRecord,
    Store,
    StoreError,
    migrations,
    open_store,
)
from poller.store.backend import Target, database_error

from support import cap_database_growth

T0 = datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path / 'osrs.db'}")
    yield s
    s.close()


def snap(n: int) -> Snapshot:
    skills = {OVERALL: 4_000_000_000 + n, **{s: 13_034_431 + n for s in game.SKILLS}}
    acts = {name: 500 + i for i, name in enumerate(game.ACTIVITIES)}
    return Snapshot(skills=skills, activities=acts, overall_level=2376)


def test_relative_absolute_and_memory_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rel = open_store("sqlite:///rel.db")
    rel.close()
    assert (tmp_path / "rel.db").is_file()
    absolute = open_store(f"sqlite:///{tmp_path / 'abs.db'}")  # → sqlite:////tmp/…/abs.db
    absolute.close()
    assert (tmp_path / "abs.db").is_file()
    mem = open_store("sqlite:///:memory:")
    mem.sync_players([("A", "regular")], T0)
    assert [p.name for p in mem.active_players()] == ["A"]
    mem.close()
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".db") == ["abs.db", "rel.db"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u:hunter2@h/db", "unsupported database URL scheme 'mysql'"),
        ("osrs.db", "has no scheme"),
        ("sqlite://host/osrs.db", "three slashes"),
        ("sqlite:///", "names no database file"),
        ("sqlite:///x.db?mode=ro", "query options"),
    ],
)
def test_bad_urls_are_one_clear_line(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message) as err:
        open_store(url)
    assert "\n" not in str(err.value) and "hunter2" not in str(err.value)


def test_missing_directory_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "deeper"
    with pytest.raises(StoreError, match=f"database directory {missing} does not exist"):
        open_store(f"sqlite:///{missing / 'osrs.db'}")
    assert not missing.exists()


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a directory"):
        open_store(f"sqlite:///{tmp_path}")


def test_unreachable_postgres_masks_the_password() -> None:
    pytest.importorskip("psycopg2")
    # Port 1 on localhost refuses at once: a connection failure without any server.
    url = "postgresql://osrs:hunter2-secret@127.0.0.1:1/osrs?connect_timeout=2"
    with pytest.raises(StoreError) as err:
        open_store(url)
    text = str(err.value)
    assert text.startswith("cannot open database postgresql://osrs:****@127.0.0.1:1/osrs")
    assert "hunter2" not in text and "\n" not in text


def test_importing_the_store_does_not_load_database_drivers() -> None:
    # The cron one-shot on SQLite must not pay for psycopg2 (peewee would import it eagerly).
    code = (
        "import sys, poller.store\n"
        "loaded = [m for m in ('psycopg2', 'psycopg', 'pymysql', 'MySQLdb') if m in sys.modules]\n"
        "print(','.join(loaded))\n"
        "import psycopg2\n"  # still importable afterwards, for a PostgreSQL URL
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if "No module named 'psycopg2'" in done.stderr:
        pytest.skip("psycopg2 not installed")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


# -- SQLite connection ----------------------------------------------------------------------------


def test_sqlite_pragmas(store: Store) -> None:
    db = store.db.database  # the connection settings are the point of this test
    assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute_sql("PRAGMA busy_timeout").fetchone()[0] == 5000
    assert db.execute_sql("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


def test_foreign_keys_are_enforced(store: Store) -> None:
    with pytest.raises(StoreError, match="FOREIGN KEY"):
        store.record_events([OutboxEntry("price", {}, ())], T0, player_id=12345)


def test_usable_from_another_thread(store: Store) -> None:
    store.sync_players([("A", "regular")], T0)
    seen: list[str] = []
    worker = threading.Thread(target=lambda: seen.extend(p.name for p in store.active_players()))
    worker.start()
    worker.join()
    assert seen == ["A"]


def test_memory_database_is_shared_between_threads() -> None:
    # One connection for all threads: a per-thread connection would see an empty database.
    mem = open_store("sqlite:///:memory:")
    mem.sync_players([("A", "regular")], T0)
    seen: list[str] = []
    worker = threading.Thread(target=lambda: seen.extend(p.name for p in mem.all_players()))
    worker.start()
    worker.join()
    assert seen == ["A"]
    mem.close()


# -- a full disk, a damaged file, a file that is not ours ----------------------------------------


def test_a_full_disk_is_named_not_the_failed_rollback_it_provoked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'osrs.db'}"
    open_store(url).close()
    cap_database_growth(monkeypatch)
    store = open_store(url)
    with pytest.raises(DatabaseFull) as err:
        store.record_events([OutboxEntry("price", {"note": "x" * 100_000}, ("market",))], T0)
    store.close()
    # SQLite rolled the whole transaction back itself, so peewee's ROLLBACK failed as well:
    # that echo used to be all the user saw.
    assert "cannot rollback - no transaction is active" in str(err.value.__cause__)
    assert str(err.value) == (
        f"database or disk is full: could not write to {url} (the failed write was undone); "
        f"free space on the disk holding {tmp_path} and run again"
    )
    monkeypatch.undo()
    with open_store(url) as again:
        assert again.counts()["event"] == 0


def test_an_upgrade_on_a_full_disk_is_named_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'osrs.db'}"
    open_store(url).close()

    def v_next_fills_the_disk(db) -> None:  # type: ignore[no-untyped-def]
        db.execute_sql("CREATE TABLE filler (x TEXT)")
        db.execute_sql("INSERT INTO filler VALUES (?)", ("x" * 100_000,))

    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, v_next_fills_the_disk])
    cap_database_growth(monkeypatch)
    with pytest.raises(DatabaseFull, match=r"^database or disk is full: could not write to "):
        open_store(url)


class _PgDiskFull(Exception):
    pgcode = "53100"  # what psycopg2 sets; the text is the server's


def test_a_full_postgres_disk_says_the_server_is_full() -> None:
    target = Target("postgresql", "postgresql://u:hunter2@db/osrs", "postgresql://u:****@db/osrs")
    exc = _PgDiskFull('could not extend file "base/16384/2619": wrote only 4096 of 8192 bytes')
    error = database_error(exc, target, "database error")
    assert isinstance(error, DatabaseFull)
    assert str(error) == (
        "the database server's disk is full (could not extend file \"base/16384/2619\": wrote "
        "only 4096 of 8192 bytes): could not write to postgresql://u:****@db/osrs (the failed "
        "write was undone); free space on the server and run again"
    )


def _other_programs_database(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.execute("INSERT INTO notes (body) VALUES ('keep me')")
    conn.commit()
    conn.close()


def _damaged_osrs_database(path: Path) -> None:
    with open_store(f"sqlite:///{path}") as store:
        store.sync_players([("A", "regular")], T0)
    with path.open("r+b") as f:
        f.seek(100)  # page 1's b-tree header: the schema table itself is unreadable
        f.write(bytes(range(256)) * 2)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(
            lambda p: p.write_bytes(b""),
            "is empty (0 bytes), not an osrs-notify database: remove it to start a new "
            "database there, or point the database setting at the right file",
            id="zero-bytes",
        ),
        pytest.param(
            lambda p: p.write_bytes(os.urandom(8192)),
            "is not a SQLite database: point the database setting at the right file, or move "
            "this one aside to start a new database",
            id="random-bytes",
        ),
        pytest.param(
            lambda p: p.write_text('database = "sqlite:///osrs.db"\n'),
            "is not a SQLite database",
            id="a-text-file",
        ),
        pytest.param(
            _other_programs_database,
            "is not an osrs-notify database: it has tables (notes) but no osrs-notify schema "
            "marker; point the database setting at a file of its own",
            id="another-programs-database",
        ),
        pytest.param(
            _damaged_osrs_database,
            "is damaged (database disk image is malformed): restore it from a backup, or move "
            "it aside to start a new database",
            id="damaged",
        ),
    ],
)
def test_a_file_that_is_not_an_osrs_notify_database_is_refused_and_left_as_it_was(
    tmp_path: Path, make, message: str  # type: ignore[no-untyped-def]
) -> None:
    path = tmp_path / "osrs.db"
    make(path)
    before = path.read_bytes()
    with pytest.raises(StoreError, match=re.escape(message)) as err:
        open_store(f"sqlite:///{path}")
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert path.read_bytes() == before  # not even switched to WAL


def test_a_sqlite_file_without_any_table_is_a_new_database(tmp_path: Path) -> None:
    """What a first run stopped before its first step committed leaves behind (a header, no
    table): nothing in it to lose, so it is taken for new rather than refused."""
    path = tmp_path / "osrs.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 7")  # writes the header
    conn.close()
    with open_store(f"sqlite:///{path}") as store:
        assert store.schema_version() == migrations.current_version()


# -- locks ------------------------------------------------------------------------------------


def test_lock_file_sits_beside_the_database(tmp_path: Path, store: Store) -> None:
    with store.lock():
        lock = tmp_path / "osrs.db.lock"
        assert lock.read_text().strip().isdigit()  # the holder's pid, for the message
        with pytest.raises(LockHeld, match=r"osrs\.db\.lock \(pid \d+\)"):
            with store.lock():
                pass
    with store.lock("digest"):
        assert (tmp_path / "osrs.db.digest.lock").exists()
    with pytest.raises(ValueError, match="lock name"):
        store.lock("../etc/passwd")


def test_memory_database_lock_is_process_local() -> None:
    mem = open_store("sqlite:///:memory:")
    with mem.lock("poll"):
        with pytest.raises(LockHeld):
            with mem.lock("poll"):
                pass
    with mem.lock("poll"):
        pass
    mem.close()


# -- speed (a smoke check, not a benchmark) ------------------------------------------------------


def test_two_thousand_players_in_one_batch(store: Store) -> None:
    n = 2_000
    store.sync_players([(f"Player {i}", "regular") for i in range(n)], T0)
    players = store.active_players()
    assert len(players) == n

    def batch(at: datetime, bump: int, events: bool) -> tuple[float, object]:
        outbox = (OutboxEntry("levelup", {"metric": "Attack", "new": 99}, ("clan",)),)
        records = [
            PollRecord(p.id, at, snap(bump), outbox=outbox if events else ()) for p in players
        ]
        start = time.perf_counter()
        stats = store.record_poll(records)
        return time.perf_counter() - start, stats

    baseline, stats = batch(T0, 0, events=False)
    assert stats.snapshots_added == n  # type: ignore[attr-defined]
    changed, stats = batch(T0 + timedelta(hours=1), 1, events=True)
    assert (stats.snapshots_added, stats.events_added, stats.deliveries_added) == (n, n, n)  # type: ignore[attr-defined]
    unchanged, stats = batch(T0 + timedelta(hours=2), 1, events=False)
    assert stats.snapshots_added == 0  # type: ignore[attr-defined]
    start = time.perf_counter()
    reloaded = store.active_players()
    load = time.perf_counter() - start
    assert reloaded[0].last_snapshot == snap(1)
    # Generous bounds: the real budget (SPEC "Performance") is measured by tests/bench.
    for label, took in (("baseline", baseline), ("changed", changed), ("unchanged", unchanged),
                        ("load", load)):
        assert took < 3.0, f"{label} batch of {n} took {took:.2f} s"


# -- several stores in one process --------------------------------------------------------------


def test_models_are_bound_per_database_each_with_its_dialect() -> None:
    """Each open database gets its own bound models: a SQLite store's timestamps are the
    fixed-width text its comparisons need, a PostgreSQL store's are TIMESTAMP values, whatever
    else the process has open; the unbound models run nothing."""
    from poller.store.models import Delivery, bind_models
    from poller.store.orm import pw

    lite = bind_models(pw.SqliteDatabase(":memory:"))
    pg = bind_models(pw.PostgresqlDatabase("postgresql://nowhere/osrs"))
    lite_again = bind_models(pw.SqliteDatabase(":memory:"))
    assert lite.Delivery is not lite_again.Delivery and lite.Delivery is not pg.Delivery
    for models, expected in ((lite, "2026-07-01 12:00:00.000000"), (pg, datetime(2026, 7, 1, 12)),
                             (lite_again, "2026-07-01 12:00:00.000000")):
        D = models.Delivery
        _, params = D.select(D.id).where(D.next_attempt_at <= T0).sql()
        assert params == [expected]
    with pytest.raises(Exception, match="bound to a database"):
        Delivery.select().execute()


def test_two_stores_at_once_write_only_their_own_database(tmp_path: Path) -> None:
    a = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    b = open_store(f"sqlite:///{tmp_path / 'b.db'}")
    try:
        a.sync_players([("Alpha", "regular")], T0)
        b.sync_players([("Beta", "ironman"), ("Gamma", "regular")], T0)
        (pa,) = a.active_players()
        pb, _ = b.active_players()
        # B writes and commits while a transaction on A is open; A's is then rolled back.
        with pytest.raises(RuntimeError, match="undo A"):
            with a.transaction():
                a.record_poll([PollRecord(pa.id, T0, snap(1))])
                b.record_poll([PollRecord(pb.id, T0, snap(2), outbox=[
                    OutboxEntry("levelup", {"n": 2}, ("hook",))])])
                assert a.counts()["snapshot"] == 1
                raise RuntimeError("undo A")
        assert a.counts() == {"player": 1, "snapshot": 0, "event": 0, "delivery": 0,
                              "anomaly": 0, "attempt": 0}
        assert b.counts() == {"player": 2, "snapshot": 1, "event": 1, "delivery": 1,
                              "anomaly": 0, "attempt": 0}
        assert [p.name for p in a.all_players()] == ["Alpha"]
        assert [p.name for p in b.all_players()] == ["Beta", "Gamma"]
        later = T0 + timedelta(hours=1)
        assert [d.webhook for d in b.pending_deliveries(later)] == ["hook"]
        assert a.pending_deliveries(later) == []
        # Each store's remembered snapshots are its own: an unchanged poll adds no row on B,
        # and A's first poll of the same player id is still a new row.
        b.record_poll([PollRecord(pb.id, later, snap(2))])
        a.record_poll([PollRecord(pa.id, later, snap(2))])
        assert a.counts()["snapshot"] == b.counts()["snapshot"] == 1
    finally:
        a.close()
        b.close()


def test_two_stores_used_from_two_threads_at_once(tmp_path: Path) -> None:
    """`run`'s jobs use their stores from worker threads: nothing is shared between stores."""
    stores = [open_store(f"sqlite:///{tmp_path / f'{n}.db'}") for n in range(2)]
    start = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def work(n: int, store: Store) -> None:
        try:
            names = [(f"P{n}-{i}", "regular") for i in range(5)]
            store.sync_players(names, T0)
            start.wait()
            for step in range(20):
                players = store.active_players()
                assert [p.name for p in players] == [name for name, _ in names]
                store.record_poll([PollRecord(p.id, T0 + timedelta(minutes=step),
                                              snap(step * 10 + n)) for p in players])
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=work, args=(n, s)) for n, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for n in range(2):
        with open_store(f"sqlite:///{tmp_path / f'{n}.db'}") as store:
            assert store.counts()["snapshot"] == 100
            assert {p.name[:2] for p in store.all_players()} == {f"P{n}"}
