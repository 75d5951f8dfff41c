"""One pass over the players: fetch → derive → store (snapshot + outbox in one transaction).

Both the cron one-shot (`poll`) and the long-running scheduler call :func:`run_once`, so there is
exactly one code path that decides what happened. Fetching is concurrent (bounded, rate-limited
by the HTTP client); everything after it runs in the calling thread, in batches, so the store
never sees two writers from one process.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Literal, Protocol

from . import plausibility
from .accounts import OnNoBoard, TypeCheck, fetch_auto, type_news
from .clock import utcnow
from .errors import OSRSApiError, PlayerNotFound, error_line
from .events import Event, Presence, decreases, derive, next_presence
from .names import AUTO, board_mode
from .reference import high_water, with_ratings
from .rename_pass import RenamePass, notice_renames, renamed_notice
from .routing import config_route
from .snapshot import Snapshot

if TYPE_CHECKING:
    import threading

    from notifier.notice import Notice

    from .renames import Decision
    from .settings import Settings
    from .store import PlayerState, PollRecord, RecordStats, Store

log = logging.getLogger("osrs_notify.pipeline")

# Writes are batched so 10,000 players are not one giant transaction (and not 10,000 small ones).
BATCH_SIZE = 500

Outcome = Literal[
    "baseline", "changed", "unchanged", "anomaly", "new_account", "not_found", "unavailable",
    "invalid",
]
FAILED_OUTCOMES: frozenset[str] = frozenset({"unavailable", "invalid"})


def never_found(polls: int) -> str:
    """What `poll` says of a name the hiscores have never known: the admin's problem."""
    return (
        f"never found on the hiscores in {polls} poll(s): check the spelling and the mode "
        "(a new account appears once it is ranked)"
    )


class Fetcher(Protocol):
    """The hiscores seam: tests hand in a fake; production a :class:`HiscoresClient`."""

    def fetch(
        self, name: str, mode: str = "regular", *, not_before: datetime | None = None
    ) -> Snapshot: ...


@dataclass(frozen=True, slots=True)
class Queued:
    """An event, the notice that tells it (stored in the outbox), and the webhooks that take it."""

    event: Event
    notice: Notice
    webhooks: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PlayerResult:
    name: str
    outcome: Outcome
    queued: tuple[Queued, ...] = ()
    anomalies: int = 0
    error: str | None = None
    note: str | None = None  # why nothing was announced (a refused or rolled-back snapshot)
    # A change found: seconds since the poll before, which did not see it (it happened within).
    unseen_for: float | None = None

    @property
    def events(self) -> tuple[Event, ...]:
        return tuple(q.event for q in self.queued)


@dataclass(frozen=True, slots=True)
class RunReport:
    started_at: datetime
    finished_at: datetime
    results: tuple[PlayerResult, ...] = ()
    dry_run: bool = False
    snapshots_added: int = 0
    events_added: int = 0
    deliveries_added: int = 0
    added_players: tuple[str, ...] = ()
    removed_players: tuple[str, ...] = ()
    renames: tuple[Decision, ...] = ()  # what each new name is: renamed, fresh or respelled

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    @property
    def failed(self) -> tuple[PlayerResult, ...]:
        return tuple(r for r in self.results if r.outcome in FAILED_OUTCOMES)

    @property
    def events(self) -> int:
        return sum(len(r.events) for r in self.results)

    @property
    def exit_code(self) -> int:
        # 1 = some players failed; the rest was done and saved (SPEC "Exit codes").
        return 1 if self.failed else 0


# -- the pass -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Fetched:
    player: PlayerState
    snapshot: Snapshot | None = None
    error: BaseException | None = None
    skipped: bool = False  # not fetched: a stop was requested first
    check: TypeCheck | None = None  # an ``auto`` player's account type, if checked on the way


@dataclass(slots=True)
class _Plan:
    results: list[PlayerResult] = field(default_factory=list)
    records: list[PollRecord] = field(default_factory=list)


def fetch_all(
    players: Sequence[PlayerState],
    fetcher: Fetcher,
    *,
    concurrency: int,
    stop: threading.Event | None = None,
    prefetched: Mapping[int, _Fetched] | None = None,
    now: Callable[[], datetime] = utcnow,
) -> list[_Fetched]:
    """Fetch every player with at most ``concurrency`` requests in flight, in input order.

    The HTTP client's rate limiter spaces the requests; the pool only bounds how many wait on
    the network at once. One player's failure is captured, never raised: it must not stop the
    others. Once ``stop`` is set no new fetch starts (those in flight finish); the players not
    fetched come back ``skipped``. A player in ``prefetched`` (the rename check asked for
    them already) takes that answer instead of a request. An ``auto`` player's account type
    is checked on the way when due (:func:`poller.accounts.fetch_auto`, at ``now()``).
    """

    def one(player: PlayerState) -> _Fetched:
        if stop is not None and stop.is_set():
            return _Fetched(player, skipped=True)
        if prefetched is not None and player.id in prefetched:
            first = prefetched[player.id]  # its type check too, so it is not made twice
            return dataclasses.replace(first, player=player)
        try:
            if player.mode == AUTO:
                polled = fetch_auto(fetcher, player, now())
                return _Fetched(player, snapshot=polled.snapshot, check=polled.check)
            snapshot = fetcher.fetch(player.name, player.mode, not_before=player.last_polled_at)
            return _Fetched(player, snapshot=snapshot)
        except OnNoBoard as exc:  # a 404, with the check's time kept
            return _Fetched(player, error=exc, check=exc.check)
        except OSRSApiError as exc:
            return _Fetched(player, error=exc)
        except Exception as exc:  # a bug in parsing must cost one player, not the run
            log.exception("unexpected error fetching %s", player.name)
            return _Fetched(player, error=exc)

    if concurrency <= 1 or len(players) <= 1:
        return [one(p) for p in players]
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="fetch") as pool:
        return list(pool.map(one, players))


def plan_player(
    fetched: _Fetched,
    *,
    settings: Settings,
    now: datetime,
    route: Callable[[str, str], tuple[str, ...]],
) -> tuple[PlayerResult, PollRecord]:
    """Decide what one fetch means: events, anomalies, presence. Pure apart from logging."""
    from .store import OutboxEntry, PollRecord

    player, check = fetched.player, fetched.check
    previous = Presence(status=player.status, not_found_streak=player.not_found_streak)
    missing_after = settings.poll.missing_after
    # The board the stats came from names the account in messages (an ``auto`` player's type).
    mode = board_mode(player.mode, check.account_type if check else player.account_type)

    def record(
        result: PlayerResult,
        snapshot: Snapshot | None = None,
        presence: Presence | None = None,
        anomalies: Sequence[tuple[str, int, int, str]] = (),
        reference: Snapshot | None = None,
        archive: bool = False,
    ) -> tuple[PlayerResult, PollRecord]:
        if news:  # a type change is news whatever the stats say
            result = dataclasses.replace(result, queued=news + result.queued)
        outbox = tuple(
            OutboxEntry(kind=q.event.kind, payload=q.notice.to_json(), webhooks=q.webhooks)
            for q in result.queued
        )
        return result, PollRecord(
            player_id=player.id,
            taken_at=now,
            snapshot=snapshot,
            outbox=outbox,
            anomalies=tuple(anomalies),
            status=presence.status if presence else None,
            not_found_streak=presence.not_found_streak if presence else None,
            error=result.error,
            reference=reference,
            archive=archive,
            account_type=check.account_type if check else None,
            account_type_at=check.checked_at if check else None,
        )

    def build(
        events: Iterable[Event], snapshot: Snapshot | None, was: str | None = None
    ) -> tuple[Queued, ...]:
        # Imported on first use: a poll with nothing to say never pays for the game wording.
        from .notices import event_notice

        return tuple(
            Queued(
                e,
                event_notice(e, player=player.name, mode=mode, snapshot=snapshot,
                             taken_at=now, was=was),
                route(e.kind, player.name),
            )
            for e in events
        )

    # A death shows the hardcore board frozen at it; never news on a first sight.
    news: tuple[Queued, ...] = ()
    if check is not None and player.reference is not None:
        for event, shown in type_news(player.account_type, check):
            news += build((event,), shown, was=player.account_type)

    err = fetched.error
    if isinstance(err, PlayerNotFound) and player.reference is None:
        # Never found: a typo, the wrong mode, or a member not ranked yet. That is the admin's
        # problem, said on every run, and never a "missing" message to the clan.
        streak = player.not_found_streak + 1
        return record(
            PlayerResult(player.name, "not_found", error=never_found(streak)),
            presence=Presence(status="ok", not_found_streak=streak),
        )
    if isinstance(err, PlayerNotFound):
        presence, evs = next_presence(previous, found=False, missing_after=missing_after)
        shown = f"not found on the hiscores ({presence.not_found_streak}/{missing_after})"
        return record(
            PlayerResult(player.name, "not_found", build(evs, player.last_snapshot), error=shown),
            presence=presence,
        )
    if err is not None:
        # A transient API failure may pass by itself; anything else (a response we refuse,
        # a bug) will not.
        transient = isinstance(err, OSRSApiError) and err.transient
        kind: Outcome = "unavailable" if transient else "invalid"
        return record(PlayerResult(player.name, kind, error=error_line(err)))

    current = fetched.snapshot
    assert current is not None
    presence, presence_events = next_presence(previous, found=True, missing_after=missing_after)
    reference = player.reference
    if reference is None:
        # First snapshot: a silent baseline (only a "back" from a missing streak is news).
        return record(
            PlayerResult(player.name, "baseline", build(presence_events, current)),
            current,
            presence,
            reference=current,
        )

    # Judged against the last snapshot we accepted (after a rollback: the rolled-back values,
    # which are the truth now), over the time since it was taken.
    last = player.last_snapshot or reference
    since = player.last_snapshot_at
    elapsed = (now - since).total_seconds() / 3600 if since is not None else 0.0
    verdict = plausibility.judge(last, current, elapsed_hours=max(elapsed, 0.0))

    if verdict.kind == "new_account":
        # The name now belongs to someone else: the store keeps the old history apart, and the
        # new account starts from a silent baseline, said once.
        log.warning("%s: %s; the name belongs to another account now", player.name, verdict.reason)
        event = Event("player", "new_account")
        return record(
            PlayerResult(
                player.name, "new_account", build((*presence_events, event), current),
                note=f"the name now belongs to another account ({verdict.reason}); "
                "the old history is kept apart and this one starts from a silent baseline",
            ),
            current,
            presence,
            reference=current,
            archive=True,
        )

    if verdict.kind == "implausible":
        # Refused: not stored, never a reference; the next poll is judged against the last
        # trusted snapshot again. The biggest gains are recorded with the reason for review.
        def value(snapshot: Snapshot, name: str) -> int:
            return max(snapshot.skills.get(name, snapshot.activities.get(name, 0)), 0)

        biggest = [(m, value(last, m), value(current, m)) for m in verdict.metrics]
        log.warning("%s: refused an implausible snapshot: %s", player.name, verdict.reason)
        return record(
            PlayerResult(
                player.name, "anomaly", build(presence_events, None), anomalies=len(biggest),
                note=f"refused: {verdict.reason}; nothing announced, recorded for review",
            ),
            None,
            presence,
            tuple((*g, verdict.reason) for g in biggest),
        )

    if verdict.kind == "rollback":
        anomalies = tuple((a.metric, a.old, a.new, "rollback") for a in decreases(last, current))
        log.warning(
            "%s: %d metric(s) went down (e.g. %s %d → %d); no events derived, recorded for review",
            player.name, len(anomalies), *anomalies[0][:3],
        )
        queued = build(presence_events, current)
        # The reference keeps every high it had: re-earning rolled-back levels is no news, and
        # real gains in this snapshot stay unannounced only until the data is trusted again
        # (the next poll that finds nothing lower), which judges them against this reference.
        return record(
            PlayerResult(
                player.name, "anomaly", queued, anomalies=len(anomalies),
                note=f"{len(anomalies)} metric(s) went down (rollback?); no events derived, "
                "recorded for review",
            ),
            current,
            presence,
            anomalies,
            reference=with_ratings(reference, current),
        )

    # Thresholds are judged against the high-water mark, never against a rolled-back value.
    merged = high_water(reference, current) if reference != last else current
    derived = derive(reference, merged, settings.rules)
    outcome: Outcome = "changed" if current != last else "unchanged"
    return record(
        PlayerResult(player.name, outcome, build(presence_events + derived.events, current)),
        current,
        presence,
        reference=merged,
    )


def _announce_rename(
    result: PlayerResult, rec: PollRecord, old: str, fetched: _Fetched, now: datetime,
    route: Callable[[str, str], tuple[str, ...]],
) -> tuple[PlayerResult, PollRecord]:
    """The poll of a name that took ``old``'s history, with one "renamed" event first."""
    from .store import OutboxEntry

    event, notice = renamed_notice(fetched.player, old, fetched.snapshot, now)
    queued = Queued(event, notice, route(event.kind, fetched.player.name))
    entry = OutboxEntry(kind=event.kind, payload=notice.to_json(), webhooks=queued.webhooks)
    return (dataclasses.replace(result, queued=(queued, *result.queued)),
            dataclasses.replace(rec, outbox=(entry, *rec.outbox)))


def first_answers(fetcher: Fetcher, settings: Settings, now: Callable[[], datetime],
                  kept: dict[int, _Fetched], players: Sequence[PlayerState]
                  ) -> dict[int, Snapshot | BaseException]:
    """The rename check's first answers; each whole fetch is ``kept`` for the poll."""
    got = fetch_all(players, fetcher, concurrency=settings.poll.concurrency, now=now)
    kept.update((f.player.id, f) for f in got)
    return {f.player.id: f.snapshot or f.error or ValueError("no answer") for f in got}


def run_once(
    settings: Settings,
    store: Store,
    fetcher: Fetcher,
    *,
    now: Callable[[], datetime] = utcnow,
    dry_run: bool = False,
    players: Sequence[PlayerState] | None = None,
    stop: threading.Event | None = None,
    record: Callable[[Sequence[PollRecord]], RecordStats] | None = None,
    select: Callable[[list[PlayerState]], list[PlayerState]] | None = None,
) -> RunReport:
    """Poll ``players`` (default: every active player in the config, or those ``select``
    keeps of them after the config sync: `poll --due`) once.

    ``dry_run`` fetches and derives but writes nothing: not even the new players.
    ``stop`` (the scheduler's shutdown flag) stops fetching new players; those already fetched
    are still recorded, the rest are left out of the report. ``record`` replaces
    ``store.record_poll`` (the scheduler records only players it still holds a lease on).
    """
    started = now()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    renames = RenamePass()
    kept: dict[int, _Fetched] = {}
    # A whole roster is walked a batch at a time: fetch, plan, record, then the next batch, so
    # 10,000 players never hold 10,000 decoded snapshots and 10,000 fresh ones at once.
    load_batches = False
    if players is None:
        if dry_run:
            players = store.preview_players([(p.name, p.mode) for p in settings.players])
        else:
            sync = store.sync_players([(p.name, p.mode) for p in settings.players], started)
            added, removed = sync.added, sync.deactivated
            # Before the roster is loaded: a carried rename changes who is polled.
            renames = notice_renames(
                store, sync, partial(first_answers, fetcher, settings, now, kept), now)
            players = store.active_players(with_snapshots=False)
            players = select(players) if select is not None else players
            load_batches = True

    route = config_route(settings, store, players)
    results: list[PlayerResult] = []
    snapshots = events_added = deliveries = 0
    for start in range(0, len(players), BATCH_SIZE):
        if stop is not None and stop.is_set():
            break
        batch = list(players[start : start + BATCH_SIZE])
        if load_batches:
            batch = store.with_last_snapshots(batch)
        fetched = fetch_all(batch, fetcher, concurrency=settings.poll.concurrency, stop=stop,
                            prefetched=kept, now=now)
        taken = now()
        plan = _Plan()
        for item in fetched:
            if item.skipped:
                continue
            result, rec = plan_player(item, settings=settings, now=taken, route=route)
            if result.outcome == "changed" and (last := item.player.last_polled_at):
                result = dataclasses.replace(result, unseen_for=(taken - last).total_seconds())
            old = renames.carried.get(item.player.id)
            if old is not None and item.snapshot is not None:
                result, rec = _announce_rename(result, rec, old, item, taken, route)
            plan.results.append(result)
            plan.records.append(rec)
        if not dry_run and plan.records:
            stats = (record or store.record_poll)(plan.records)
            snapshots += stats.snapshots_added
            events_added += stats.events_added
            deliveries += stats.deliveries_added
        results.extend(plan.results)

    return RunReport(
        started_at=started,
        finished_at=now(),
        results=tuple(results),
        dry_run=dry_run,
        snapshots_added=snapshots,
        events_added=events_added,
        deliveries_added=deliveries,
        added_players=added,
        removed_players=removed,
        renames=renames.decisions,
    )
