"""`run`: the long-running scheduler (APScheduler 3.x), and how several of them share one database.

Three jobs, each calling the same pipeline functions as the cron path (:func:`run_once`,
:func:`deliver_pending`, the prices pass):

- **hiscores** — every player once per *window* of ``poll.interval``. Windows are aligned to the
  clock with an offset chosen at random once per database (kept in ``meta``), so installations
  do not all hit the hiscores at the top of the hour. The job itself wakes often (a tenth of
  the interval, at most every minute, with jitter), claims due players in small batches with
  leases, polls them and records them; a player is due when it has not been polled since the
  current window began. So one process polls everyone once per interval, several processes
  share the work of a window, and players a dead process had claimed are picked up within the
  same window once its leases run out.
- **deliveries** — every minute (and straight after a batch queued messages): pending messages
  claimed with leases, a webhook at a time per process, each message's lease renewed right
  before it is sent.
- **prices** — every ``prices.interval`` when the config has ``[[watch]]`` entries: one process
  per window does it (a run lock plus the window it last did, in ``meta``).

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
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apscheduler.schedulers.blocking import BlockingScheduler

    from .deliver import DeliveryReport, Sender
    from .pipeline import Fetcher, RunReport
    from .redis_layer import RedisLayer
    from .settings import Settings
    from .store import PendingDelivery, Store

log = logging.getLogger("osrs_notify.run")

# Leases: long enough for a batch at the configured rate, short enough that a dead process's
# work is picked up soon (and within the window for short intervals).
DEFAULT_LEASE = timedelta(minutes=5)
MIN_LEASE = timedelta(seconds=30)
DELIVER_EVERY = timedelta(minutes=1)
MAX_CHECK = timedelta(minutes=1)
MIN_CHECK = timedelta(seconds=0.5)
DELIVERY_CLAIM = 100  # deliveries per claim: about ten full messages
STOP_GRACE = 20.0  # seconds to let running jobs finish after a stop (systemd allows 30)
WINDOW_OFFSET_KEY = "run_window_offset"
PRICES_WINDOW_KEY = "run_prices_window"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def jitter_for(period: timedelta) -> float:
    """Seconds of random delay added to each run of a job repeating every ``period``:
    5% of it, at most 60 s."""
    return min(period.total_seconds() * 0.05, 60.0)


@dataclass(frozen=True, slots=True)
class Timing:
    """Every interval `run` uses (``make_timing`` derives them from the settings)."""

    window: timedelta  # poll.interval: each player once per window
    check: timedelta  # how often the hiscores job looks for due players
    prices: timedelta
    deliver: timedelta
    lease: timedelta
    first_delay: float = 1.0  # seconds from start to the first runs

    @property
    def check_jitter(self) -> float:
        # Half the check period: processes sharing a database do not wake in lockstep.
        return self.check.total_seconds() / 2

    @property
    def prices_jitter(self) -> float:
        return jitter_for(self.prices)

    @property
    def deliver_jitter(self) -> float:
        return jitter_for(self.deliver)


def make_timing(
    settings: Settings,
    *,
    interval: timedelta | None = None,
    lease: timedelta | None = None,
    deliver: timedelta | None = None,
    prices: timedelta | None = None,
) -> Timing:
    """The schedule for ``settings``; the keyword arguments override it (``run``'s hidden
    test options: a real config cannot set a poll interval under a minute)."""
    window = interval or settings.poll.interval
    check = min(MAX_CHECK, max(MIN_CHECK, window / 10))
    if lease is None:
        lease = min(DEFAULT_LEASE, max(MIN_LEASE, window / 2))
    return Timing(
        window=window,
        check=check,
        prices=prices or settings.prices.interval,
        deliver=deliver or DELIVER_EVERY,
        lease=lease,
    )


def claim_limit(settings: Settings, lease: timedelta) -> int:
    """Players per claim: a few per fetch slot, and no more than a third of the lease can
    fetch at the configured rate (so a lease does not run out under a slow batch)."""
    from .pipeline import BATCH_SIZE

    per_slot = max(8, settings.poll.concurrency * 4)
    rate = settings.poll.rate_limit
    by_rate = int(rate / 60 * lease.total_seconds() / 3) if rate else BATCH_SIZE
    return max(1, min(per_slot, by_rate, BATCH_SIZE))


def window_start(at: datetime, window: timedelta, offset: float) -> datetime:
    """Start of the window containing ``at``: windows are ``window`` long, aligned to the Unix
    epoch shifted by ``offset`` (a fraction of the window)."""
    length = window.total_seconds()
    shift = (offset % 1.0) * length
    k = math.floor((at.timestamp() - shift) / length)
    return datetime.fromtimestamp(k * length + shift, tz=timezone.utc)


def new_owner() -> str:
    """This process's name on the leases it takes: host, pid and a random tag (a pid can be
    reused after a crash)."""
    try:
        host = socket.gethostname() or "localhost"
    except OSError:
        host = "localhost"
    return f"{host}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(slots=True)
class Parts:
    """What the jobs use; rebuilt when the config file changes."""

    settings: Settings
    fetcher: Fetcher
    sender: Sender


class _DeliveryClaim:
    """:class:`poller.deliver.DeliveryClaim` over the store's delivery leases."""

    def __init__(
        self, store: Store, owner: str, lease: timedelta, stop: threading.Event,
        webhooks: Sequence[str], now: Callable[[], datetime],
    ) -> None:
        self.store, self.owner, self.lease, self.stop = store, owner, lease, stop
        self.webhooks = tuple(webhooks)
        self.now = now
        self.taken = 0

    def take(self, due_by: datetime) -> list[PendingDelivery]:
        self.taken = 0
        if not self.webhooks:
            return []
        got = self.store.claim_deliveries(
            self.owner, self.now(), self.lease, DELIVERY_CLAIM, due_by=due_by,
            webhooks=self.webhooks,
        )
        self.taken = len(got)
        return got

    def confirm(self, ids: Sequence[int]) -> list[int]:
        if self.stop.is_set():
            return []  # stopping: nothing more is sent; the leases are released
        return self.store.confirm_deliveries(self.owner, ids, self.now(), self.lease)


@dataclass
class _Totals:
    claimed: bool = False  # something was claimed: leases may be left to give back
    batches: int = 0
    players: int = 0
    changed: int = 0
    failed: int = 0
    events: int = 0
    queued: int = 0
    reports: list[RunReport] = field(default_factory=list)


class Service:
    """The `run` process: its jobs, its schedule and its shutdown.

    ``open_store`` opens a store on the configured database (each job gets its own, used from
    one thread at a time); ``build`` makes the hiscores client and Discord sender for a
    settings object; ``reload`` re-reads the config file (None: never). ``redis`` (the
    optional Redis layer) gets each run's events and summary; ``metrics_file`` the Prometheus
    text after each run.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        open_store: Callable[[Settings], Store],
        build: Callable[[Settings], tuple[Fetcher, Sender]],
        reload: Callable[[], Settings] | None = None,
        timing: Timing | None = None,
        owner: str | None = None,
        now: Callable[[], datetime] = utcnow,
        redis: RedisLayer | None = None,
        metrics_file: str | None = None,
    ) -> None:
        fetcher, sender = build(settings)
        self.parts = Parts(settings, fetcher, sender)
        self.timing = timing or make_timing(settings)
        self.owner = owner or new_owner()
        self.stop = threading.Event()
        self.now = now
        self._open_store = open_store
        self._build = build
        self._reload = reload
        self.redis = redis
        self.metrics_file = metrics_file
        self._stamp = _config_stamp(settings)
        self._stores: dict[str, Store] = {}
        self._synced: Settings | None = None
        self._offset: float | None = None
        self._running: dict[str, int] = {}
        self._cond = threading.Condition()
        self._deliver_again = False
        self._scheduler: BlockingScheduler | None = None
        self._started = threading.Event()
        self._start_returned = threading.Event()

    # -- plumbing --------------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        return self.parts.settings

    def _store(self, job: str) -> Store:
        store = self._stores.get(job)
        if store is None:
            store = self._stores[job] = self._open_store(self.settings)
        return store

    def _done_with(self, store: Store) -> None:
        """Hand the connection back between runs (the next run may be on another worker
        thread); an in-memory SQLite database lives in its one connection, so it stays."""
        if not store.url.endswith(":memory:"):
            store.close()

    def close(self) -> None:
        for store in self._stores.values():
            store.close()
        self._stores.clear()

    @contextmanager
    def _job(self, name: str) -> Iterator[None]:
        """Count running jobs (shutdown waits for them) and keep failures to one log line:
        a job must never take the scheduler down, nor print a traceback unless --debug."""
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
                          name, type(exc).__name__, _one_line(exc))
        finally:
            with self._cond:
                self._running[name] -= 1
                if not self._running[name]:
                    del self._running[name]
                self._cond.notify_all()

    def window_offset(self, store: Store) -> float:
        """Where windows start, as a fraction of one: the same for every process sharing the
        database (chosen at random by the first one)."""
        if self._offset is None:
            self._offset = store.shared_fraction(WINDOW_OFFSET_KEY)
        return self._offset

    def _maybe_reload(self) -> None:
        """Pick up an edited config file (or .env) at the next hiscores run. A broken edit is
        logged once and the running config kept."""
        if self._reload is None:
            return
        stamp = _config_stamp(self.settings)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        from .settings import ConfigError

        try:
            settings = self._reload()
        except ConfigError as exc:
            log.error("config changed but cannot be used (keeping the running one): %s", exc)
            return
        if settings.database_url != self.settings.database_url:
            log.warning("config changed the database; restart `run` to use it (kept the old)")
            from dataclasses import replace

            settings = replace(settings, database_url=self.settings.database_url)
        fetcher, sender = self._build(settings)
        self.parts = Parts(settings, fetcher, sender)
        log.info("config reloaded: %d player(s), %d webhook(s), %d watch(es)",
                 len(settings.players), len(settings.webhooks), len(settings.watch))

    def _sync(self, store: Store) -> None:
        """Mirror the config's players into the database (once per config, one process at a
        time; a process that finds another syncing tries again at its next run)."""
        from .store import LockHeld

        settings = self.settings
        if self._synced is settings:
            return
        try:
            with store.lock("sync"):
                report = store.sync_players(
                    [(p.name, p.mode) for p in settings.players], self.now()
                )
        except LockHeld:
            return
        self._synced = settings
        if report.added or report.deactivated:
            log.info("players: %d added, %d no longer in the config",
                     len(report.added), len(report.deactivated))

    # -- jobs ------------------------------------------------------------------------------

    def poll_job(self) -> None:
        """Claim due players in batches, poll and record each batch; until none are due."""
        if self.stop.is_set():
            return
        with self._job("hiscores"):
            self._maybe_reload()
            store = self._store("hiscores")
            totals = _Totals()
            started = self.now()
            try:
                window = window_start(started, self.timing.window, self.window_offset(store))
                self._sync(store)
                self._poll_batches(store, totals)
                if not totals.batches:
                    log.debug("hiscores: nothing due")
                    return
                log.info(
                    "hiscores: %d player(s) polled for the window from %s (%d changed, "
                    "%d failed), %d event(s) stored, %.1f s%s",
                    totals.players, window.strftime("%H:%M:%S"), totals.changed, totals.failed,
                    totals.events, (self.now() - started).total_seconds(),
                    " (stopped early)" if self.stop.is_set() else "",
                )
                http = getattr(self.parts.fetcher, "http", None)
                stats = http.take_stats(reset=True) if hasattr(http, "take_stats") else None
                self._record_run(store, "hiscores", started, report=totals.reports, http=stats)
            finally:
                try:
                    if totals.claimed:
                        store.release_players(self.owner)  # what a stop or a failure left
                finally:
                    self._done_with(store)

    def _poll_batches(self, store: Store, totals: _Totals) -> None:
        from .pipeline import run_once
        from .redis_layer import publish_report

        parts = self.parts
        limit = claim_limit(parts.settings, self.timing.lease)
        offset = self.window_offset(store)
        while not self.stop.is_set():
            # Due: not polled since the window this claim falls in began (a poll counts for
            # the window it was claimed in: its last_polled_at is the claim time), nor in the
            # last half window: one polled as a window ended waits a little into the next.
            at = self.now()
            claimed = store.claim_due_players(
                self.owner, at, self.timing.window / 2, self.timing.lease, limit,
                window_start=window_start(at, self.timing.window, offset),
            )
            if not claimed:
                return
            totals.claimed = True
            record = partial(store.record_claimed, self.owner, polled_at=at)
            report = run_once(
                parts.settings, store, parts.fetcher, now=self.now, players=claimed,
                stop=self.stop, record=record,
            )
            totals.batches += 1
            totals.players += len(report.results)
            totals.changed += report.count("changed")
            totals.failed += len(report.failed)
            totals.events += report.events_added
            totals.reports.append(report)
            publish_report(self.redis, report)  # committed: now on Redis too, if configured
            if report.deliveries_added:
                self.wake_deliveries()

    def deliver_job(self) -> None:
        """Send what is due, claimed with leases, until nothing is left to claim."""
        from .deliver import deliver_pending

        if self.stop.is_set():
            return
        with self._job("deliveries"):
            store = self._store("deliveries")
            started = self.now()
            reports: list[DeliveryReport] = []
            # Webhooks Discord is struggling with (5xx, pause, disabled) are not tried again
            # in this run: their messages wait for their back-off, as on the cron path.
            troubled: set[str] = set()
            claimed = False
            try:
                while not self.stop.is_set():
                    self._deliver_again = False
                    parts = self.parts
                    hooks = [n for n, h in parts.settings.webhooks.items()
                             if h.address is not None and n not in troubled]
                    claim = _DeliveryClaim(
                        store, self.owner, self.timing.lease, self.stop, hooks, self.now
                    )
                    try:
                        report = deliver_pending(parts.settings, store, parts.sender,
                                                 claim=claim, now=self.now)
                    finally:
                        claimed = claimed or claim.taken > 0
                    if claim.taken:
                        reports.append(report)
                    troubled |= {n for n, w in report.webhooks.items()
                                 if w.retrying or w.paused or w.disabled}
                    if report.paused_for > 0 or not (claim.taken or self._deliver_again):
                        break
                if reports:
                    sent = sum(r.messages_sent for r in reports)
                    delivered = sum(r.delivered for r in reports)
                    retrying = sum(w.retrying for r in reports for w in r.webhooks.values())
                    failed = sum(w.failed for r in reports for w in r.webhooks.values())
                    log.info(
                        "deliveries: %d message(s) sent (%d deliveries), %d retrying, "
                        "%d failed, %.1f s", sent, delivered, retrying, failed,
                        (self.now() - started).total_seconds(),
                    )
                    self._record_run(store, "deliveries", started, delivery=reports)
            finally:
                try:
                    if claimed:
                        store.release_deliveries(self.owner)  # what was not settled
                finally:
                    self._done_with(store)

    def wake_deliveries(self) -> None:
        """Messages were just queued: send them now rather than at the next minute."""
        with self._cond:
            if "deliveries" in self._running:
                self._deliver_again = True  # the running job goes round once more
                return
        scheduler = self._scheduler
        if scheduler is not None and scheduler.running and not self.stop.is_set():
            try:
                scheduler.modify_job("deliveries", next_run_time=datetime.now(timezone.utc))
            except Exception:  # the job is gone (shutting down): it will run at start anyway
                pass

    def prices_job(self) -> None:
        """The prices pass, once per prices window across every process sharing the
        database (a run lock, and the window last done kept in ``meta``)."""
        if self.stop.is_set() or not self.settings.watch:
            return
        from .price_pass import run_prices
        from .redis_layer import publish_prices, run_lock
        from .store import LockHeld

        with self._job("prices"):
            store = self._store("prices")
            started = self.now()
            try:
                window = window_start(started, self.timing.prices, self.window_offset(store))
                mark = window.isoformat()
                try:
                    with run_lock(store, self.redis, "prices"):
                        if store.get_meta(PRICES_WINDOW_KEY) == mark:
                            return
                        report = run_prices(self.settings, store, now=self.now)
                        store.set_meta(PRICES_WINDOW_KEY, mark)
                except LockHeld:
                    return
                publish_prices(self.redis, report)
                log.info("prices: %d watch(es), %d alert(s)%s, %.1f s",
                         len(report.results), len(report.alerts),
                         f", failed: {report.error}" if report.error else "",
                         (self.now() - started).total_seconds())
                self._record_run(store, "prices", started, prices=report)
                if report.deliveries_added:
                    self.wake_deliveries()
            finally:
                self._done_with(store)

    def _record_run(self, store: Store, kind: str, started: datetime, **reports: Any) -> None:
        """Run metrics for ``stats`` (and Redis, and the Prometheus file when asked for)."""
        from .run_log import record_run

        try:
            record_run(store, kind, started=started, finished=self.now(), redis=self.redis,
                       metrics_file=self.metrics_file, **reports)
        except Exception as exc:  # metrics never cost a run
            log.warning("%s: run metrics not recorded: %s", kind, _one_line(exc))

    # -- the scheduler ---------------------------------------------------------------------

    def build_scheduler(self) -> BlockingScheduler:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.blocking import BlockingScheduler

        t = self.timing
        scheduler = BlockingScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=3)},
            timezone=timezone.utc,
        )
        start = datetime.now(timezone.utc) + timedelta(seconds=t.first_delay)

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

        add(self.poll_job, "hiscores", t.check, t.check_jitter, 0.0)
        add(self.deliver_job, "deliveries", t.deliver, t.deliver_jitter, 1.0)
        if self.settings.watch:
            add(self.prices_job, "prices", t.prices, t.prices_jitter, 2.0)
        return scheduler

    def request_stop(self) -> None:
        """Stop scheduling; jobs in hand finish their current player or message."""
        self.stop.set()

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
        if self.stop.is_set():
            log.warning("%s again: exiting now", name)
            os._exit(128 + signum)
        log.info("%s: finishing the work in hand, then exiting", name)
        self.request_stop()

    def run(self) -> int:
        """Run until SIGTERM/SIGINT; returns the exit code."""
        scheduler = self._scheduler = self.build_scheduler()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        t = self.timing
        log.info(
            "run: %d player(s), each polled once every %s (checked every %s), deliveries every "
            "%s, prices %s; leases of %s as %s",
            len(self.settings.players), _fmt(t.window), _fmt(t.check), _fmt(t.deliver),
            f"every {_fmt(t.prices)}" if scheduler.get_job("prices") else "off",
            _fmt(t.lease), self.owner,
        )
        try:
            if not self.stop.is_set():
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
        self.close()
        log.info("run: stopped")
        return 0


def _config_stamp(settings: Settings) -> tuple[tuple[int, int] | None, ...]:
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


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] or type(exc).__name__
