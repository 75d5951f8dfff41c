"""The activity-aware polling rule (poller.adaptive) as tables and small simulations with a
fake clock: a player who just changed, a long-idle one, the budget shared across many players,
the bounds, and the rate limit over a simulated day."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from poller.adaptive import HOURS, Activity, Policy, due, polling_rates
from poller.ratelimit import RateLimiter

NOW = datetime(2026, 12, 3, 20, 0, tzinfo=timezone.utc)  # 20:00 UTC
H, M, D = timedelta(hours=1), timedelta(minutes=1), timedelta(days=1)
POLICY = Policy(min_interval=5 * M, max_interval=D, uniform=H)


def evenings(pid: int, days: int = 14, hour: int = 20) -> Activity:
    """A player whose polls saw a change every evening at ``hour`` for ``days`` days."""
    changes = tuple(NOW.replace(hour=hour) - d * D for d in range(1, days + 1))
    return Activity(pid, NOW - 30 * M, changes[0], changes, NOW - 30 * D)


def idle(pid: int, polled: timedelta = 30 * M) -> Activity:
    return Activity(pid, NOW - polled, NOW - 40 * D, (), NOW - 60 * D)


def interval(rates: dict[int, list[float]], pid: int, hour: int) -> timedelta:
    return H / rates[pid][hour]


# With min_interval 30 minutes no share polls anyone more often, so a poll sooner than that
# can only be the follow-up after a change.
SLOW = Policy(min_interval=30 * M, max_interval=D, uniform=H, follow_up=15 * M)


@pytest.mark.parametrize(("activity", "expected"), [
    # Never polled: due at once.
    (Activity(1, None, None), True),
    # Polled 25 h ago, idle: past max_interval, due whatever the shares say.
    (idle(1, polled=25 * H), True),
    # Its last poll saw a change 20 minutes ago: looked at again (play comes in streaks).
    (Activity(1, NOW - 20 * M, NOW - 20 * M, (NOW - 20 * M,), NOW - 30 * D), True),
    # ...but not within the follow-up time.
    (Activity(1, NOW - 10 * M, NOW - 10 * M, (NOW - 10 * M,), NOW - 30 * D), False),
    # The same 20 minutes, but that poll saw nothing new: no follow-up.
    (Activity(1, NOW - 20 * M, NOW - 2 * D, (NOW - 2 * D,), NOW - 30 * D), False),
    # Idle for weeks, polled 30 minutes ago: not due (idle players are polled rarely).
    (idle(1), False),
])
def test_who_is_due(activity: Activity, expected: bool) -> None:
    # A clan of one player and 99 idle ones sharing the default budget.
    clan = [activity, *(idle(100 + i) for i in range(99))]
    rates = polling_rates(clan, SLOW, NOW)
    assert (activity.id in due(clan, rates, SLOW, NOW)) is expected


def test_most_overdue_first() -> None:
    clan = [idle(1, polled=26 * H), Activity(2, None, None), idle(3, polled=30 * H)]
    order = due(clan, polling_rates(clan, POLICY, NOW), POLICY, NOW)
    assert order == [2, 3, 1]


def test_active_hours_are_polled_often_and_idle_players_rarely() -> None:
    clan = [evenings(1), *(idle(100 + i) for i in range(9))]
    rates = polling_rates(clan, POLICY, NOW)
    assert interval(rates, 1, 20) <= 20 * M  # in the evening they play
    assert interval(rates, 1, 20) < interval(rates, 1, 8)  # more than at breakfast
    assert all(interval(rates, 100, h) > H for h in range(HOURS))  # idle: rarer than hourly


@pytest.mark.parametrize("players", [1, 10, 500])
def test_the_budget_is_shared_out_whole_and_the_bounds_hold(players: int) -> None:
    clan = [evenings(i, hour=(17 + i) % 24) if i % 3 else idle(i) for i in range(players)]
    rates = polling_rates(clan, POLICY, NOW)
    per_day = sum(sum(r) for r in rates.values())
    budget = POLICY.budget(players) * HOURS  # a request per player per hour, for a day
    assert per_day == pytest.approx(budget, rel=0.01)  # all of it, no more
    lo, hi = 1 / 24, 12  # polls per hour: once a day at least, every 5 minutes at most
    assert all(lo - 1e-9 <= r <= hi + 1e-9 for rs in rates.values() for r in rs)


def test_a_set_budget_is_requests_per_hour_over_a_day() -> None:
    clan = [evenings(i) for i in range(50)]
    policy = Policy(budget_per_hour=20, min_interval=5 * M, max_interval=D)
    per_day = sum(sum(r) for r in polling_rates(clan, policy, NOW).values())
    assert per_day == pytest.approx(20 * 24, rel=0.01)


def test_a_budget_below_the_floor_polls_everyone_once_a_day() -> None:
    clan = [evenings(i) for i in range(100)]
    rates = polling_rates(clan, Policy(budget_per_hour=1, max_interval=D), NOW)
    assert all(r == pytest.approx(1 / 24) for rs in rates.values() for r in rs)


def simulate(clan_size: int, hours: int, rate_per_minute: int) -> tuple[Counter[int], timedelta]:
    """Tick a fake minute clock through ``hours``: each tick's due players are fetched through
    the real rate limiter on a fake clock. Returns requests per second and the longest any
    player went unpolled."""
    clock = [NOW.timestamp()]
    limiter = RateLimiter(rate_per_minute, clock=lambda: clock[0],
                          sleep=lambda s: clock.__setitem__(0, clock[0] + s))
    polled = {i: NOW - (i % 60) * M for i in range(clan_size)}
    changed: dict[int, datetime | None] = {i: None for i in range(clan_size)}
    history: dict[int, list[datetime]] = {i: [] for i in range(clan_size)}
    per_second: Counter[int] = Counter()
    longest = timedelta(0)
    for minute in range(hours * 60):
        now = NOW + minute * M
        clock[0] = max(clock[0], now.timestamp())
        clan = [Activity(i, polled[i], changed[i], tuple(history[i]), NOW - 30 * D)
                for i in range(clan_size)]
        if minute % 60 == 0:
            rates = polling_rates(clan, POLICY, now)
        for pid in due(clan, rates, POLICY, now):
            admitted = limiter.acquire()
            per_second[int(admitted)] += 1
            at = datetime.fromtimestamp(admitted, timezone.utc)
            longest = max(longest, at - polled[pid])
            polled[pid] = at
            if pid % 5 == 0 and at.hour in (19, 20, 21):  # a fifth play in the evening
                changed[pid] = at
                history[pid].append(at)
    return per_second, longest


def test_a_simulated_day_keeps_the_rate_limit_and_max_interval() -> None:
    per_second, longest = simulate(clan_size=120, hours=26, rate_per_minute=60)
    assert max(per_second.values()) == 1  # 60 a minute: one a second, never two
    assert longest <= D + M  # nobody past max_interval (give or take the tick)


# Whoever asks does so at ticks (cron every 5 minutes, `run` every minute); the rule reads the
# tick from the polls (the time since anyone's last one) and rounds each interval to the
# nearest one. Player 1's share is every 20 minutes; player 2 was polled one tick ago.
@pytest.mark.parametrize(("tick", "waited", "expected"), [
    (M, 18 * M, False),  # every minute: not 2.5 minutes early (that overspent by a tenth)
    (M, 19 * M, False),
    (M, 20 * M, True),
    (5 * M, 17 * M, False),  # every 5 minutes: now at 17 or next at 22; 22 is nearer 20
    (5 * M, 18 * M, True),  # now at 18 or next at 23; 18 is nearer
])
def test_intervals_round_to_the_nearest_tick(tick: timedelta, waited: timedelta,
                                             expected: bool) -> None:
    clan = [Activity(1, NOW - waited, None, (), NOW - 30 * D),
            Activity(2, NOW - tick, None, (), NOW - 30 * D)]
    rates = {1: [3.0] * HOURS, 2: [1 / 24] * HOURS}
    assert (1 in due(clan, rates, POLICY, NOW)) is expected


@pytest.mark.parametrize(("waited", "expected"), [
    (D - 10 * M, False),
    (D - 5 * M, True),  # the next tick, 5 minutes on, would be past max_interval
])
def test_max_interval_is_kept_at_five_minute_ticks(waited: timedelta, expected: bool) -> None:
    clan = [Activity(1, NOW - waited, None, (), NOW - 30 * D),
            Activity(2, NOW - 5 * M, None, (), NOW - 30 * D)]
    rates = {1: [1 / 24] * HOURS, 2: [1 / 24] * HOURS}  # both at the floor: once a day
    assert (1 in due(clan, rates, POLICY, NOW)) is expected
