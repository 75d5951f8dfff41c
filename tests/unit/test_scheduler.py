"""`run`'s wiring: the schedule APScheduler is given (coalesce, max_instances, misfire grace,
periods, jitter), one real-scheduler smoke test, config reload, a failing job kept to one log
line, and the installed command against loopback fakes: it polls, then SIGTERM makes it finish,
save and exit 0 within seconds. The jobs themselves are tested with a fake clock in test_jobs.py.
"""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from poller.config import load_settings
from poller.jobs import Parts
from poller.scheduler import Reload, Service
from poller.timing import Timing

from run_fakes import T0, Clock, Fetcher, Sender, config, jobs
from support import fake_discord, fake_hiscores


def test_jobs_coalesce_never_overlap_and_accept_one_period_of_lateness(tmp_path: Path) -> None:
    svc = Service(jobs(config(tmp_path), Fetcher(), Sender()))
    sched = svc.build_scheduler()
    found = {job.id: job for job in sched.get_jobs()}
    assert set(found) == {"hiscores", "deliveries"}  # no [[watch]]: no prices job
    periods = {"hiscores": 60.0, "deliveries": 60.0}
    jitters = {"hiscores": 30.0, "deliveries": 3.0}
    now = datetime.now(timezone.utc)
    for name, job in found.items():
        assert job.coalesce is True and job.max_instances == 1
        assert job.misfire_grace_time == periods[name] + jitters[name]
        assert job.trigger.interval == timedelta(seconds=periods[name])
        assert job.trigger.jitter == jitters[name]
        # The first runs come soon after start, not one period later.
        assert job.next_run_time - now < timedelta(seconds=5)
    svc.jobs.close()


def test_a_prices_job_only_with_watches(tmp_path: Path) -> None:
    watch = ('[webhooks.market]\nurl = "http://127.0.0.1:9/api/webhooks/2/tok"\n'
             'events = ["price"]\n[[watch]]\nitem = "Twisted bow"\nabove = 1_600_000_000\n')
    svc = Service(jobs(config(tmp_path, extra=watch), Fetcher(), Sender()))
    job = svc.build_scheduler().get_job("prices")
    assert job is not None and job.coalesce and job.max_instances == 1
    assert job.trigger.interval == timedelta(minutes=5) and job.trigger.jitter == 15.0
    assert job.misfire_grace_time == 315
    svc.jobs.close()


def test_after_a_sleep_each_job_runs_once_not_once_per_missed_period(tmp_path: Path) -> None:
    """The real scheduler as `run` builds it, its jobs' run times set five periods in the past
    (a laptop waking up): each job runs exactly once. The periods are an hour, so a second run
    could only be a missed period run late, never the next regular one."""
    hour = timedelta(hours=1)
    timing = Timing(window=hour, check=hour, prices=hour, deliver=hour, lease=timedelta(minutes=5))
    svc = Service(jobs(config(tmp_path), Fetcher(), Sender(), timing=timing))
    sched = svc.build_scheduler()
    runs: dict[str, int] = {}
    lock = threading.Lock()
    both = threading.Event()

    def count(name: str) -> None:
        with lock:
            runs[name] = runs.get(name, 0) + 1
            if len(runs) == 2:
                both.set()

    past = datetime.now(timezone.utc) - 5 * hour
    for job in sched.get_jobs():
        job.modify(func=count, args=(job.id,), next_run_time=past)
    thread = threading.Thread(target=sched.start, daemon=True)
    thread.start()
    try:
        assert both.wait(30), runs
    finally:
        sched.shutdown(wait=True)
        thread.join(30)
    assert runs == {"hiscores": 1, "deliveries": 1}
    svc.jobs.close()


def test_the_cron_path_never_imports_apscheduler() -> None:
    code = ("import sys, poller.cli, poller.cli.run, poller.jobs, poller.passes, poller.timing; "
            "sys.exit('apscheduler' in ' '.join(sys.modules))")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_an_edited_config_is_picked_up_at_the_next_check(tmp_path: Path) -> None:
    settings = config(tmp_path, players=2)
    fetcher = Fetcher()
    clock = Clock(T0)
    svc = Service(
        jobs(settings, fetcher, Sender(), clock=clock),
        reload=Reload(lambda: load_settings(settings.path, environ={}),
                      lambda s: Parts(s, fetcher, Sender()), settings),
    )
    svc.hiscores()
    assert sorted(fetcher.names) == ["P0", "P1"]
    path = settings.path
    path.write_text(path.read_text() + '[[players]]\nname = "Newcomer"\n')
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    clock.at = T0 + timedelta(minutes=1)
    svc.hiscores()  # the newcomer is due at once (its baseline); the others wait for their window
    assert sorted(fetcher.names) == ["Newcomer", "P0", "P1"]
    path.write_text(path.read_text() + "[poll]\nbogus = 1\n")  # broken: the running one stays
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 2 * 10**9))
    svc.hiscores()
    assert len(svc.jobs.settings.players) == 3
    svc.jobs.close()


def test_a_failing_job_is_one_log_line_and_the_service_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from poller.store import StoreError

    svc = Service(jobs(config(tmp_path, players=1), Fetcher(), Sender(), clock=Clock(T0)))
    store = svc.jobs.store_for("deliveries")
    failures = iter([RuntimeError("boom\n  at line 3"), StoreError("database is locked")])

    def backlog(*args: object, **kwargs: object) -> None:
        raise next(failures)

    store.backlog = backlog  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="osrs_notify.run"):
        svc.deliveries()
        svc.deliveries()
        svc.hiscores()  # the other jobs go on
    assert [r.getMessage() for r in caplog.records] == [
        "deliveries failed: RuntimeError: boom at line 3 (run with --debug for the traceback)",
        "deliveries: database is locked",
    ]
    assert all(r.exc_info is None for r in caplog.records)
    svc.jobs.close()


def test_run_refuses_a_config_with_nothing_to_do(tmp_path: Path) -> None:
    (tmp_path / "osrs-notify.toml").write_text('database = "sqlite:///state.db"\n')
    exe = Path(sys.executable).with_name("osrs-notify")
    out = subprocess.run([str(exe), "--config", str(tmp_path / "osrs-notify.toml"), "run"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "nothing to run" in out.stderr
    assert "Traceback" not in out.stderr


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
            "schedule = \"uniform\"\n"
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
    proc = home.start("--interval-seconds", "1", "--deliver-seconds", "1")
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
    # Players, not requests: an account type check asks a player's boards one after another.
    asked = len({player for _, player in home.hiscores.requests})
    assert asked < 6  # it stopped before the end of the roster ...
    assert polled(home) == asked  # ... and every player it asked about was saved
    assert home.db("SELECT count(*) FROM player WHERE lease_owner IS NOT NULL") == [(0,)]
    assert "stopped early" in err
