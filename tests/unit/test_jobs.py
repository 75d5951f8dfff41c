"""`run`'s jobs called directly on a real SQLite store, with a fake clock, hiscores and Discord:
windows, leases, stops, two processes sharing a window, the prices window. No sleeping: the time
is whatever the test sets."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import responses

from poller.jobs import PRICES_WINDOW_KEY
from poller.pipeline import run_once
from poller.run_log import recent
from poller.store import Store, open_store
from poller.timing import claim_limit, jitter_for, make_timing, window_start

from run_fakes import T0, Clock, Fetcher, Sender, config, jobs


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path}/state.db")
    yield s
    s.close()


def leased(tmp_path: Path, table: str) -> int:
    db = sqlite3.connect(tmp_path / "state.db")
    try:
        sql = f"SELECT count(*) FROM {table} WHERE lease_owner IS NOT NULL"
        return int(db.execute(sql).fetchone()[0])
    finally:
        db.close()


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


# -- hiscores ----------------------------------------------------------------------------------


def test_the_hiscores_job_polls_each_player_once_per_window(tmp_path: Path, store: Store) -> None:
    clock = Clock(T0)
    fetcher = Fetcher()
    j = jobs(config(tmp_path, players=5), fetcher, Sender(), clock=clock)
    j.hiscores()
    assert sorted(fetcher.names) == [f"P{i}" for i in range(5)]
    clock.at = T0 + timedelta(minutes=1)
    j.hiscores()  # same window: nothing is due
    assert len(fetcher.calls) == 5
    clock.at = T0 + timedelta(hours=1, minutes=1)
    j.hiscores()
    assert len(fetcher.calls) == 10
    j.close()
    assert all(p.last_polled_at is not None for p in store.active_players())
    assert [(m.kind, m.players_polled) for m in recent(store)] == [("hiscores", 5)] * 2
    assert leased(tmp_path, "player") == 0


def test_a_batch_claimed_just_before_a_window_ends_is_due_again_in_the_next(
    tmp_path: Path,
) -> None:
    clock = Clock(T0)
    fetcher = Fetcher()
    fetcher.on_fetch = lambda name: clock.advance(timedelta(seconds=1))  # a second a fetch
    j = jobs(config(tmp_path, players=3), fetcher, Sender(), clock=clock)
    start = window_start(clock.at, timedelta(hours=1), j.window_offset(j.store_for("hiscores")))
    clock.at = start + timedelta(minutes=59, seconds=59)
    j.hiscores()  # claimed at :59:59, recorded three seconds later, in the next window
    assert len(fetcher.calls) == 3
    clock.at = start + timedelta(hours=1, seconds=10)
    j.hiscores()
    assert len(fetcher.calls) == 3  # not twice within seconds: at least half a window apart
    clock.at = start + timedelta(hours=1, minutes=31)
    j.hiscores()
    assert len(fetcher.calls) == 6  # but polled in this window too, not skipped until the next
    j.close()


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
    j = jobs(config(tmp_path, players=12), fetcher, Sender(), clock=Clock(T0))
    fetcher.on_fetch = lambda name: j.stop.set() if len(fetcher.calls) == 3 else None
    j.hiscores()
    j.close()
    db = sqlite3.connect(tmp_path / "state.db")
    polled = db.execute("SELECT count(*) FROM player WHERE last_polled_at IS NOT NULL").fetchone()
    db.close()
    assert 3 <= polled[0] < 12
    assert leased(tmp_path, "player") == 0
    j.hiscores()  # stopped: no job starts
    assert len(fetcher.calls) < 12


def test_a_failing_batch_gives_its_leases_back_and_raises(tmp_path: Path) -> None:
    fetcher = Fetcher()
    j = jobs(config(tmp_path, players=4), fetcher, Sender(), clock=Clock(T0))

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    store = j.store_for("hiscores")
    store.record_claimed = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        j.hiscores()
    j.close()
    assert leased(tmp_path, "player") == 0


# -- deliveries --------------------------------------------------------------------------------


def test_queued_messages_wake_the_deliveries_job_once_per_batch(tmp_path: Path) -> None:
    clock = Clock(T0)
    fetcher, sender = Fetcher(), Sender()
    j = jobs(config(tmp_path, players=3), fetcher, sender, clock=clock)
    woken: list[int] = []
    j.wake = lambda: woken.append(1)
    j.hiscores()  # baselines: nothing queued
    assert woken == []
    fetcher.level = 61
    clock.at = T0 + timedelta(hours=1)
    j.hiscores()
    assert woken == [1]
    j.deliveries()
    assert sorted(sender.lines()) == sorted(
        f"P{i}: {s} 60 → 61" for i in range(3) for s in ("Cooking", "Fishing"))
    assert leased(tmp_path, "delivery") == 0
    j.close()


def test_a_wake_while_delivering_sends_in_the_same_run(tmp_path: Path) -> None:
    clock = Clock(T0)
    fetcher, sender = Fetcher(), Sender()
    j = jobs(config(tmp_path, players=2), fetcher, sender, clock=clock)
    j.hiscores()
    fetcher.level, clock.at = 61, T0 + timedelta(hours=1)
    j.hiscores()
    j.wake = lambda: pytest.fail("the running deliveries job goes round again instead")
    first = sender.send

    def send_then_poll(address, body, *, thread_id=None):  # type: ignore[no-untyped-def]
        result = first(address, body, thread_id=thread_id)
        if len(sender.posts) == 1:  # messages queued while this job is sending
            sender.send = first  # type: ignore[method-assign]
            fetcher.level, clock.at = 62, T0 + timedelta(hours=2)
            j.hiscores()
        return result

    sender.send = send_then_poll  # type: ignore[method-assign]
    j.deliveries()
    assert len(sender.lines()) == 8  # 60 → 61 and 61 → 62, two skills, two players
    j.close()


def test_two_processes_share_a_window_and_each_message_goes_once(tmp_path: Path) -> None:
    settings = config(tmp_path, players=20)
    open_store(settings.database_url).close()  # created before the processes start
    clock = Clock(T0)
    sender = Sender()
    fetchers = [Fetcher(), Fetcher()]
    procs = [jobs(settings, f, sender, clock=clock, owner=f"owner-{i}")
             for i, f in enumerate(fetchers)]
    # Baseline, then everyone levels up: both poll at once, then both deliver at once.
    for level, when in ((60, T0), (61, T0 + timedelta(hours=1))):
        clock.at = when
        for f in fetchers:
            f.level = level
        together([p.hiscores for p in procs])
    calls = fetchers[0].names + fetchers[1].names
    assert sorted(calls) == sorted([f"P{i}" for i in range(20)] * 2)
    together([p.deliveries for p in procs])
    lines = sender.lines()
    assert len(lines) == 40 and len(set(lines)) == 40  # Cooking and Fishing for 20 players
    for p in procs:
        p.close()
    with open_store(settings.database_url) as store:
        runs = recent(store, limit=100)
    assert sum(m.deliveries_sent for m in runs if m.kind == "deliveries") == 40
    assert sum(m.players_polled for m in runs if m.kind == "hiscores") == 40


def together(work: list[object]) -> None:
    barrier = threading.Barrier(len(work))
    errors: list[BaseException] = []

    def run(fn: object) -> None:
        try:
            barrier.wait()
            fn()  # type: ignore[operator]
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(fn,)) for fn in work]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors


# -- prices ------------------------------------------------------------------------------------

WATCH = ('[webhooks.market]\nurl = "http://127.0.0.1:9/api/webhooks/9/tok"\n'
         'events = ["price"]\n[[watch]]\nitem = 13190\nbelow = 5_000_000\n')
WIKI = "https://prices.runescape.wiki/api/v1/osrs"


def wiki(rsps: responses.RequestsMock, high: int) -> None:
    rsps.add(responses.GET, f"{WIKI}/mapping", json=[
        {"id": 13190, "name": "Old school bond", "members": False, "limit": 100, "value": 0,
         "examine": "A bond.", "icon": "Old school bond.png", "highalch": None, "lowalch": None},
    ])
    rsps.add(responses.GET, f"{WIKI}/latest", json={
        "data": {"13190": {"high": high, "highTime": 1_780_000_000, "low": high - 10_000,
                           "lowTime": 1_780_000_000}}})


def test_the_prices_pass_runs_once_per_prices_window(tmp_path: Path) -> None:
    clock = Clock(T0)
    settings = config(tmp_path, players=0, extra=WATCH)
    sender = Sender()
    j = jobs(settings, Fetcher(), sender, clock=clock)
    woken: list[int] = []
    j.wake = lambda: woken.append(1)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        wiki(rsps, 6_000_000)
        j.prices()  # a silent baseline
        latest = [c for c in rsps.calls if c.request.url.endswith("/latest")]
        assert len(latest) == 1
        clock.at = T0 + timedelta(minutes=1)
        j.prices()  # the same 5-minute window: done already
        assert len([c for c in rsps.calls if c.request.url.endswith("/latest")]) == 1
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        wiki(rsps, 4_000_000)
        clock.at = T0 + timedelta(minutes=6)
        j.prices()
    assert woken == [1]  # an alert queued: deliver it now
    store = j.store_for("prices")
    assert store.get_meta(PRICES_WINDOW_KEY) is not None
    assert [m.kind for m in recent(store)] == ["prices", "prices"]
    j.close()


def test_run_posts_each_weekly_digest_once_and_keeps_the_live_one_current(
    tmp_path: Path,
) -> None:
    # T0 is Wednesday 1 July 2026, 12:00 UTC; weeks turn over on Mondays at 00:00.
    digest = '[[digest]]\nname = "weekly"\nchart = false\nlive = true\n'
    clock = Clock(T0)
    fetcher = Fetcher(level=60)
    sender = Sender()
    j = jobs(config(tmp_path, players=3, extra=digest), fetcher, sender, clock=clock)
    try:
        for hour in range(0, 6 * 24, 6):  # every six hours until Monday 12:00
            clock.at = T0 + timedelta(hours=hour, minutes=1)
            fetcher.level = 60 + hour // 24  # a level a day
            j.hiscores()
    finally:
        j.close()
    titles = [body["embeds"][0]["title"] for _, body in sender.posts
              if "gains" in body["embeds"][0].get("title", "")]
    # The live message of the week of 29 June, then the one of 6 July; each posted once.
    assert titles == ["Weekly gains — week of 2026-06-29 (so far)",
                      "Weekly gains — week of 2026-07-06 (so far)"]
    edited = [body["embeds"][0]["title"] for _, body in sender.edits]
    # Edited as players levelled (not on every pass), then finalised once at the turn-over.
    assert edited.count("Weekly gains — week of 2026-06-29") == 1
    assert 2 <= edited.count("Weekly gains — week of 2026-06-29 (so far)") <= 5


def test_run_polls_a_competitions_participants_at_its_start_and_before_its_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Hourly windows from T0 (12:00); the competition runs 12:30 → 14:30, between them.
    start, end = T0 + timedelta(minutes=30), T0 + timedelta(hours=2, minutes=30)
    comp = ('[[competition]]\nname = "race"\nmetric = "cooking"\n'
            f'start = "{start:%Y-%m-%dT%H:%M}"\nend = "{end:%Y-%m-%dT%H:%M}"\n'
            'reminders = []\nchart = false\n')
    clock = Clock(T0 + timedelta(minutes=1))
    fetcher = Fetcher(level=60, clock=clock)
    sender = Sender()
    j = jobs(config(tmp_path, players=2, extra=comp), fetcher, sender, clock=clock)
    try:
        j.hiscores()  # the 12:00 window: everyone polled once
        polled = len(fetcher.calls)
        clock.at = start + timedelta(minutes=1)
        j.hiscores()  # same window: nobody is due, but the start polls both players
        assert len(fetcher.calls) == polled + 2
        fetcher.level = 62
        clock.at = T0 + timedelta(hours=1, minutes=1)
        j.hiscores()  # the 13:00 window: the gain is seen
        clock.at = T0 + timedelta(hours=2, minutes=1)
        j.hiscores()  # the 14:00 window
        polled = len(fetcher.calls)
        fetcher.level = 64
        clock.at = end - timedelta(minutes=5)
        j.hiscores()  # same window, but the final ten minutes: polled again
        assert len(fetcher.calls) == polled + 2
        clock.at = end + timedelta(minutes=1)
        j.hiscores()
        # Over and posted: later passes read no standings for it (`run` asks every minute).
        import poller.competition_step as step

        def no_more(*args: object) -> None:
            raise AssertionError("standings computed for a finished round")

        monkeypatch.setattr(step, "current_standings", no_more)
        clock.at = end + timedelta(minutes=30)
        j.hiscores()
    finally:
        j.close()
    at_start = [at for at, _ in fetcher.calls if at == start + timedelta(minutes=1)]
    at_end = [at for at, _ in fetcher.calls if at == end - timedelta(minutes=5)]
    assert len(at_start) == 2 and len(at_end) == 2
    titles = [body["embeds"][0]["title"] for _, body in sender.posts if body.get("embeds")]
    assert [t for t in titles if t.startswith(("🏁", "🏆"))] == [
        "🏁 Started — race: Cooking", "🏆 race: Cooking — results"]
    podium = next(body for _, body in sender.posts
                  if body["embeds"][0]["title"].startswith("🏆"))
    # Level 60 → 64 in Cooking for both, counted from the start poll: a tie for first.
    lines = podium["embeds"][0]["fields"][0]["value"].splitlines()
    assert [line.split(" **")[0] for line in lines] == ["🥇", "🥇"]


def test_run_notices_a_rename_in_an_edited_config_and_announces_it_once(
    tmp_path: Path,
) -> None:
    from poller.jobs import Parts

    clock = Clock(T0 + timedelta(minutes=1))
    fetcher = Fetcher(level=60, clock=clock)
    sender = Sender()
    j = jobs(config(tmp_path, players=2), fetcher, sender, clock=clock)
    try:
        j.hiscores()
        # The config is edited: P1 is now called "Renamed One" (same stats, so it continues).
        edited = config(tmp_path, players=1, extra='[[players]]\nname = "Renamed One"\n')
        j.use(Parts(edited, fetcher, sender))
        clock.at = T0 + timedelta(hours=1, minutes=1)
        j.hiscores()
        j.deliveries()
        clock.at = T0 + timedelta(hours=2, minutes=1)
        j.hiscores()
        j.deliveries()
    finally:
        j.close()
    posted = json.dumps([b for _, b in sender.posts]).lower()
    assert posted.count("renamed from p1") == 1, posted
