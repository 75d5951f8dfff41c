"""Activity-aware polling through the real pieces: `run`'s hiscores job with a fake clock over
a simulated day, fetching over HTTP from the loopback fake hiscores, and the installed
`poll --due` every five simulated minutes. Each stays within the request budget, nobody goes
unpolled past max_interval, and the players who play are polled most."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

from poller.cli.context import http_config
from poller.hiscores import HiscoresClient
from poller.http import HttpClient
from poller.ratelimit import RateLimiter
from poller.store import PollRecord

from run_fakes import Clock, Sender, jobs
from support import fake_hiscores, load_e2e, xp

world_module = load_e2e("world")
BASE_CONFIG, world_at = world_module.BASE_CONFIG, world_module.world_at
FakeHiscores, FakeServer = fake_hiscores.FakeHiscores, fake_hiscores.FakeServer
hiscores_body = fake_hiscores.hiscores_body

DAY0 = datetime(2026, 12, 1, 0, 2, tzinfo=timezone.utc)
M, H = timedelta(minutes=1), timedelta(hours=1)
ACTIVE = ("Ann", "Bea")  # play every evening, 19:00–21:00 UTC
IDLE = tuple(f"Idle {i}" for i in range(10))


def clan_toml(*, schedule: str = "adaptive") -> str:
    players = "".join(f'\n[[players]]\nname = "{n}"\nmode = "regular"\n' for n in ACTIVE + IDLE)
    return BASE_CONFIG.replace("retries = 0\n", f'retries = 0\nschedule = "{schedule}"\n') \
        + players


def serve(fake: FakeHiscores, at: datetime, played: dict[str, int]) -> None:
    """Everyone's stats at ``at``: an active player's Cooking grows in their evening."""
    for name in ACTIVE:
        if 19 <= at.hour < 21:
            played[name] = played.get(name, 0) + 1
        fake.set_player(name, hiscores_body({"Cooking": xp(60) + 1_000 * played.get(name, 0)}))
    for name in IDLE:
        fake.set_player(name, hiscores_body({"Cooking": xp(50)}))


def test_run_over_a_simulated_day_stays_within_the_budget(tmp_path: Path) -> None:
    clock = Clock(DAY0)
    fake = FakeHiscores()
    played: dict[str, int] = {}
    with FakeServer(fake) as server:
        (tmp_path / "osrs-notify.toml").write_text(clan_toml().replace(
            'sqlite:///state.db', f"sqlite:///{tmp_path}/state.db"))
        from poller.config import load_settings

        settings = load_settings(tmp_path / "osrs-notify.toml", environ={"CLAN_URL": ""})
        http = HttpClient(http_config(settings), limiter=RateLimiter(None))
        hiscores = HiscoresClient(http, server.url)
        j = jobs(settings, hiscores, Sender(), clock=clock)  # type: ignore[arg-type]
        try:
            # Two days: the first teaches the rule when Ann and Bea play.
            for tick in range(2 * 24 * 6):  # the hiscores job every ten minutes
                clock.at = DAY0 + tick * 10 * M
                serve(fake, clock.at, played)
                j.hiscores()
        finally:
            j.close()
    asked = Counter({name: len(fake.asked(name)) for name in ACTIVE + IDLE})
    players = len(ACTIVE) + len(IDLE)
    # The budget: what uniform hourly polling spends, a request a player an hour.
    assert sum(asked.values()) <= players * 48 + players  # (+ the first, never-polled round)
    # The players who play are polled more than the idle ones, who are polled at least daily.
    assert min(asked[n] for n in ACTIVE) > 2 * max(asked[n] for n in IDLE), asked
    assert min(asked[n] for n in IDLE) >= 2, asked


def test_cron_poll_due_every_five_minutes_stays_within_the_budget(tmp_path: Path) -> None:
    with world_at(tmp_path, clan_toml()) as world:
        played: dict[str, int] = {}
        runs = []
        for tick in range(13):  # an hour of a cron line every five minutes
            at = DAY0 + 19 * H + tick * 5 * M
            serve(world.hiscores, at, played)
            before = len(world.hiscores.requests)
            world.cli("poll", "--due", at=at, code=0)
            runs.append(len(world.hiscores.requests) - before)
    players = len(ACTIVE) + len(IDLE)
    assert runs[0] == players, runs  # the first run: everyone, never polled before
    # Then, within the budget: no more than a request a player in the hour.
    assert sum(runs[1:]) <= players, runs


def test_activity_is_the_changes_the_polls_saw_not_the_baseline(stores) -> None:  # type: ignore[no-untyped-def]
    from poller.snapshot import Snapshot

    store, _ = stores
    now = DAY0 + timedelta(days=30)
    store.sync_players([("Ann", "regular"), ("Old", "regular")], DAY0)
    ids = {p.name: p.id for p in store.active_players()}

    def snap(v: int) -> Snapshot:
        return Snapshot(skills={"Cooking": v}, activities={})

    # Old: a baseline long before the rule's history, nothing since. Ann: a baseline in it,
    # then two changes and an unchanged poll.
    store.record_poll([PollRecord(ids["Old"], DAY0, snap(1))])
    polls = [(now - timedelta(days=3), 10), (now - timedelta(days=2), 11),
             (now - timedelta(days=1), 12), (now - H, 12)]
    for at, v in polls:
        store.record_poll([PollRecord(ids["Ann"], at, snap(v))])
    seen = {a.id: a for a in store.activity(now)}
    ann, old = seen[ids["Ann"]], seen[ids["Old"]]
    assert ann.changes == (now - timedelta(days=2), now - timedelta(days=1))
    assert (ann.last_polled_at, ann.last_changed_at) == (now - H, now - timedelta(days=1))
    assert old.changes == () and old.last_polled_at == DAY0
