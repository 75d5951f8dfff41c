"""7. Freshness: activity-aware polling against uniform hourly polling, on the same simulated
clan and the same request budget, side by side in one run.

    python -m tests.bench.bench_freshness               # under a minute
    python -m tests.bench.bench_freshness --days 7 --players 200

The model (a simulation on a fake clock: no network, no store, no sleeping; the rule under test
is the real one, ``poller.adaptive``, fed only what a poller would have observed):

- **When the hiscores change.** Only when a player logs out, so once per play session, at its
  end. Sources: Angelic Tracker, an OSRS clan's hiscores tracker (https://angelictracker.com/about):
  the hiscores are "only updated once the player has logged out of the game"; the Wise Old Man
  RuneLite plugin updates a profile on logout for that reason
  (https://docs.wiseoldman.net/guides/how-to-start-tracking); the RuneScape Wiki's *HiScores*
  page says the same of the sister game (https://runescape.wiki/w/HiScores: updated "each time
  they log out"). The OSRS Wiki's own *Hiscores* page was not among the stored sources.
- **Who plays when** (assumed, in the proportions the issue gives; no published distribution
  of OSRS play times is used): 500 players, 14 days. 40% idle for the whole run. 40% play a
  few evenings a week: each day with probability 3/7, one session starting uniformly between
  18:00 and 22:00 in their own time zone. 20% play daily: one session a day starting within an
  hour of their own habitual hour (08:00-22:00). Sessions last 1-4 hours (uniform; the game
  logs a player out after 6 hours anyway). Time zones UTC-8 to UTC+2 (the Americas and
  Europe). Seed fixed: runs compare.
- **Uniform**: every player once an hour, each at their own second of the hour (spread
  evenly): 500 requests an hour.
- **Adaptive**: ``poller.adaptive`` with ``Policy(budget_per_hour=500, min_interval=5 min,
  max_interval=1 day)`` — the same budget — both ways it runs: asked every minute (``run``'s
  hiscores job) and every 5 minutes (a cron line of ``poll --due``). The shares
  (``polling_rates``) are recomputed every hour, ``due`` at every tick, on each player's
  :class:`~poller.adaptive.Activity` as the simulated poller saw it: the times its polls saw
  a change, its last poll, its last change. It learns as it goes: no history before day one.
- **The rate limit**: 60 requests a minute (the default), through the real
  ``poller.ratelimit.RateLimiter`` on the fake clock: a tick's polls queue one a second, so a
  poll's time is its tick plus its place in the queue. The run checks no one-second window
  holds two requests and no minute more than 60, for every strategy.
- **A change's time to message**: from the session's end to the first poll after it, plus 1 s
  for the message (the same for every strategy).
- **The p90 of the second half** (days 8-14) shows the rule once it has learnt: it starts with
  no history, so in the first days a player not yet seen playing is polled rarely.
- **Past max_interval**: players whose longest gap between polls (or from their last poll to
  the end of the run) exceeds max_interval, with no allowance for the tick.

It ends with three lines a script can read, for the worse of the two adaptive ways of running:
``median ratio`` (adaptive / uniform), ``requests ratio`` (adaptive / uniform) and
``past max_interval`` (adaptive players left unpolled longer than max_interval). Targets: at
most 0.25, at most 1.0, and 0.
"""

from __future__ import annotations

import argparse
import bisect
import random
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from poller.adaptive import Activity, Policy, due, polling_rates
from poller.ratelimit import RateLimiter

from .common import header, max_in_window, table, verdict

START = datetime(2026, 11, 30, tzinfo=timezone.utc)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
MESSAGE = timedelta(seconds=1)
RATE_PER_MINUTE = 60


def clan(players: int, days: int, rng: random.Random) -> list[list[datetime]]:
    """Each player's hiscores updates (session ends), sorted."""
    out: list[list[datetime]] = []
    for i in range(players):
        kind = i % 10  # 0-3 idle, 4-7 evenings, 8-9 daily
        offset = timedelta(hours=rng.randint(-8, 2))
        habit = rng.uniform(8, 22)
        ends = []
        for day in range(days):
            midnight = START + timedelta(days=day) - offset
            if kind <= 3:
                continue
            if kind <= 7:
                if rng.random() >= 3 / 7:
                    continue
                begin = midnight + timedelta(hours=rng.uniform(18, 22))
            else:
                begin = midnight + timedelta(hours=habit + rng.uniform(-1, 1))
            ends.append(begin + timedelta(hours=rng.uniform(1, 4)))
        out.append(sorted(e for e in ends if START <= e < START + timedelta(days=days)))
    return out


@dataclass
class Poller:
    """What one strategy's poller saw and did: its requests through the rate limiter, each
    update's wait for the poll that saw it, each player's longest gap between polls."""

    updates: list[list[datetime]]
    end: datetime
    requests: list[float] = field(default_factory=list)  # admission times, epoch seconds
    delays: list[float] = field(default_factory=list)  # seconds, update → message
    changed: list[datetime] = field(default_factory=list)  # each delay's update
    seen: list[int] = field(init=False)  # updates already seen, per player
    last: list[datetime | None] = field(init=False)
    longest: list[timedelta] = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.updates)
        self.seen, self.last, self.longest = [0] * n, [None] * n, [timedelta(0)] * n
        self.clock = START.timestamp()
        self.limiter = RateLimiter(RATE_PER_MINUTE, clock=lambda: self.clock,
                                   sleep=self._advance)

    def _advance(self, seconds: float) -> None:
        self.clock += seconds

    def poll(self, pid: int, asked: datetime) -> datetime | None:
        """Poll ``pid``, asked at ``asked`` (it waits for its slot): when, if it saw a change."""
        self.clock = max(self.clock, asked.timestamp())
        admitted = self.limiter.acquire()
        self.requests.append(admitted)
        at = datetime.fromtimestamp(admitted, timezone.utc)
        previous = self.last[pid]
        if previous is not None:
            self.longest[pid] = max(self.longest[pid], at - previous)
        self.last[pid] = at
        k = bisect.bisect_right(self.updates[pid], at)
        fresh = self.updates[pid][self.seen[pid]:k]
        self.seen[pid] = k
        self.delays += [(at - u + MESSAGE).total_seconds() for u in fresh]
        self.changed += fresh
        return at if fresh else None

    def later(self, than: datetime) -> list[float]:
        """The delays of the updates after ``than`` (the rule has learnt by then)."""
        return [d for d, u in zip(self.delays, self.changed, strict=True) if u >= than]

    def gaps(self) -> list[timedelta]:
        """Each player's longest time unpolled, the stretch up to the end of the run included."""
        pairs = zip(self.longest, self.last, strict=True)
        return [max(g, self.end - (last or START)) for g, last in pairs]


def uniform(updates: list[list[datetime]], days: int) -> Poller:
    p = Poller(updates, START + timedelta(days=days))
    n = len(updates)
    for hour in range(days * 24):
        base = START + hour * HOUR
        for i in range(n):
            p.poll(i, base + timedelta(seconds=3600 * i // n))
    return p


def adaptive(updates: list[list[datetime]], days: int, policy: Policy, every: int) -> Poller:
    """The rule asked every ``every`` minutes over ``days``."""
    p = Poller(updates, START + timedelta(days=days))
    n = len(updates)
    changes: list[list[datetime]] = [[] for _ in range(n)]
    players = [Activity(i, None, None, (), START) for i in range(n)]
    rates: dict[int, list[float]] = {}
    for minute in range(0, days * 24 * 60, every):
        now = START + minute * MINUTE
        if minute % 60 < every:  # the first tick of each hour
            rates = polling_rates(players, policy, now)
        for pid in due(players, rates, policy, now):
            changed = p.poll(pid, now)
            if changed is not None:
                changes[pid].append(changed)
            players[pid] = Activity(pid, p.last[pid], changed or players[pid].last_changed_at,
                                    tuple(changes[pid]), START)
    return p


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", type=int, default=500)
    parser.add_argument("--days", type=int, default=14)
    args = parser.parse_args(argv)
    header("freshness: activity-aware against uniform hourly polling (a simulation)")
    updates = clan(args.players, args.days, random.Random(20261203))
    print(f"clan: {args.players} players, {sum(map(len, updates))} hiscores updates in "
          f"{args.days} days", flush=True)
    policy = Policy(min_interval=5 * MINUTE, max_interval=timedelta(days=1),
                    budget_per_hour=args.players)  # what uniform hourly spends
    started = time.perf_counter()
    u = uniform(updates, args.days)
    ways = {"adaptive, `run` (every minute)": adaptive(updates, args.days, policy, 1),
            "adaptive, cron `poll --due` every 5 min": adaptive(updates, args.days, policy, 5)}
    took = time.perf_counter() - started
    rows, limits = [], []
    for name, p in (("uniform hourly", u), *ways.items()):
        busiest = (max_in_window(p.requests, 1.0), max_in_window(p.requests, 60.0))
        limits.append(busiest[0] <= 1 and busiest[1] <= RATE_PER_MINUTE)
        rows.append((name, f"{len(p.requests) / args.days:,.0f}",
                     minutes(statistics.median(p.delays)), minutes(pct(p.delays, 90)),
                     minutes(pct(p.later(START + timedelta(days=args.days // 2)), 90)),
                     f"{max(p.gaps()) / HOUR:.1f} h", f"{busiest[0]} / {busiest[1]}"))
    print(table("Freshness at the same budget", (
        "strategy", "requests/day", "change → message, median", "p90",
        "p90, second half", "longest unpolled",
        "most requests in 1 s / 60 s"), rows))
    base = statistics.median(u.delays)
    median_ratio = max(statistics.median(p.delays) / base for p in ways.values())
    requests_ratio = max(len(p.requests) / len(u.requests) for p in ways.values())
    past = max(sum(g > policy.max_interval for g in p.gaps()) for p in ways.values())
    print(f"\nsimulated in {took:.0f} s; the worse of the two adaptive ways against the "
          f"targets: median ≤ 0.25 of uniform's ({verdict(median_ratio <= 0.25)}), requests "
          f"≤ uniform's ({verdict(requests_ratio <= 1.0)}), nobody past max_interval "
          f"({verdict(not past)}); the rate limit, every strategy ({verdict(all(limits))})")
    print(f"median ratio: {median_ratio:.3f}")
    print(f"requests ratio: {requests_ratio:.3f}")
    print(f"past max_interval: {past}")


if __name__ == "__main__":
    main()
