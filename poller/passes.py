"""The one orchestrator: a pass over the due players, then the watched prices, as one report.

Both `poll` (cron) and the `run` jobs call :func:`run_pass`; they decide only *which* players
are due (every configured one, or the ones a `run` process claimed with leases: a
:class:`Roster`) and whether the prices are due, and keep the lock, the store and the printing.
What a pass does, and in which order, is decided here and nowhere else:

1. the watched items are resolved (an unknown ``[[watch]]`` raises ``ConfigError`` before
   anything was fetched or written);
2. the due players, a batch at a time: fetch, derive, store (:func:`poller.pipeline.run_once`),
   each committed batch published on Redis;
3. the watched prices (:class:`poller.price_pass.PricePass`), published once committed;
4. the scheduled posts: due digests (:mod:`poller.digest_step`) and competition announcements
   (:mod:`poller.competition_step`, which may first poll a round's participants at its start
   and end) are queued once each, live messages brought up to date, and what is queued is
   sent (:mod:`poller.posting`).

A further step is one more block in :func:`run_pass` and one more field of :class:`PassReport`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from .clock import utcnow

if TYPE_CHECKING:
    import threading

    from .pipeline import Fetcher, RunReport
    from .posting import Poster, PostReport
    from .price_pass import PricePass, PriceReport
    from .redis_layer import RedisLayer
    from .settings import Settings
    from .store import PlayerState, PollRecord, RecordStats, Store


@dataclass(frozen=True, slots=True)
class Batch:
    """Players to poll together. ``players`` None: every player in the config (synced into the
    store first); ``record`` replaces ``store.record_poll`` (a `run` process records only the
    players it still holds a lease on)."""

    players: Sequence[PlayerState] | None = None
    record: Callable[[Sequence[PollRecord]], RecordStats] | None = None
    # With ``players`` None: which of the configured players to poll (`poll --due`).
    select: Callable[[list[PlayerState]], list[PlayerState]] | None = None


class Roster(Protocol):
    """Which players are due, a batch at a time; a batch is claimed only when asked for, so a
    stop between batches leaves the rest unclaimed."""

    def batches(self, now: Callable[[], datetime]) -> Iterator[Batch]: ...


class EveryPlayer:
    """`poll`'s roster: every configured player, in one call of the pipeline (which walks the
    roster in batches of its own)."""

    def batches(self, now: Callable[[], datetime]) -> Iterator[Batch]:
        yield Batch()


@dataclass(frozen=True, slots=True)
class DuePlayers:
    """`poll --due`'s roster: the configured players the polling rule says are due now
    (:mod:`poller.due`), after the config sync, in one call of the pipeline."""

    settings: Settings
    store: Store

    def batches(self, now: Callable[[], datetime]) -> Iterator[Batch]:
        def select(players: list[PlayerState]) -> list[PlayerState]:
            from .due import due_ids

            if self.settings.poll.schedule != "adaptive":
                return players
            chosen = set(due_ids(self.settings, self.store, now()))
            return [p for p in players if p.id in chosen]

        yield Batch(select=select)


@dataclass(frozen=True, slots=True)
class These:
    """A roster of given players, polled now whatever their schedule (a competition's start
    and end)."""

    players: Sequence[PlayerState]

    def batches(self, now: Callable[[], datetime]) -> Iterator[Batch]:
        yield Batch(players=self.players)


@dataclass(frozen=True, slots=True)
class Players:
    """The player step: who is due and the hiscores client to fetch them with."""

    fetcher: Fetcher
    roster: Roster


@dataclass(frozen=True, slots=True)
class Posts:
    """The digest step: how to reach Discord (built only when something is to be sent) and
    the owner name this process leases posts under."""

    poster: Callable[[], Poster]
    owner: str


@dataclass(frozen=True, slots=True)
class PassReport:
    """What one pass did. ``players`` is None when the pass had no player step or nothing was
    due (``batches`` 0); ``prices`` is None when the prices were not part of it."""

    players: RunReport | None = None
    prices: PriceReport | None = None
    batches: int = 0
    digests: PostReport | None = None

    @property
    def polled(self) -> int:
        return len(self.players.results) if self.players else 0

    @property
    def changed(self) -> int:
        return self.players.count("changed") if self.players else 0

    @property
    def failed(self) -> int:
        return len(self.players.failed) if self.players else 0

    @property
    def events_added(self) -> int:
        return (self.players.events_added if self.players else 0) + (
            self.prices.events_added if self.prices else 0
        )

    @property
    def deliveries_added(self) -> int:
        return (self.players.deliveries_added if self.players else 0) + (
            self.prices.deliveries_added if self.prices else 0
        )

    @property
    def exit_code(self) -> int:
        """1 when some players could not be fetched or the prices step failed (the rest was
        done and saved), else 0 (SPEC "Exit codes")."""
        return max(
            self.players.exit_code if self.players else 0,
            self.prices.exit_code if self.prices else 0,
            self.digests.exit_code if self.digests else 0,
        )


def run_pass(
    settings: Settings,
    store: Store,
    *,
    players: Players | None,
    prices: bool,
    now: Callable[[], datetime] = utcnow,
    dry_run: bool = False,
    stop: threading.Event | None = None,
    redis: RedisLayer | None = None,
    on_queued: Callable[[], None] | None = None,
    posts: Posts | None = None,
) -> PassReport:
    """One pass (see the module docstring). ``prices``: the watched prices are due (nothing to
    do without ``[[watch]]`` entries). ``dry_run`` fetches and derives but writes and publishes
    nothing. ``stop`` (a `run` shutdown) ends the player step between players. ``on_queued`` is
    called after each committed step that queued deliveries (`run` sends them at once).
``posts``: the digest step runs (when digests are configured, and never in a dry run).

    Raises ``ConfigError`` for an unknown or ambiguous ``[[watch]]`` item, before anything else
    is done. Any other failure of the prices step is in its report, never raised."""
    price_pass = _prepared_prices(settings, store, now, dry_run) if prices else None

    def committed(deliveries_added: int) -> None:
        if deliveries_added and on_queued is not None:
            on_queued()

    player_report, batches = (None, 0)
    if players is not None:
        player_report, batches = _poll_players(
            settings, store, players, now=now, dry_run=dry_run, stop=stop, redis=redis,
            committed=committed,
        )

    price_report = None
    if price_pass is not None:
        price_report = price_pass.run()  # after the players; never raises
        if not dry_run:
            from .redis_layer import publish_prices

            publish_prices(redis, price_report)
            committed(price_report.deliveries_added)

    digest_report = None
    if posts is not None and (settings.digests or settings.competitions) and not dry_run:
        from .competition_step import queue_competitions
        from .digest_step import queue_digests
        from .posting import PostReport, send_posts

        digest_report = PostReport()
        changed = player_report is not None and player_report.count("changed") > 0

        def poll_now(chosen: Sequence[PlayerState]) -> None:
            """A competition's start or end: poll its participants now (one process)."""
            from .store import LockHeld

            assert players is not None
            try:
                with store.lock("competition"):
                    _poll_players(settings, store, Players(players.fetcher, These(chosen)),
                                  now=now, dry_run=False, stop=stop, redis=redis,
                                  committed=committed)
            except LockHeld:
                return

        # A cron `poll` has just polled everyone: no extra polls.
        boundary = None if players is None or isinstance(players.roster, EveryPlayer) \
            else poll_now
        queue_digests(settings, store, now(), digest_report, changed=changed)
        queue_competitions(settings, store, now(), digest_report, poll=boundary,
                           changed=changed)
        send_posts(settings, store, posts.poster, now(), posts.owner, digest_report)

    return PassReport(players=player_report, prices=price_report, batches=batches,
                      digests=digest_report)


def _prepared_prices(
    settings: Settings, store: Store, now: Callable[[], datetime], dry_run: bool
) -> PricePass | None:
    """The prices step with every watch resolved (the item list refreshed when a day old); None
    without ``[[watch]]`` — then the prices code is never imported (a cron run pays for it)."""
    if not settings.watch:
        return None
    from .price_pass import build_price_pass

    price_pass = build_price_pass(settings, store, dry_run=dry_run, now=now)
    price_pass.prepare()
    return price_pass


def _poll_players(
    settings: Settings,
    store: Store,
    players: Players,
    *,
    now: Callable[[], datetime],
    dry_run: bool,
    stop: threading.Event | None,
    redis: RedisLayer | None,
    committed: Callable[[int], None],
) -> tuple[RunReport | None, int]:
    """Poll the roster's batches until it has none left (or a stop); one report for them all."""
    from .pipeline import run_once
    from .redis_layer import publish_report

    reports: list[RunReport] = []
    batches = players.roster.batches(now)
    while stop is None or not stop.is_set():
        batch = next(batches, None)
        if batch is None:
            break
        report = run_once(
            settings, store, players.fetcher, now=now, dry_run=dry_run, players=batch.players,
            stop=stop, record=batch.record, select=batch.select,
        )
        reports.append(report)
        if not dry_run:
            publish_report(redis, report)  # committed: now on Redis too, if configured
            committed(report.deliveries_added)
    return (merge_reports(reports) if reports else None), len(reports)


def merge_reports(reports: Sequence[RunReport]) -> RunReport:
    """Batches of one pass as one report: their results in order, their counts added up."""
    from dataclasses import replace

    first = reports[0]
    if len(reports) == 1:
        return first
    return replace(
        first,
        finished_at=reports[-1].finished_at,
        results=tuple(r for rep in reports for r in rep.results),
        snapshots_added=sum(r.snapshots_added for r in reports),
        events_added=sum(r.events_added for r in reports),
        deliveries_added=sum(r.deliveries_added for r in reports),
        added_players=tuple(p for r in reports for p in r.added_players),
        removed_players=tuple(p for r in reports for p in r.removed_players),
        renames=tuple(d for r in reports for d in r.renames),
    )
