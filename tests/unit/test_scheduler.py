"""`run`: the schedule (coalesce, max_instances, misfire grace, intervals, jitter), the jobs on a
real SQLite store with fake hiscores/Discord seams, the stop flag, and the installed command
against loopback fakes: it polls, then SIGTERM makes it finish, save and exit 0 within seconds.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from notifier.sender import SendResult
from poller import game
from poller.hiscores import parse_json
from poller.pipeline import run_once
from poller.run_log import recent
from poller.scheduler import Service, Timing, claim_limit, jitter_for, make_timing, window_start
from poller.settings import Settings, load_settings
from poller.snapshot import Snapshot
from poller.store import Store, open_store

from support import fake_discord, fake_hiscores

T0 = datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)


def snap(level: int) -> Snapshot:
    xp = game.xp_for_level(level)
    return parse_json(fake_hiscores.hiscores_body({"Cooking": xp, "Fishing": xp}))


class Fetcher:
    def __init__(self, level: int = 60, delay: float = 0.0) -> None:
        self.level = level
        self.delay = delay
        self.calls: list[str] = []
        self.lock = threading.Lock()
        self.on_fetch: Any = None

    def fetch(self, name: str, mode: str = "regular", **_: object) -> Snapshot:
        with self.lock:
            self.calls.append(name)
        if self.on_fetch is not None:
            self.on_fetch(name)
        if self.delay:
            time.sleep(self.delay)
        return snap(self.level)


@dataclass
class Sender:
    posts: list[Any] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, address: Any, body: Any, *, thread_id: str | None = None) -> SendResult:
        with self.lock:
            self.posts.append(body)
        return SendResult("sent", 200, attempts=1)

    def global_pause_remaining(self) -> float:
        return 0.0

    def pause_all(self, seconds: float) -> None:
        pass

    def lines(self) -> list[str]:
        return [f"{e.get('author', {}).get('name', '')}: {line}"
                for body in self.posts for e in body.get("embeds", [])
                for line in e.get("description", "").splitlines()]


class Clock:
    def __init__(self, at: datetime = T0) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def config(tmp_path: Path, players: int = 5, extra: str = "") -> Settings:
    names = "".join(f'[[players]]\nname = "P{i}"\n' for i in range(players))
    path = tmp_path / "osrs-notify.toml"
    path.write_text(
        f'database = "sqlite:///{tmp_path}/state.db"\n'
        "[poll]\ninterval = \"1h\"\nconcurrency = 2\n"
        '[webhooks.clan]\nurl = "http://127.0.0.1:9/api/webhooks/1/tok"\n'
        "[rules]\nlevels = { every = 1 }\n" + extra + names
    )
    return load_settings(path, environ={})


def service(settings: Settings, fetcher: Fetcher, sender: Sender, *, clock: Clock | None = None,
            owner: str | None = None, timing: Timing | None = None) -> Service:
    return Service(
        settings,
        open_store=lambda s: open_store(s.database_url),
        build=lambda s: (fetcher, sender),
        timing=timing,
        owner=owner,
        now=clock or Clock(),
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path}/state.db")
    yield s
    s.close()


# -- the schedule ------------------------------------------------------------------------------


def test_jitter_is_five_percent_of_the_period_at_most_a_minute() -> None:
    assert jitter_for(timedelta(minutes=5)) == 15.0
    assert jitter_for(timedelta(minutes=10)) == 30.0
    assert jitter_for(timedelta(hours=1)) == 60.0
    assert jitter_for(timedelta(days=1)) == 60.0


def test_timing_follows_the_config(tmp_path: Path) -> None:
    t = make_timing(config(tmp_path))
    assert t.window == timedelta(hours=1)
    assert t.check == timedelta(minutes=1)  # a tenth of the window, at most a minute
    assert t.check_jitter == 30.0
    assert t.prices == timedelta(minutes=5) and t.prices_jitter == 15.0
    assert t.deliver == timedelta(minutes=1) and t.deliver_jitter == 3.0
    assert t.lease == timedelta(minutes=5)
    short = make_timing(config(tmp_path), interval=timedelta(seconds=8))
    assert short.check == timedelta(seconds=0.8) and short.lease == timedelta(seconds=30)
    assert make_timing(config(tmp_path), interval=timedelta(minutes=1)).lease == timedelta(
        seconds=30)


def test_jobs_coalesce_never_overlap_and_accept_one_period_of_lateness(tmp_path: Path) -> None:
    svc = service(config(tmp_path), Fetcher(), Sender())
    sched = svc.build_scheduler()
    jobs = {job.id: job for job in sched.get_jobs()}
    assert set(jobs) == {"hiscores", "deliveries"}  # no [[watch]]: no prices job
    periods = {"hiscores": 60.0, "deliveries": 60.0}
    jitters = {"hiscores": 30.0, "deliveries": 3.0}
    now = datetime.now(timezone.utc)
    for name, job in jobs.items():
        assert job.coalesce is True and job.max_instances == 1
        assert job.misfire_grace_time == periods[name] + jitters[name]
        assert job.trigger.interval == timedelta(seconds=periods[name])
        assert job.trigger.jitter == jitters[name]
        # The first runs come soon after start, not one period later.
        assert job.next_run_time - now < timedelta(seconds=5)
    svc.close()


def test_a_prices_job_only_with_watches(tmp_path: Path) -> None:
    watch = ('[webhooks.market]\nurl = "http://127.0.0.1:9/api/webhooks/2/tok"\n'
             'events = ["price"]\n[[watch]]\nitem = "Twisted bow"\nabove = 1_600_000_000\n')
    svc = service(config(tmp_path, extra=watch), Fetcher(), Sender())
    job = svc.build_scheduler().get_job("prices")
    assert job is not None and job.coalesce and job.max_instances == 1
    assert job.trigger.interval == timedelta(minutes=5) and job.trigger.jitter == 15.0
    assert job.misfire_grace_time == 315
    svc.close()


def test_after_a_sleep_each_job_runs_once_not_once_per_missed_period(tmp_path: Path) -> None:
    """The scheduler as `run` builds it, its jobs' run times set five periods in the past (a
    laptop waking up): each job runs exactly once."""
    timing = Timing(window=timedelta(hours=1), check=timedelta(seconds=10),
                    prices=timedelta(minutes=5), deliver=timedelta(seconds=10),
                    lease=timedelta(minutes=5))
    svc = service(config(tmp_path), Fetcher(), Sender(), timing=timing)
    sched = svc.build_scheduler()
    runs: dict[str, int] = {}
    lock = threading.Lock()

    def count(name: str) -> None:
        with lock:
            runs[name] = runs.get(name, 0) + 1

    past = datetime.now(timezone.utc) - timedelta(seconds=45)
    for job in sched.get_jobs():
        job.modify(func=count, args=(job.id,), next_run_time=past)
    thread = threading.Thread(target=sched.start, daemon=True)
    thread.start()
    time.sleep(1.5)
    sched.shutdown(wait=True)
    thread.join(5)
    assert runs == {"hiscores": 1, "deliveries": 1}
    svc.close()


def test_windows_are_aligned_and_shifted_by_the_offset() -> None:
    hour = timedelta(hours=1)
    assert window_start(T0 + timedelta(minutes=59), hour, 0.0) == T0
    assert window_start(T0 + timedelta(minutes=10), hour, 0.25) == T0 - timedelta(minutes=45)
    assert window_start(T0 + timedelta(minutes=20), hour, 0.25) == T0 + timedelta(minutes=15)
    eight = timedelta(seconds=8)
    starts = {window_start(T0 + timedelta(seconds=s / 10), eight, 0.5) for s in range(160)}
    assert len(starts) == 3  # 16 s after T0 spans parts of three 8 s windows shifted by 4 s


def test_claims_are_small_batches_that_fit_in_a_third_of_the_lease(tmp_path: Path) -> None:
    settings = config(tmp_path)  # concurrency 2, 60 requests a minute
    assert claim_limit(settings, timedelta(minutes=5)) == 8
    assert claim_limit(settings, timedelta(seconds=12)) == 4  # 1/s for 4 s
    assert claim_limit(settings, timedelta(seconds=1)) == 1


def test_the_cron_path_never_imports_apscheduler() -> None:
    code = ("import sys, poller.cli, poller.scheduler, poller.cli_run; "
            "sys.exit('apscheduler' in ' '.join(sys.modules))")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# -- the jobs ----------------------------------------------------------------------------------


def test_the_hiscores_job_polls_each_player_once_per_window(tmp_path: Path, store: Store) -> None:
    clock = Clock(T0)
    fetcher = Fetcher()
    svc = service(config(tmp_path, players=5), fetcher, Sender(), clock=clock)
    svc.poll_job()
    assert sorted(fetcher.calls) == [f"P{i}" for i in range(5)]
    clock.at = T0 + timedelta(minutes=1)
    svc.poll_job()  # same window: nothing is due
    assert len(fetcher.calls) == 5
    clock.at = T0 + timedelta(hours=1, minutes=1)
    svc.poll_job()
    assert len(fetcher.calls) == 10
    svc.close()
    assert all(p.last_polled_at is not None for p in store.active_players())
    assert [(m.kind, m.players_polled) for m in recent(store)] == [("hiscores", 5)] * 2
    leased = sqlite3.connect(tmp_path / "state.db").execute(
        "SELECT count(*) FROM player WHERE lease_owner IS NOT NULL").fetchone()
    assert leased == (0,)


def test_a_batch_claimed_just_before_a_window_ends_is_due_again_in_the_next(
    tmp_path: Path,
) -> None:
    clock = Clock(T0 + timedelta(minutes=59, seconds=59))
    fetcher = Fetcher()

    def slow(name: str) -> None:  # each fetch takes a second of the fake clock
        clock.at += timedelta(seconds=1)

    fetcher.on_fetch = slow
    svc = service(config(tmp_path, players=3), fetcher, Sender(), clock=clock)
    offset = svc.window_offset(svc._store("hiscores"))
    start = window_start(clock.at, timedelta(hours=1), offset)
    clock.at = start + timedelta(minutes=59, seconds=59)
    svc.poll_job()  # claimed at :59:59, recorded three seconds later, in the next window
    assert len(fetcher.calls) == 3
    clock.at = start + timedelta(hours=1, seconds=10)
    svc.poll_job()
    assert len(fetcher.calls) == 3  # not twice within seconds: at least half a window apart
    clock.at = start + timedelta(hours=1, minutes=31)
    svc.poll_job()
    assert len(fetcher.calls) == 6  # but polled in this window too, not skipped until the next
    svc.close()


def test_an_edited_config_is_picked_up_at_the_next_check(tmp_path: Path) -> None:
    settings = config(tmp_path, players=2)
    fetcher = Fetcher()
    clock = Clock(T0)
    svc = Service(settings, open_store=lambda s: open_store(s.database_url),
                  build=lambda s: (fetcher, Sender()),
                  reload=lambda: load_settings(settings.path, environ={}), now=clock)
    svc.poll_job()
    assert sorted(fetcher.calls) == ["P0", "P1"]
    path = settings.path
    path.write_text(path.read_text() + '[[players]]\nname = "Newcomer"\n')
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    clock.at = T0 + timedelta(minutes=1)
    svc.poll_job()  # the newcomer is due at once (its baseline); the others wait for their window
    assert sorted(fetcher.calls) == ["Newcomer", "P0", "P1"]
    path.write_text(path.read_text() + "[poll]\nbogus = 1\n")  # broken: the running one stays
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 2 * 10**9))
    svc.poll_job()
    assert len(svc.settings.players) == 3
    svc.close()


def test_run_refuses_a_config_with_nothing_to_do(tmp_path: Path) -> None:
    (tmp_path / "osrs-notify.toml").write_text('database = "sqlite:///state.db"\n')
    exe = Path(sys.executable).with_name("osrs-notify")
    out = subprocess.run([str(exe), "--config", str(tmp_path / "osrs-notify.toml"), "run"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "nothing to run" in out.stderr
    assert "Traceback" not in out.stderr


def test_two_services_share_a_window_and_each_message_goes_once(tmp_path: Path) -> None:
    settings = config(tmp_path, players=20)
    clock = Clock(T0)
    sender = Sender()
    fetchers = [Fetcher(delay=0.005), Fetcher(delay=0.005)]
    services = [service(settings, f, sender, clock=clock, owner=f"owner-{i}")
                for i, f in enumerate(fetchers)]
    # Baseline, then everyone levels up: both poll at once, then both deliver at once.
    for level, when in ((60, T0), (61, T0 + timedelta(hours=1))):
        clock.at = when
        for f in fetchers:
            f.level = level
        threads = [threading.Thread(target=s.poll_job) for s in services]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    calls = fetchers[0].calls + fetchers[1].calls
    assert sorted(calls) == sorted([f"P{i}" for i in range(20)] * 2)
    threads = [threading.Thread(target=s.deliver_job) for s in services]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    lines = sender.lines()
    assert len(lines) == 40 and len(set(lines)) == 40  # Cooking and Fishing for 20 players
    for s in services:
        s.close()
    with open_store(settings.database_url) as store:
        runs = recent(store, limit=100)
    assert sum(m.deliveries_sent for m in runs if m.kind == "deliveries") == 40
    assert sum(m.players_polled for m in runs if m.kind == "hiscores") == 40


def test_run_once_stops_between_players_and_records_those_fetched(
    tmp_path: Path, store: Store
) -> None:
    settings = config(tmp_path, players=6)
    stop = threading.Event()
    fetcher = Fetcher()
    fetcher.on_fetch = lambda name: stop.set() if name == "P2" else None
    settings_one = dataclasses.replace(settings, poll=type(settings.poll)(concurrency=1))
    report = run_once(settings_one, store, fetcher, now=Clock(T0), stop=stop)
    assert [r.name for r in report.results] == ["P0", "P1", "P2"]
    polled = {p.name: p.last_polled_at for p in store.active_players()}
    assert [n for n, at in sorted(polled.items()) if at is not None] == ["P0", "P1", "P2"]


def test_a_stop_during_the_hiscores_job_releases_what_it_did_not_poll(tmp_path: Path) -> None:
    fetcher = Fetcher()
    svc = service(config(tmp_path, players=12), fetcher, Sender(), clock=Clock(T0))
    fetcher.on_fetch = lambda name: svc.stop.set() if len(fetcher.calls) == 3 else None
    svc.poll_job()
    svc.close()
    db = sqlite3.connect(tmp_path / "state.db")
    polled = db.execute("SELECT count(*) FROM player WHERE last_polled_at IS NOT NULL").fetchone()
    assert 3 <= polled[0] < 12
    assert db.execute("SELECT count(*) FROM player WHERE lease_owner IS NOT NULL").fetchone() == (
        0,)


# -- the installed command ---------------------------------------------------------------------


@dataclass
class Home:
    path: Path
    env: dict[str, str]
    hiscores: Any
    discord: Any

    def start(self, *args: str) -> subprocess.Popen[str]:
        exe = Path(sys.executable).with_name("osrs-notify")
        return subprocess.Popen(
            [str(exe), "run", *args], cwd=self.path, env=self.env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )

    def db(self, sql: str) -> list[tuple[Any, ...]]:
        # mode=rw: never create the file. Peeking before `run` made it would leave an empty
        # file, which `run` then refuses as no osrs-notify database (a truncated one, maybe).
        con = sqlite3.connect(f"{(self.path / 'state.db').as_uri()}?mode=rw", uri=True, timeout=10)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()


class SlowHiscores(fake_hiscores.FakeHiscores):  # type: ignore[misc,name-defined]
    delay: float = 0.0

    def reply_for(self, board: str, player: str) -> Any:
        reply = super().reply_for(board, player)
        time.sleep(self.delay)
        return reply


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    hiscores = SlowHiscores()
    with fake_hiscores.FakeServer(hiscores) as server, fake_discord.FakeDiscord() as discord:
        hook = discord.add_webhook(name="clan").id
        names = "".join(f'[[players]]\nname = "P{i}"\n' for i in range(6))
        (tmp_path / "osrs-notify.toml").write_text(
            'database = "sqlite:///state.db"\n'
            "[poll]\nconcurrency = 1\nrate_limit = 6000\ncache_ttl = 0\nretries = 0\n"
            '[webhooks.clan]\nurl = "${CLAN_URL}"\n[rules]\nlevels = { every = 1 }\n' + names
        )
        (tmp_path / ".env").write_text(f"CLAN_URL={discord.webhook_url(hook)}\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OSRS_", "DATABASE_"))}
        env.update(OSRS_API_ENDPOINT=server.url, DISCORD_API_BASE=discord.api_base,
                   OSRS_NOTIFY_CONFIG=str(tmp_path / "osrs-notify.toml"))
        for i in range(6):
            hiscores.set_player(f"P{i}", fake_hiscores.hiscores_body({"Cooking": 1_000_000}))
        yield Home(tmp_path, env, hiscores, discord)


def wait_for(cond: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def polled(home: Home) -> int:
    try:
        return home.db("SELECT count(*) FROM player WHERE last_polled_at IS NOT NULL")[0][0]
    except sqlite3.Error:
        return 0


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[float, str]:
    sent = time.monotonic()
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("`run` did not exit within 15 s of the signal")
    return time.monotonic() - sent, err


def test_run_polls_then_exits_0_on_sigterm_with_its_work_saved(home: Home) -> None:
    proc = home.start("--interval-seconds", "3", "--deliver-seconds", "1")
    try:
        wait_for(lambda: polled(home) == 6, 30, "the first poll")
        for i in range(6):  # a level-up each: queued, then sent by the deliveries job
            home.hiscores.set_player(f"P{i}", fake_hiscores.hiscores_body({"Cooking": 1_300_000}))
        wait_for(lambda: len(home.discord.messages) >= 1, 30, "a message to reach Discord")
    finally:
        took, err = stop(proc)
    assert proc.returncode == 0, err
    assert took < 5, f"took {took:.1f} s to stop"
    assert "Traceback" not in err and "hiscores: 6 player(s) polled" in err
    assert "SIGTERM" in err and "run: stopped" in err
    assert home.db("SELECT count(*) FROM player WHERE lease_owner IS NOT NULL") == [(0,)]
    assert home.db("SELECT count(*) FROM delivery WHERE lease_owner IS NOT NULL") == [(0,)]


def test_sigint_mid_poll_finishes_the_player_in_hand_and_saves_it(home: Home) -> None:
    home.hiscores.delay = 0.6  # concurrency 1: one player in hand at a time
    proc = home.start("--interval-seconds", "60")
    try:
        wait_for(lambda: len(home.hiscores.requests) >= 2, 30, "the poll to start")
    finally:
        took, err = stop(proc, signal.SIGINT)
    assert proc.returncode == 0, err
    assert took < 5, f"took {took:.1f} s to stop"
    asked = len(home.hiscores.requests)
    assert asked < 6  # it stopped before the end of the roster ...
    assert polled(home) == asked  # ... and every player it asked about was saved
    assert home.db("SELECT count(*) FROM player WHERE lease_owner IS NOT NULL") == [(0,)]
    assert "stopped early" in err
