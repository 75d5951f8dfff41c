"""The one pass (`poller.passes.run_pass`) that `poll` and the `run` jobs call: what it does and
in which order, on a real SQLite store with a fake clock, hiscores, Wiki and Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import responses

from poller.passes import Batch, EveryPlayer, Players, merge_reports, run_pass
from poller.settings import ConfigError
from poller.store import Store, open_store

from run_fakes import T0, Clock, Fetcher, config

WIKI = "https://prices.runescape.wiki/api/v1/osrs"
WATCH = ('[webhooks.market]\nurl = "http://127.0.0.1:9/api/webhooks/9/tok"\n'
         'events = ["price"]\n[[watch]]\nitem = {item}\nbelow = 5_000_000\n')


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path}/state.db")
    yield s
    s.close()


@pytest.fixture
def wiki() -> Iterator[Callable[[int], responses.RequestsMock]]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:

        def answer(high: int) -> responses.RequestsMock:
            rsps.reset()
            rsps.add(responses.GET, f"{WIKI}/mapping", json=[
                {"id": 13190, "name": "Old school bond", "members": False, "limit": 100,
                 "value": 0, "examine": "A bond.", "icon": "Old school bond.png",
                 "highalch": None, "lowalch": None},
            ])
            rsps.add(responses.GET, f"{WIKI}/latest", json={"data": {"13190": {
                "high": high, "highTime": 1_780_000_000, "low": high - 10_000,
                "lowTime": 1_780_000_000}}})
            return rsps

        yield answer


class Redis:
    """What the pass publishes, in order."""

    def __init__(self) -> None:
        self.published: list[tuple[str, str]] = []

    def publish_report(self, report: Any) -> int:
        self.published += [(q.event.kind, r.name) for r in report.results for q in r.queued]
        return len(self.published)

    def publish_events(self, items: Any) -> int:
        self.published += [(kind, str(payload.get("metric"))) for kind, payload in items]
        return len(self.published)


def test_players_then_prices_one_report(
    tmp_path: Path, store: Store, wiki: Callable[[int], responses.RequestsMock]
) -> None:
    settings = config(tmp_path, players=2, extra=WATCH.format(item=13190))
    clock, fetcher, redis = Clock(T0), Fetcher(), Redis()
    queued: list[int] = []
    wiki(6_000_000)
    first = run_pass(settings, store, players=Players(fetcher, EveryPlayer()), prices=True,
                     now=clock, redis=redis, on_queued=lambda: queued.append(1))  # type: ignore
    assert first.batches == 1 and first.polled == 2 and first.players is not None
    assert first.players.count("baseline") == 2
    assert first.prices is not None and first.prices.count("baseline") == 1
    assert (first.events_added, first.deliveries_added, first.exit_code) == (0, 0, 0)
    assert queued == [] and redis.published == []

    fetcher.level = 61
    clock.at = T0 + timedelta(hours=1)
    rsps = wiki(4_000_000)
    second = run_pass(settings, store, players=Players(fetcher, EveryPlayer()), prices=True,
                      now=clock, redis=redis, on_queued=lambda: queued.append(1))  # type: ignore
    assert second.changed == 2 and second.prices is not None and len(second.prices.alerts) == 1
    assert second.events_added == 5 and second.deliveries_added == 5  # 4 level-ups, 1 alert
    assert queued == [1, 1]  # after the players' batch, and after the prices: each committed
    # Players first, then prices: what Redis saw, and what the Wiki was asked after the fetches.
    assert [kind for kind, _ in redis.published] == ["levelup"] * 4 + ["price"]
    assert [c.request.url.rsplit("/", 1)[1] for c in rsps.calls] == ["latest"]


def test_an_unknown_watch_is_a_config_error_before_anything_is_done(
    tmp_path: Path, store: Store, wiki: Callable[[int], responses.RequestsMock]
) -> None:
    settings = config(tmp_path, players=2, extra=WATCH.format(item='"Twisted bwo"'))
    fetcher = Fetcher()
    wiki(6_000_000)
    with pytest.raises(ConfigError, match=r"watch\[0\]\.item"):
        run_pass(settings, store, players=Players(fetcher, EveryPlayer()), prices=True,
                 now=Clock(T0))
    assert fetcher.calls == [] and store.active_players() == []


def test_without_watches_the_prices_step_is_skipped(tmp_path: Path, store: Store) -> None:
    settings = config(tmp_path, players=1)
    report = run_pass(settings, store, players=Players(Fetcher(), EveryPlayer()), prices=True,
                      now=Clock(T0))
    assert report.prices is None and report.polled == 1


def test_a_prices_only_pass(
    tmp_path: Path, store: Store, wiki: Callable[[int], responses.RequestsMock]
) -> None:
    settings = config(tmp_path, players=3, extra=WATCH.format(item=13190))
    wiki(6_000_000)
    report = run_pass(settings, store, players=None, prices=True, now=Clock(T0))
    assert report.players is None and report.batches == 0 and report.prices is not None
    assert store.active_players() == []  # the players were not part of it


def test_a_dry_run_writes_and_publishes_nothing(
    tmp_path: Path, store: Store, wiki: Callable[[int], responses.RequestsMock]
) -> None:
    settings = config(tmp_path, players=2, extra=WATCH.format(item=13190))
    redis = Redis()
    wiki(4_000_000)
    report = run_pass(settings, store, players=Players(Fetcher(), EveryPlayer()), prices=True,
                      now=Clock(T0), dry_run=True, redis=redis)  # type: ignore[arg-type]
    assert report.polled == 2 and report.prices is not None and report.prices.dry_run
    assert redis.published == [] and store.active_players() == []


class Claims:
    """A roster handing out one player at a time; ``claimed`` counts the batches taken."""

    def __init__(self, store: Store, on_claim: Callable[[int], None] = lambda n: None) -> None:
        self.store, self.on_claim = store, on_claim
        self.claimed = 0

    def batches(self, now: Callable[[], datetime]) -> Iterator[Batch]:
        for player in self.store.active_players():
            self.claimed += 1
            self.on_claim(self.claimed)
            yield Batch([player])


def test_a_stop_ends_the_pass_between_batches_and_claims_no_more(
    tmp_path: Path, store: Store, wiki: Callable[[int], responses.RequestsMock]
) -> None:
    import threading

    settings = config(tmp_path, players=5, extra=WATCH.format(item=13190))
    store.sync_players([(p.name, p.mode) for p in settings.players], T0)
    stop = threading.Event()
    roster = Claims(store, on_claim=lambda n: stop.set() if n == 2 else None)
    wiki(6_000_000)
    report = run_pass(settings, store, players=Players(Fetcher(), roster), prices=True,
                      now=Clock(T0), stop=stop)
    assert roster.claimed == 2 and report.batches == 2
    # The second batch was claimed before the stop and is skipped by the pipeline (nothing
    # fetched); the watched prices still run: a stop ends the player step only.
    assert report.polled == 1 and report.prices is not None


def test_batches_are_one_report(tmp_path: Path, store: Store) -> None:
    settings = config(tmp_path, players=3)
    store.sync_players([(p.name, p.mode) for p in settings.players], T0)
    clock = Clock(T0)
    report = run_pass(settings, store, players=Players(Fetcher(), Claims(store)), prices=False,
                      now=clock)
    assert report.batches == 3 and report.players is not None
    assert [r.name for r in report.players.results] == ["P0", "P1", "P2"]
    assert report.players.snapshots_added == 3
    assert merge_reports([report.players]) is report.players
