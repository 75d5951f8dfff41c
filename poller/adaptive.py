"""Activity-aware polling, the pure rule: who to poll now, so the same requests bring fresher
news. Used by `run`'s hiscores job and by a cron `poll --due`; the simulation benchmark
(`tests/bench/bench_freshness.py`) measures it against uniform polling.

What the snapshots tell (the store keeps a row only when something changed, so the rows'
times *are* the changes the polls saw): for each player, how often they change and at which
hours of the day (UTC). From that, each (player, hour of day) cell gets a change rate λ, and
the request budget is shared out as polling rates ``r ∝ √λ`` — the allocation that minimises
the expected time from a change to the poll that sees it (Σ λ/2r under Σ r = budget; see
Cho & Garcia-Molina, "Effective page refresh policies for web crawlers", ACM TODS 2003) — each
clamped to ``[1/max_interval, 1/min_interval]``. The budget is a day's worth of requests
(``budget_per_hour × 24``), so a clan that plays in the evening is polled most in the evening.

On top of the shares:

* nobody waits longer than ``max_interval``: a player is due at the last tick before it
  (the most overdue are polled first);
* a player whose last poll saw a change is looked at again after ``follow_up`` (play comes in
  streaks; one extra request per change, not a new share);
* a player never polled is polled at once; one not in the shares yet (added since they were
  computed) at the uniform interval; one without history shares by the prior, which is weak
  (a clan's first days are its slowest, see the benchmark's p90).

Ticks. Whoever asks does so at ticks: `run` every minute, a cron `poll --due` every few. A
share's interval is rounded to the nearest tick, not up (which would spend less than the
budget and wait longer). The rule is not told the tick: it reads it from the polls, as the
time since the latest one, in whole minutes, at most ``min_interval``. (Rounding by a fixed
half of ``min_interval`` — the tick of a 5-minute cron line — spent 11% over the budget when
`run` asked every minute: 1.11 of uniform's requests in the benchmark, now 0.98.)
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

HISTORY = timedelta(days=14)  # how far back the change history is read
HOURS = 24
_MINUTE = timedelta(minutes=1)
# Each cell's rate is a blend: its own hour (±1, smoothed), the player's whole day, a prior.
_PRIOR_CHANGES = 0.5  # per HISTORY: a player with no history is not "never changes" at once
# How much of a cell's rate is its own hours' (the rest: the player's whole day). Tuned on the
# simulated clan of tests/bench/bench_freshness.py: 0.8 left a median of 0.34 of uniform's,
# 0.95 brings it to about 0.22 (hours when a player never plays still get a little).
_OWN = 0.95


@dataclass(frozen=True, slots=True)
class Policy:
    min_interval: timedelta = timedelta(minutes=5)
    max_interval: timedelta = timedelta(days=1)
    budget_per_hour: float = 0.0  # requests; 0: what uniform polling at ``uniform`` spends
    uniform: timedelta = timedelta(hours=1)
    follow_up: timedelta = timedelta(minutes=15)

    def budget(self, players: int) -> float:
        """Requests per hour to share out."""
        if self.budget_per_hour > 0:
            return self.budget_per_hour
        return players * timedelta(hours=1) / self.uniform


@dataclass(frozen=True, slots=True)
class Activity:
    """One player as the rule sees them. ``changes``: when polls saw a change, within
    :data:`HISTORY` (newest last is not required)."""

    id: int
    last_polled_at: datetime | None
    last_changed_at: datetime | None
    changes: Sequence[datetime] = ()
    since: datetime | None = None  # first poll: less history than HISTORY to learn from


def change_rates(a: Activity, now: datetime) -> list[float]:
    """λ per hour of day (UTC), in changes per hour, from ``a``'s history."""
    observed = HISTORY
    if a.since is not None:
        observed = min(HISTORY, max(now - a.since, timedelta(days=1)))
    days = observed / timedelta(days=1)
    counts = [0.0] * HOURS
    for at in a.changes:
        if now - at <= HISTORY:
            counts[at.hour] += 1
    total = sum(counts)
    rates = []
    for h in range(HOURS):
        near = counts[h] + 0.5 * (counts[h - 1] + counts[(h + 1) % HOURS])
        own = near / 2.0 / days  # changes in this hour of a day (the ±1 smoothing spans 2 h)
        spread = (total + _PRIOR_CHANGES) / HOURS / days
        rates.append(_OWN * own + (1 - _OWN) * spread)
    return rates


def polling_rates(
    activities: Sequence[Activity], policy: Policy, now: datetime
) -> dict[int, list[float]]:
    """Polls per hour for each player and hour of day: ``c·√λ`` clamped to the policy's
    bounds, with ``c`` such that a day of them spends the day's budget."""
    if not activities:
        return {}
    lo = 1.0 / (policy.max_interval / timedelta(hours=1))
    hi = 1.0 / (policy.min_interval / timedelta(hours=1))
    roots = {a.id: [r ** 0.5 for r in change_rates(a, now)] for a in activities}
    target = policy.budget(len(activities)) * HOURS
    # Σ clamp(c·x) over every cell, in O(log n) per c: the cells sorted, with prefix sums
    # (a cron `poll --due` computes this each run, for thousands of cells).
    xs = sorted(x for values in roots.values() for x in values)
    prefix = [0.0]
    for x in xs:
        prefix.append(prefix[-1] + x)
    n = len(xs)

    def spent(c: float) -> float:
        if c <= 0:
            return n * lo
        k1 = bisect.bisect_right(xs, lo / c)  # these sit at the floor
        k2 = bisect.bisect_left(xs, hi / c, k1)  # from here on, at the ceiling
        return k1 * lo + c * (prefix[k2] - prefix[k1]) + (n - k2) * hi

    if spent(0.0) >= target:  # even the floor is over budget: everyone at max_interval
        return {i: [lo] * HOURS for i in roots}
    low, high = 0.0, 1.0
    while spent(high) < target and high < 1e9:
        high *= 2
    for _ in range(50):
        mid = (low + high) / 2
        low, high = (mid, high) if spent(mid) < target else (low, mid)
    return {i: [min(hi, max(lo, high * x)) for x in values] for i, values in roots.items()}


def due(
    activities: Iterable[Activity], rates: Mapping[int, Sequence[float]], policy: Policy,
    now: datetime,
) -> list[int]:
    """Ids of the players to poll now, most overdue first: never polled; due to pass
    ``max_interval`` before the next tick; a follow-up after a change; or past their interval
    for this hour."""
    players = list(activities)
    # Whoever asks (cron every 5 minutes, `run` every minute) asks at ticks. The rule is not
    # told the tick: the time since anyone's last poll is it (a clan's budget polls someone
    # nearly every tick), at most min_interval so a lull never makes anyone early.
    tick = _asked_every(players, policy, now)
    scored: list[tuple[float, int]] = []
    hour = now.hour
    for a in players:
        if a.last_polled_at is None:
            scored.append((float("inf"), a.id))
            continue
        waited = now - a.last_polled_at
        # The next tick would be too late (with a minute for the rate limiter's queue); never
        # sooner than min_interval, less a tenth for a cron line's jitter, even so.
        soon = policy.min_interval * 0.9
        if waited >= max(policy.max_interval - tick - _MINUTE, soon):
            scored.append((1e6 + waited.total_seconds(), a.id))
            continue
        fresh_change = a.last_changed_at is not None and a.last_changed_at >= a.last_polled_at
        if fresh_change and waited >= policy.follow_up:
            scored.append((waited / policy.follow_up, a.id))
            continue
        per_hour = rates.get(a.id)
        interval = timedelta(hours=1) / per_hour[hour] if per_hour else policy.uniform
        # Rounding each interval to the nearest tick rather than up spends the budget as
        # shared out (rounding by a fixed 2.5 minutes spent 11% over it when asked every
        # minute).
        if waited >= max(interval - tick / 2, soon):
            scored.append((waited / interval, a.id))
    scored.sort(key=lambda s: -s[0])
    return [i for _, i in scored]


def _asked_every(players: Sequence[Activity], policy: Policy, now: datetime) -> timedelta:
    """How often the rule is asked, as the polls tell it: the time since the latest one, in
    whole minutes (a tick's polls spread over its first minute or so behind the rate limit)."""
    latest = max((a.last_polled_at for a in players
                  if a.last_polled_at is not None and a.last_polled_at <= now), default=None)
    if latest is None:
        return policy.min_interval
    return min(policy.min_interval, _MINUTE * math.ceil((now - latest) / _MINUTE))
