"""`run`'s wiring: APScheduler 3.x calls the jobs of :mod:`poller.jobs` on their periods, signals
stop it, and an edited config file is picked up.

Jobs coalesce (a laptop waking from sleep runs each once, not once per missed period), never
overlap themselves (``max_instances=1``), and accept being late by up to their own period and
jitter (``misfire_grace_time``). SIGTERM/SIGINT stop the scheduler, let each running job finish the
player (or message) in hand and commit, release what the process still holds, and return 0;
a second signal exits at once.

APScheduler is imported only here and only by ``run``: the cron path never pays for it.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta, timezone
from typing import TYPE_CHECKING

from .clock import utcnow
from .errors import one_line
from .jobs import Jobs, Parts

if TYPE_CHECKING:
    from apscheduler.schedulers.blocking import BlockingScheduler

    from .settings import Settings

log = logging.getLogger("osrs_notify.run")

STOP_GRACE = 20.0  # seconds to let running jobs finish after a stop (systemd allows 30)


class Reload:
    """An edited config file (or .env) as new parts for the jobs. A broken edit is logged once
    and the running config kept; the database cannot change under a running process."""

    def __init__(
        self, load: Callable[[], Settings], build: Callable[[Settings], Parts],
        current: Settings,
    ) -> None:
        self.load, self.build = load, build
        self.stamp = config_stamp(current)

    def changed(self, current: Settings) -> Parts | None:
        stamp = config_stamp(current)
        if stamp == self.stamp:
            return None
        self.stamp = stamp
        from .settings import ConfigError

        try:
            settings = self.load()
        except ConfigError as exc:
            log.error("config changed but cannot be used (keeping the running one): %s", exc)
            return None
        if settings.database_url != current.database_url:
            log.warning("config changed the database; restart `run` to use it (kept the old)")
            from dataclasses import replace

            settings = replace(settings, database_url=current.database_url)
        log.info("config reloaded: %d player(s), %d webhook(s), %d watch(es)",
                 len(settings.players), len(settings.webhooks), len(settings.watch))
        return self.build(settings)


class Service:
    """The `run` process: the scheduler over ``jobs``, its signals and its shutdown."""

    def __init__(self, jobs: Jobs, *, reload: Reload | None = None) -> None:
        self.jobs = jobs
        self.reload = reload
        self._running: dict[str, int] = {}
        self._cond = threading.Condition()
        self._scheduler: BlockingScheduler | None = None
        self._start_returned = threading.Event()
        jobs.wake = self.wake_deliveries

    def hiscores(self) -> None:
        """The hiscores job, after picking up an edited config."""
        with self._guard("hiscores"):
            if self.reload is not None and not self.jobs.stop.is_set():
                parts = self.reload.changed(self.jobs.settings)
                if parts is not None:
                    self.jobs.use(parts)
            self.jobs.hiscores()

    def deliveries(self) -> None:
        with self._guard("deliveries"):
            self.jobs.deliveries()

    def prices(self) -> None:
        with self._guard("prices"):
            self.jobs.prices()

    @contextmanager
    def _guard(self, name: str) -> Iterator[None]:
        """Count a running job (shutdown waits for it) and keep its failure to one log line: a
        job must never take the scheduler down, nor print a traceback unless --debug."""
        from .store import StoreError

        with self._cond:
            self._running[name] = self._running.get(name, 0) + 1
        try:
            yield
        except StoreError as exc:
            log.error("%s: %s", name, exc)
        except Exception as exc:
            if logging.getLogger().isEnabledFor(logging.DEBUG):
                log.exception("%s failed", name)
            else:
                log.error("%s failed: %s: %s (run with --debug for the traceback)",
                          name, type(exc).__name__, one_line(exc))
        finally:
            with self._cond:
                self._running[name] -= 1
                if not self._running[name]:
                    del self._running[name]
                self._cond.notify_all()

    def wake_deliveries(self) -> None:
        """Run the deliveries job now rather than at its next period."""
        scheduler = self._scheduler
        if scheduler is not None and scheduler.running:
            try:
                scheduler.modify_job("deliveries", next_run_time=utcnow())
            except Exception:  # the job is gone (shutting down): it will run at start anyway
                pass

    def build_scheduler(self) -> BlockingScheduler:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.blocking import BlockingScheduler

        t = self.jobs.timing
        scheduler = BlockingScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=3)},
            timezone=timezone.utc,
        )
        start = utcnow() + timedelta(seconds=t.first_delay)

        def add(func: Callable[[], None], job_id: str, period: timedelta, jitter: float,
                delay: float) -> None:
            scheduler.add_job(
                func, "interval", id=job_id, name=job_id,
                seconds=period.total_seconds(), jitter=jitter or None,
                next_run_time=start + timedelta(seconds=delay),
                coalesce=True, max_instances=1,
                # Late by up to one period (and its jitter) still runs, coalesced into one run —
                # after a sleep or a long job — rather than being dropped with a warning.
                misfire_grace_time=max(1, math.ceil(period.total_seconds() + jitter)),
            )

        add(self.hiscores, "hiscores", t.check, t.check_jitter, 0.0)
        add(self.deliveries, "deliveries", t.deliver, t.deliver_jitter, 1.0)
        if self.jobs.settings.watch:
            add(self.prices, "prices", t.prices, t.prices_jitter, 2.0)
        return scheduler

    def request_stop(self) -> None:
        """Stop scheduling; jobs in hand finish their current player or message."""
        self.jobs.stop.set()

        def shut() -> None:
            from apscheduler.schedulers import SchedulerNotRunningError

            while True:
                scheduler = self._scheduler
                try:
                    if scheduler is not None:
                        scheduler.shutdown(wait=False)
                        return
                except SchedulerNotRunningError:
                    pass
                if self._start_returned.is_set():
                    return
                time.sleep(0.05)

        threading.Thread(target=shut, name="stop", daemon=True).start()

    def _on_signal(self, signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        if self.jobs.stop.is_set():
            log.warning("%s again: exiting now", name)
            os._exit(128 + signum)
        log.info("%s: finishing the work in hand, then exiting", name)
        self.request_stop()

    def run(self) -> int:
        """Run until SIGTERM/SIGINT; returns the exit code."""
        scheduler = self._scheduler = self.build_scheduler()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        t = self.jobs.timing
        log.info(
            "run: %d player(s), each polled once every %s (checked every %s), deliveries every "
            "%s, prices %s; leases of %s as %s",
            len(self.jobs.settings.players), _fmt(t.window), _fmt(t.check), _fmt(t.deliver),
            f"every {_fmt(t.prices)}" if scheduler.get_job("prices") else "off",
            _fmt(t.lease), self.jobs.owner,
        )
        try:
            if not self.jobs.stop.is_set():
                scheduler.start()
        finally:
            self._start_returned.set()
        return self._wait_for_jobs()

    def _wait_for_jobs(self) -> int:
        deadline = time.monotonic() + STOP_GRACE
        with self._cond:
            while self._running and time.monotonic() < deadline:
                self._cond.wait(timeout=0.1)
            still = sorted(self._running)
        if still:
            log.error("stopped waiting for %s after %.0f s; exiting (their leases will run out)",
                      ", ".join(still), STOP_GRACE)
            logging.shutdown()
            os._exit(1)
        self.jobs.close()
        log.info("run: stopped")
        return 0


def config_stamp(settings: Settings) -> tuple[tuple[int, int] | None, ...]:
    """When the config file and the .env beside it last changed (and their sizes)."""

    def stamp(path: os.PathLike[str] | str) -> tuple[int, int] | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    path = settings.path
    return (stamp(path), stamp(os.path.join(os.path.dirname(os.fspath(path)), ".env")))


def _fmt(td: timedelta) -> str:
    seconds = td.total_seconds()
    if seconds < 60:
        return f"{seconds:g}s"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
