"""Leases on SQLite and the real PostgreSQL: claims are disjoint across concurrent claimers,
expired leases are taken over, a process that lost its lease records and sends nothing; and the
headline: three `osrs-notify run` processes on one PostgreSQL schema against loopback fakes,
one killed with SIGKILL mid-run, and still every player polled exactly once per window, no
Discord message duplicated and nothing lost once the dead process's leases ran out.

PostgreSQL runs need OSRS_TEST_POSTGRES_URL; each test gets its own schema (dropped after).
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from poller.scheduler import WINDOW_OFFSET_KEY
from poller.store import OutboxEntry, PollRecord, Store, open_store

from support import fake_discord, fake_hiscores

T0 = datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
LEASE = timedelta(minutes=5)


# -- backends ---------------------------------------------------------------------------------


def _schema_url(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options={quote(f'-c search_path={schema}')}"


@contextmanager
def pg_schema(base: str) -> Iterator[str]:
    """A fresh schema on the test server; its URL. Dropped afterwards."""
    import psycopg2

    schema = f"osrs_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(base)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield _schema_url(base, schema)
        finally:
            with admin.cursor() as cur:
                cur.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        admin.close()


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


# -- three `run` processes, one killed ----------------------------------------------------------

N_PLAYERS = 24
WINDOW = 10.0  # seconds: `run --interval-seconds`
LEASE_S = 3.0
SKILLS = ("Cooking", "Fishing")


class Gate:
    """Per-process switch in the fakes: while closed, that process's requests wait; once
    ``drop``ped (the process was killed) they end with no answer and leave no record."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.open.set()
        self.dropped = threading.Event()
        self.held = 0
        self.lock = threading.Lock()

    def close(self) -> None:
        self.open.clear()

    def drop(self) -> None:
        self.dropped.set()
        self.open.set()

    def passes(self) -> bool:
        """Wait while closed; False when the request must be dropped."""
        if self.dropped.is_set():
            return False
        if not self.open.is_set():
            with self.lock:
                self.held += 1
            self.open.wait(60)
        return not self.dropped.is_set()


class Hiscores(fake_hiscores.FakeHiscores):  # type: ignore[misc,name-defined]
    """The fake hiscores, told which process asked (``/p<n>`` before the path), answering
    slowly enough that a batch is in hand for a while; ``log`` has every answered request."""

    def __init__(self, gates: dict[str, Gate]) -> None:
        super().__init__()
        self.gates = gates
        self.log: list[tuple[float, str, str]] = []  # (time, process, player)
        self.local = threading.local()

    def reply_for(self, board: str, player: str) -> Any:
        time.sleep(0.1)
        reply = super().reply_for(board, player)
        with self.lock:
            self.log.append((time.time(), self.local.tag, player))
        return reply


class TaggedHandler(fake_hiscores._Handler):  # type: ignore[misc,name-defined]
    def do_GET(self) -> None:  # noqa: N802
        tag, _, rest = self.path.lstrip("/").partition("/")
        if not self.fake.gates[tag].passes():
            self.close_connection = True
            return
        self.fake.local.tag = tag
        self.path = "/" + rest
        super().do_GET()


class Discord(fake_discord.FakeDiscord):  # type: ignore[misc,name-defined]
    """The strict fake Discord, told which process posted (``/p<n>`` before ``/api``)."""

    def __init__(self, gates: dict[str, Gate]) -> None:
        super().__init__()
        self.gates = gates
        self.accepted_from: Counter[str] = Counter()

    def handle(self, method: str, path: str, headers: Any, raw: bytes | None) -> Any:
        tag = path.lstrip("/").split("/", 1)[0]
        if method == "POST" and not self.gates[tag].passes():
            return None
        reply = super().handle(method, path, headers, raw)
        if method == "POST" and reply is not None and reply[0] == 200:
            with self.lock:
                self.accepted_from[tag] += 1
        return reply


@dataclass
class Cluster:
    home: Path
    url: str
    env: dict[str, str]
    hiscores_url: str
    discord: Discord
    hiscores: Hiscores
    hiscores_gates: dict[str, Gate]
    discord_gates: dict[str, Gate]
    procs: dict[str, subprocess.Popen[str]] = field(default_factory=dict)
    shift: float = 0.0

    def start(self, tag: str) -> subprocess.Popen[str]:
        env = dict(self.env)
        env.update(OSRS_API_ENDPOINT=f"{self.hiscores_url}/{tag}",
                   DISCORD_API_BASE=f"{self.discord.origin}/{tag}/api/v10")
        exe = Path(sys.executable).with_name("osrs-notify")
        proc = subprocess.Popen(
            [str(exe), "run", "--interval-seconds", str(WINDOW), "--lease-seconds",
             str(LEASE_S), "--deliver-seconds", "1"],
            cwd=self.home, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self.procs[tag] = proc
        return proc

    def window_of(self, t: float) -> int:
        return math.floor((t - self.shift) / WINDOW)

    def window_start(self, k: int) -> float:
        return k * WINDOW + self.shift

    def set_level(self, level: int) -> None:
        from poller import game

        xp = game.xp_for_level(level)
        for i in range(N_PLAYERS):
            self.hiscores.set_player(
                f"Player {i:02d}", fake_hiscores.hiscores_body({s: xp for s in SKILLS}))

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        import psycopg2

        conn = psycopg2.connect(self.url)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall()
        finally:
            conn.close()

    def report(self) -> str:
        """What each process logged and what the database holds (for a failure message)."""
        out = ""
        for tag, proc in self.procs.items():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                _, err = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
            out += f"\n--- {tag} (pid {proc.pid}) exited {proc.returncode}:\n{err[-3000:]}"
        out += "\n--- deliveries: " + repr(self.query(
            "SELECT webhook, status, lease_owner, count(*) FROM delivery "
            "GROUP BY webhook, status, lease_owner ORDER BY 1, 2"))
        out += "\n--- players: " + repr(self.query(
            "SELECT lease_owner, max(last_polled_at), count(*) FROM player GROUP BY 1"))
        return out

    def polled_since(self, t: float) -> int:
        at = datetime.fromtimestamp(t, tz=timezone.utc).replace(tzinfo=None)
        return self.query(
            f"SELECT count(*) FROM player WHERE last_polled_at >= '{at.isoformat()}'")[0][0]

    def leases_of(self, pid: int, table: str) -> int:
        return self.query(
            f"SELECT count(*) FROM {table} WHERE lease_owner LIKE '%:{pid}:%'")[0][0]


def wait_until(cond: Any, timeout: float, what: str, cluster: Cluster | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}{cluster.report() if cluster else ''}")


@pytest.fixture
def cluster(postgres_url: str, tmp_path: Path) -> Iterator[Cluster]:
    hiscores_gates = {f"p{i}": Gate() for i in range(3)}
    discord_gates = {f"p{i}": Gate() for i in range(3)}
    hiscores = Hiscores(hiscores_gates)
    with pg_schema(postgres_url) as url, fake_hiscores.FakeServer(hiscores) as server, \
            Discord(discord_gates) as discord:
        server.httpd.RequestHandlerClass = type("H", (TaggedHandler,), {"fake": hiscores})
        hooks = {name: discord.add_webhook(name=name).id for name in ("alpha", "beta")}
        names = "".join(f'[[players]]\nname = "Player {i:02d}"\n' for i in range(N_PLAYERS))
        (tmp_path / "osrs-notify.toml").write_text(
            'database = "sqlite:///unused.db"\n'
            "[poll]\nconcurrency = 2\nrate_limit = 6000\ncache_ttl = 0\nretries = 0\n"
            "timeout = 30\n"
            '[webhooks.alpha]\nurl = "${ALPHA_URL}"\n[webhooks.beta]\nurl = "${BETA_URL}"\n'
            "[rules]\nlevels = { every = 1 }\n" + names
        )
        (tmp_path / ".env").write_text(
            f"ALPHA_URL={discord.webhook_url(hooks['alpha'])}\n"
            f"BETA_URL={discord.webhook_url(hooks['beta'])}\n"
        )
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OSRS_", "DATABASE_", "REDIS_"))}
        env.update(OSRS_NOTIFY_CONFIG=str(tmp_path / "osrs-notify.toml"), DATABASE_URL=url)
        c = Cluster(tmp_path, url, env, server.url, discord, hiscores, hiscores_gates,
                    discord_gates)
        try:
            yield c
        finally:
            for gate in [*hiscores_gates.values(), *discord_gates.values()]:
                gate.drop()
            for proc in c.procs.values():
                if proc.poll() is None:
                    proc.kill()
                proc.communicate()


@pytest.mark.postgres
def test_three_processes_one_killed_every_player_once_per_window_every_message_once(
    cluster: Cluster,
) -> None:
    c = cluster
    # Windows start 10 s from now, every 10 s: time for the first process to start and poll.
    first = time.time() + WINDOW
    c.shift = first % WINDOW
    store = open_store(c.url)
    store.set_meta(WINDOW_OFFSET_KEY, f"{c.shift / WINDOW:.9f}")
    store.close()
    c.set_level(60)

    # 1. The victim alone: it polls the baselines, then (next window) everyone's level-ups.
    #    Its Discord posts are held, never answered: it claims the messages and is stuck.
    c.discord_gates["p0"].close()
    victim = c.start("p0")
    wait_until(lambda: c.polled_since(0) == N_PLAYERS, 20, "the baselines", c)
    base = c.window_of(min(t for t, _, _ in c.hiscores.log))
    assert c.window_of(max(t for t, _, _ in c.hiscores.log)) == base, "start-up took > 10 s"
    c.set_level(61)
    wait_until(lambda: c.polled_since(c.window_start(base + 1)) == N_PLAYERS, 2 * WINDOW,
               "the level-up poll", c)
    wait_until(lambda: c.leases_of(victim.pid, "delivery") > 0
               and c.discord_gates["p0"].held > 0, 2 * WINDOW,
               "the victim to be stuck sending", c)

    # 2. Two more processes join; the next window's level-ups; the victim's hiscores requests
    #    are held too, so whatever it claims next stays in its hands.
    c.start("p1")
    c.start("p2")
    c.set_level(62)
    c.hiscores_gates["p0"].close()
    killed_in: int | None = None
    for _ in range(3):  # the victim claims players in one of the next windows
        k = c.window_of(time.time()) + 1
        wait_until(lambda k=k: time.time() >= c.window_start(k), 2 * WINDOW, "a new window")
        try:
            wait_until(lambda: c.leases_of(victim.pid, "player") > 0, WINDOW * 0.6,
                       "the victim to claim players")
        except pytest.fail.Exception:
            continue
        victim.send_signal(signal.SIGKILL)
        killed_in = k
        break
    assert killed_in is not None, "the victim never claimed players"
    victim.wait(10)
    for gate in (c.hiscores_gates["p0"], c.discord_gates["p0"]):
        gate.drop()  # its held requests end unanswered: they never reached the servers
    assert c.leases_of(victim.pid, "player") > 0  # the dead process's leases are there ...

    # 3. ... until they run out: the survivors poll its players within the same window, and
    #    send every message (the victim's never reached Discord).
    wait_until(lambda: c.polled_since(c.window_start(killed_in)) == N_PLAYERS, WINDOW,
               "the dead process's players to be polled", c)
    assert time.time() < c.window_start(killed_in + 1) + 1.0
    expected_lines = N_PLAYERS * len(SKILLS) * 2  # 60→61 and 61→62, per webhook

    def lines(hook: str) -> Counter[str]:
        seen: Counter[str] = Counter()
        for message in c.discord.messages_for(hook):
            for embed in message.body.get("embeds", []):
                author = embed.get("author", {}).get("name", "")
                for line in embed.get("description", "").splitlines():
                    seen[f"{author}: {line}"] += 1
        return seen

    hooks = list(c.discord.webhooks)
    wait_until(lambda: all(sum(lines(h).values()) >= expected_lines for h in hooks), 20,
               "every message to reach Discord", c)
    stop_at = time.time()
    for tag in ("p1", "p2"):
        c.procs[tag].send_signal(signal.SIGTERM)
    for tag in ("p1", "p2"):
        _, err = c.procs[tag].communicate(timeout=15)
        assert c.procs[tag].returncode == 0, err[-3000:]
        assert "Traceback" not in err
    assert time.time() - stop_at < 10

    # Every player polled exactly once in every window from the baselines to the kill (the
    # victim's held requests were never answered, so they are not in the log), at most once
    # in any later window that was cut short by the stop.
    per_window: Counter[tuple[int, str]] = Counter(
        (c.window_of(t), player) for t, _, player in c.hiscores.log)
    last = c.window_of(stop_at)
    for k in range(base, last + 1):
        counts = [per_window[(k, f"Player {i:02d}")] for i in range(N_PLAYERS)]
        if k <= killed_in:
            assert counts == [1] * N_PLAYERS, (k - base, counts)
        else:
            assert max(counts) <= 1, (k - base, counts)
    assert {tag for _, tag, _ in c.hiscores.log} & {"p1", "p2"}  # the survivors took over

    # No message duplicated, none lost: each level-up line exactly once in each channel.
    want = Counter(f"Player {i:02d}: {skill} {a} → {a + 1}"
                   for i in range(N_PLAYERS) for skill in SKILLS for a in (60, 61))
    for hook in hooks:
        assert lines(hook) == want, hook
    assert c.discord.accepted_from["p0"] == 0
    assert all(r.status in (200, 429) for r in c.discord.requests)
    events = c.query("SELECT payload FROM event WHERE kind = 'levelup'")
    assert len(events) == len(want)  # each level-up derived once, though polled by two
    assert len({json.dumps(json.loads(p), sort_keys=True) for (p,) in events}) == len(want)
    left = c.query("SELECT status, count(*) FROM delivery GROUP BY status")
    assert left == [("sent", 2 * len(want))]
    assert c.query("SELECT count(*) FROM player WHERE lease_owner IS NOT NULL") == [(0,)]
    assert c.query("SELECT count(*) FROM delivery WHERE lease_owner IS NOT NULL") == [(0,)]
