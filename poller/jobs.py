"""`run`'s jobs: which work a process claims with leases, and the pass it runs on it.

Three jobs (APScheduler calls them, see :mod:`poller.scheduler`; tests call them directly with
a fake clock):

- **hiscores** — every player once per *window* of ``poll.interval``. Windows are aligned to the
  clock with an offset chosen at random once per database (kept in ``meta``), so installations
  do not all hit the hiscores at the top of the hour. The job claims due players in small
  batches with leases (:class:`LeasedPlayers`) and runs the pass on them
  (:func:`poller.passes.run_pass`); a player is due when it has not been polled since the
  current window began. So one process polls everyone once per interval, several processes
  share the work of a window, and players a dead process had claimed are picked up within the
  same window once its leases run out.
- **deliveries** — pending messages claimed with leases (:class:`LeasedDeliveries`), a webhook
  at a time per process, each message's lease renewed right before it is sent.
- **prices** — the prices pass, done by one process per ``prices.interval`` window (a run lock
  plus the window it last did, in ``meta``).

Every job reads the time from the injected ``now`` only: windows and leases are tested without
sleeping. A job raises what it cannot handle; the scheduler keeps that to one log line.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from .clock import utcnow
from .errors import one_line
from .passes import Batch, Players, Posts, run_pass
from .posting import post_lines
from .timing import Timing, claim_limit, make_timing, new_owner, window_start

if TYPE_CHECKING:
    from .deliver import DeliveryReport, Sender
    from .pipeline import Fetcher
    from .posting import Poster
    from .redis_layer import RedisLayer
    from .settings import Settings
    from .store import PendingDelivery, Store, SyncReport

log = logging.getLogger("osrs_notify.run")

DELIVERY_CLAIM = 100  # deliveries per claim: about ten full messages
WINDOW_OFFSET_KEY = "run_window_offset"
PRICES_WINDOW_KEY = "run_prices_window"


@dataclass(frozen=True, slots=True)
class Parts:
    """What the jobs use; rebuilt when the config file changes."""

    settings: Settings
    fetcher: Fetcher
    sender: Sender


class LeasedPlayers:
    """The hiscores job's :class:`~poller.passes.Roster`: due players claimed with leases, a
    small batch at a time, each batch recorded only for the players still leased to us."""

    def __init__(
        self, store: Store, owner: str, timing: Timing, offset: float, limit: int,
        settings: Settings | None = None,
    ) -> None:
        self.store, self.owner, self.timing = store, owner, timing
        self.offset, self.limit = offset, limit
        # With an adaptive schedule, the polling rule (poller.due) says who is due.
        self.settings = settings if settings and settings.poll.schedule == "adaptive" else None
        self.claimed = False  # something was claimed: leases may be left to give back

    def batches(self, now: Callable[[], datetime]) -> Iterator[Batch]:
        if self.settings is not None:
            yield from self._chosen(now, self.settings)
            return
        window = self.timing.window
        while True:
            # Due: not polled since the window this claim falls in began (a poll counts for
            # the window it was claimed in: its last_polled_at is the claim time), nor in the
            # last half window: one polled as a window ended waits a little into the next.
            at = now()
            claimed = self.store.claim_due_players(
                self.owner, at, window / 2, self.timing.lease, self.limit,
                window_start=window_start(at, window, self.offset),
            )
            if not claimed:
                return
            self.claimed = True
            yield Batch(claimed, partial(self.store.record_claimed, self.owner, polled_at=at))

    def _chosen(self, now: Callable[[], datetime], settings: Settings) -> Iterator[Batch]:
        """The players the rule chose, claimed a batch at a time (another process sharing the
        database takes the ones it claims first)."""
        from .due import due_ids

        at = now()
        chosen = due_ids(settings, self.store, at)
        for start in range(0, len(chosen), self.limit):
            at = now()
            claimed = self.store.claim_listed_players(
                self.owner, chosen[start:start + self.limit], at, self.timing.lease)
            if claimed:
                self.claimed = True
                yield Batch(claimed, partial(self.store.record_claimed, self.owner,
                                             polled_at=at))

    def release(self) -> None:
        """Give back what a stop or a failure left claimed."""
        if self.claimed:
            self.store.release_players(self.owner)


class LeasedDeliveries:
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


class Jobs:
    """The jobs of one `run` process.

    ``open_store`` opens a store on the configured database (each job gets its own, used from
    one thread at a time). ``redis`` (the optional Redis layer) gets each run's events and
    summary; ``metrics_file`` the Prometheus text after each run. ``wake`` asks the scheduler to
    run the deliveries job now (messages were just queued). ``stop`` set: no job starts, and a
    running one ends after the player or message in hand.
    """

    def __init__(
        self,
        parts: Parts,
        *,
        open_store: Callable[[Settings], Store],
        timing: Timing | None = None,
        owner: str | None = None,
        now: Callable[[], datetime] = utcnow,
        redis: RedisLayer | None = None,
        metrics_file: str | None = None,
        wake: Callable[[], None] | None = None,
    ) -> None:
        self.parts = parts
        self.timing = timing or make_timing(parts.settings)
        self.owner = owner or new_owner()
        self.now = now
        self.redis = redis
        self.metrics_file = metrics_file
        self.wake = wake
        self.stop = threading.Event()
        self._open_store = open_store
        self._stores: dict[str, Store] = {}
        self._synced: Settings | None = None
        self._offset: float | None = None
        self._lock = threading.Lock()
        self._delivering = False
        self._deliver_again = False

    @property
    def settings(self) -> Settings:
        return self.parts.settings

    def use(self, parts: Parts) -> None:
        """Run on from the next job with ``parts`` (an edited config)."""
        self.parts = parts

    def store_for(self, job: str) -> Store:
        """The job's own store, opened on first use."""
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

    def window_offset(self, store: Store) -> float:
        """Where windows start, as a fraction of one: the same for every process sharing the
        database (chosen at random by the first one)."""
        if self._offset is None:
            self._offset = store.shared_fraction(WINDOW_OFFSET_KEY)
        return self._offset

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
                self._notice_renames(store, report)
        except LockHeld:
            return
        self._synced = settings
        if report.added or report.deactivated:
            log.info("players: %d added, %d no longer in the config",
                     len(report.added), len(report.deactivated))

    def _notice_renames(self, store: Store, report: SyncReport) -> None:
        """As a cron `poll` does: a name that left and one that arrived in the same edit,
        whose stats continue, is one player renamed; the history moves and the rename is
        announced once (by the process that synced the edit, under the sync lock)."""
        from functools import partial

        from .pipeline import first_answers
        from .rename_pass import notice_renames, renamed_notice
        from .store import OutboxEntry

        settings = self.settings
        fetch = partial(first_answers, self.parts.fetcher, settings, self.now, {})
        found = notice_renames(store, report, fetch, self.now)
        from .report import rename_lines

        for line in rename_lines(found.decisions):
            log.info("players: %s", line)
        names = {d.new for d in found.decisions if d.kind == "renamed"}
        for player in filter(None, (store.get_player(n) for n in names)):
            old = found.carried.get(player.id)
            if old is None:
                continue
            answer = found.answers.get(player.id)
            event, notice = renamed_notice(
                player, old, answer if not isinstance(answer, BaseException) else None,
                self.now())
            entry = OutboxEntry(kind=event.kind, payload=notice.to_json(),
                                webhooks=settings.route(event.kind, player.name))
            store.record_events([entry], self.now(), player_id=player.id)
            self.queued()

    # -- the jobs ----------------------------------------------------------------------------

    def hiscores(self) -> None:
        """Claim due players in batches and run the pass on them, until none are due."""
        if self.stop.is_set():
            return
        parts = self.parts
        store = self.store_for("hiscores")
        started = self.now()
        roster: LeasedPlayers | None = None
        try:
            offset = self.window_offset(store)
            window = window_start(started, self.timing.window, offset)
            self._sync(store)
            roster = LeasedPlayers(store, self.owner, self.timing, offset,
                                   claim_limit(parts.settings, self.timing.lease),
                                   parts.settings)
            report = run_pass(
                parts.settings, store, players=Players(parts.fetcher, roster), prices=False,
                now=self.now, stop=self.stop, redis=self.redis, on_queued=self.queued,
                posts=Posts(lambda: cast("Poster", parts.sender), self.owner),
            )
            if report.digests is not None:
                for line in post_lines(report.digests):
                    log.info("posts: %s", line)
            if not report.batches:
                log.debug("hiscores: nothing due")
                return
            log.info(
                "hiscores: %d player(s) polled for the window from %s (%d changed, "
                "%d failed), %d event(s) stored, %.1f s%s",
                report.polled, window.strftime("%H:%M:%S"), report.changed, report.failed,
                report.events_added, (self.now() - started).total_seconds(),
                " (stopped early)" if self.stop.is_set() else "",
            )
            # The HTTP client's numbers since the last run (a fake fetcher in tests has none).
            take_stats = getattr(getattr(parts.fetcher, "http", None), "take_stats", None)
            stats = take_stats(reset=True) if take_stats is not None else None
            self._record_run(store, "hiscores", started, report=report.players, http=stats)
        finally:
            try:
                if roster is not None:
                    roster.release()
            finally:
                self._done_with(store)

    def deliveries(self) -> None:
        """Send what is due, claimed with leases, until nothing is left to claim."""
        from .deliver import deliver_pending

        if self.stop.is_set():
            return
        store = self.store_for("deliveries")
        started = self.now()
        reports: list[DeliveryReport] = []
        # Webhooks Discord is struggling with (5xx, pause, disabled) are not tried again
        # in this run: their messages wait for their back-off, as on the cron path.
        troubled: set[str] = set()
        claimed = False
        with self._lock:
            self._delivering = True
        try:
            while not self.stop.is_set():
                with self._lock:
                    self._deliver_again = False
                parts = self.parts
                hooks = [n for n, h in parts.settings.webhooks.items()
                         if h.address is not None and n not in troubled]
                claim = LeasedDeliveries(
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
                with self._lock:
                    again = self._deliver_again
                if report.paused_for > 0 or not (claim.taken or again):
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
            with self._lock:
                self._delivering = False
            try:
                if claimed:
                    store.release_deliveries(self.owner)  # what was not settled
            finally:
                self._done_with(store)

    def queued(self) -> None:
        """Messages were just queued: send them now rather than at the next period."""
        with self._lock:
            if self._delivering:
                self._deliver_again = True  # the running job goes round once more
                return
        if self.wake is not None and not self.stop.is_set():
            self.wake()

    def prices(self) -> None:
        """The prices pass, once per prices window across every process sharing the
        database (a run lock, and the window last done kept in ``meta``)."""
        if self.stop.is_set() or not self.settings.watch:
            return
        from .redis_layer import run_lock
        from .store import LockHeld

        settings = self.settings
        store = self.store_for("prices")
        started = self.now()
        try:
            window = window_start(started, self.timing.prices, self.window_offset(store))
            mark = window.isoformat()
            try:
                with run_lock(store, self.redis, "prices"):
                    if store.get_meta(PRICES_WINDOW_KEY) == mark:
                        return
                    report = run_pass(settings, store, players=None, prices=True,
                                      now=self.now, redis=self.redis, on_queued=self.queued)
                    store.set_meta(PRICES_WINDOW_KEY, mark)
            except LockHeld:
                return
            prices = report.prices
            if prices is None:
                return
            log.info("prices: %d watch(es), %d alert(s)%s, %.1f s",
                     len(prices.results), len(prices.alerts),
                     f", failed: {prices.error}" if prices.error else "",
                     (self.now() - started).total_seconds())
            self._record_run(store, "prices", started, prices=prices)
        finally:
            self._done_with(store)

    def _record_run(self, store: Store, kind: str, started: datetime, **reports: Any) -> None:
        """Run metrics for ``stats`` (and Redis, and the Prometheus file when asked for)."""
        from .run_log import record_run

        try:
            record_run(store, kind, started=started, finished=self.now(), redis=self.redis,
                       metrics_file=self.metrics_file, **reports)
        except Exception as exc:  # metrics never cost a run
            log.warning("%s: run metrics not recorded: %s", kind, one_line(exc))


