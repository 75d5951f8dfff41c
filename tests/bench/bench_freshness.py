"""7. Freshness: activity-aware polling against uniform hourly polling, on the same simulated
clan and the same request budget, side by side in one run.

    python -m tests.bench.bench_freshness               # about a minute
    python -m tests.bench.bench_freshness --days 7 --players 200

The model (a simulation: no network, no store; the rule under test is the real one,
``poller.adaptive``, fed what a poller would have observed):

- **When the hiscores change.** Only at the end of a play session: "RuneScape hiscores only
  gets updated once the player has logged out of the game" (Angelic Tracker, *About*,
  https://angelictracker.com/about; the RuneScape Wiki's *HiScores* page says the same of the
  sister game: updated "each time they log out"). So each session is one change, at its end.
- **Who plays when** (assumed, in the proportions the issue gives; no published distribution
  of OSRS play times is used): 500 players, 14 days. 40% idle for the whole run. 40% play a
  few evenings a week: each day with probability 3/7, one session starting uniformly between
  18:00 and 22:00 in their own time zone. 20% play daily: one session a day starting within an
  hour of their own habitual hour. Sessions last 1–4 hours (uniform). Time zones are UTC-8 to
  UTC+2 (the Americas and Europe, where most OSRS worlds are). Seed fixed: runs compare.
- **Uniform**: every player once an hour, each at their own minute (spread evenly): 500
  requests an hour.
- **Adaptive**: ``poller.adaptive`` with ``Policy(budget_per_hour=500, min_interval=5 min,
  max_interval=1 day)``, asked every 5 minutes (a cron line of ``poll --due``); its shares
  are recomputed every hour. It learns as it goes: no history before day one.
- **A change's time to message**: from the session's end to the first poll after it, plus 1 s
  for the message (the same for both). The rate limit, 60 requests a minute, spaces each
  tick's polls a second apart, so a poll's time is its tick plus its place in the queue; the
  benchmark checks no second carries two requests.

It ends with three lines a script can read: ``median ratio`` (adaptive / uniform),
``requests ratio`` (adaptive / uniform) and ``past max_interval`` (adaptive players left
unpolled longer than max_interval). Targets: ≤ 0.25, ≤ 1.0 and 0.
"""

from __future__ import annotations

import argparse
import bisect
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from poller.adaptive import Activity, Policy, due, polling_rates

from .common import header, table, verdict

START = datetime(2026, 11, 30, tzinfo=timezone.utc)
MINUTE = timedelta(minutes=1)
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
class Outcome:
    requests: int = 0
    delays: list[float] = field(default_factory=list)  # seconds, change → message
    longest: timedelta = timedelta(0)
    past_max: set[int] = field(default_factory=set)
    per_second: Counter[int] = field(default_factory=Counter)


def _poll(o: Outcome, updates: list[datetime], seen: list[int], last: list[datetime | None],
          pid: int, at: datetime) -> bool:
    """One poll of ``pid`` at ``at``: the updates since its last poll are messages now.
    Whether it saw a change."""
    o.requests += 1
    o.per_second[int(at.timestamp())] += 1
    if last[pid] is not None:
        o.longest = max(o.longest, at - last[pid])  # type: ignore[operator]
    last[pid] = at
    k = bisect.bisect_right(updates, at)
    fresh = updates[seen[pid]:k]
    seen[pid] = k
    o.delays += [(at - u + MESSAGE).total_seconds() for u in fresh]
    return bool(fresh)


def uniform(updates: list[list[datetime]], days: int) -> Outcome:
    o = Outcome()
    n = len(updates)
    seen, last = [0] * n, [None] * n
    polls = []
    for hour in range(days * 24):
        base = START + timedelta(hours=hour)
        polls += [(base + timedelta(seconds=3600 * i // n), i) for i in range(n)]
    for at, pid in sorted(polls):
        _poll(o, updates[pid], seen, last, pid, at)  # type: ignore[arg-type]
    return o


def adaptive(updates: list[list[datetime]], days: int, policy: Policy,
             tick: timedelta) -> Outcome:
    o = Outcome()
    n = len(updates)
    seen = [0] * n
    last: list[datetime | None] = [None] * n
    changed: list[datetime | None] = [None] * n
    changes: list[list[datetime]] = [[] for _ in range(n)]
    free_at = START  # the rate limiter: one request a second
    rates: dict[int, list[float]] = {}
    steps = int(timedelta(days=days) / tick)
    for step in range(steps):
        now = START + step * tick
        acts = [Activity(i, last[i], changed[i], changes[i], START) for i in range(n)]
        if step % int(timedelta(hours=1) / tick) == 0:
            rates = polling_rates(acts, policy, now)
        for pid in due(acts, rates, policy, now):
            at = max(now, free_at)
            free_at = at + timedelta(seconds=60 / RATE_PER_MINUTE)
            if _poll(o, updates[pid], seen, last, pid, at):
                changed[pid] = at
                changes[pid].append(at)
        for i in range(n):  # anyone left waiting past max_interval right now
            if last[i] is not None and now - last[i] > policy.max_interval + tick:
                o.past_max.add(i)
    return o


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if values else 0


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", type=int, default=500)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--tick-minutes", type=int, default=5)
    args = parser.parse_args(argv)
    header("freshness: activity-aware against uniform hourly polling (a simulation)")
    updates = clan(args.players, args.days, random.Random(20261203))
    print(f"clan: {args.players} players, {sum(map(len, updates))} hiscores updates in "
          f"{args.days} days", flush=True)
    policy = Policy(min_interval=5 * MINUTE, max_interval=timedelta(days=1),
                    budget_per_hour=args.players)  # what uniform hourly spends
    started = time.perf_counter()
    u = uniform(updates, args.days)
    a = adaptive(updates, args.days, policy, timedelta(minutes=args.tick_minutes))
    took = time.perf_counter() - started
    rows = []
    for name, o in (("uniform hourly", u), ("adaptive", a)):
        rows.append((name, f"{o.requests / args.days:,.0f}", minutes(statistics.median(o.delays)),
                     minutes(pct(o.delays, 90)), f"{o.longest / timedelta(hours=1):.1f} h",
                     max(o.per_second.values())))
    print(table("Freshness at the same budget", ("strategy", "requests/day", "median to message",
                                                  "p90 to message", "longest unpolled",
                                                  "most in one second"), rows))
    median_ratio = statistics.median(a.delays) / statistics.median(u.delays)
    requests_ratio = a.requests / u.requests
    print(f"\nsimulated in {took:.0f} s; targets: median ≤ 0.25 of uniform "
          f"({verdict(median_ratio <= 0.25)}), requests ≤ uniform "
          f"({verdict(requests_ratio <= 1.0)}), nobody past max_interval "
          f"({verdict(not a.past_max)}), rate limit ({verdict(max(a.per_second.values()) <= 1)})")
    print(f"median ratio: {median_ratio:.3f}")
    print(f"requests ratio: {requests_ratio:.3f}")
    print(f"past max_interval: {len(a.past_max)}")


if __name__ == "__main__":
    main()
