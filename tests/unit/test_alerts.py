"""poller/alerts.py: the watch rules, table-driven. Each case is a sequence of observations
(price, average, minutes since start) and the outcome a trader expects after each one."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from poller.alerts import Alert, Rule, WatchState, deviation, evaluate, should_sample

T0 = datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)
M = 1_000_000
B = 1_000 * M

Step = tuple[int | None, int | None, int, str]  # price, average, minute, expected outcome


def play(rule: Rule, steps: list[Step]) -> list[tuple[str, Alert | None]]:
    state: WatchState | None = None
    seen = []
    for price, average, minute, _ in steps:
        verdict = evaluate(rule, state, price, average, T0 + timedelta(minutes=minute))
        state = verdict.state
        seen.append((verdict.outcome, verdict.alert))
    return seen


NO_COOLDOWN = timedelta(0)

CASES: dict[str, tuple[Rule, list[Step]]] = {
    "first observation is a silent baseline": (
        Rule(above=1_600 * M, cooldown=NO_COOLDOWN),
        [(1_500 * M, None, 0, "baseline")],
    ),
    "a baseline already above the line is not news": (
        Rule(above=1_600 * M, cooldown=NO_COOLDOWN),
        [(1_700 * M, None, 0, "baseline"), (1_750 * M, None, 5, "quiet"),
         (1_800 * M, None, 10, "quiet")],
    ),
    "...and arms once it has been back under": (
        Rule(above=1_600 * M, cooldown=NO_COOLDOWN),
        [(1_700 * M, None, 0, "baseline"), (1_550 * M, None, 5, "quiet"),
         (1_650 * M, None, 10, "alert")],
    ),
    "a spike over `above` alerts once": (
        Rule(above=1_600 * M, cooldown=NO_COOLDOWN),
        [(1_500 * M, None, 0, "baseline"), (1_650 * M, None, 5, "alert")],
    ),
    "hovering above the line does not repeat": (
        Rule(above=1_600 * M, cooldown=NO_COOLDOWN),
        [(1_500 * M, None, 0, "baseline"), (1_650 * M, None, 5, "alert"),
         (1_620 * M, None, 10, "quiet"), (1_601 * M, None, 15, "quiet"),
         (1_700 * M, None, 20, "quiet")],
    ),
    "exactly on the line is not above it, and re-arms": (
        Rule(above=1_600 * M, cooldown=NO_COOLDOWN),
        [(1_500 * M, None, 0, "baseline"), (1_600 * M, None, 5, "quiet"),
         (1_650 * M, None, 10, "alert"), (1_600 * M, None, 15, "quiet"),
         (1_650 * M, None, 20, "alert")],
    ),
    "crossing back re-arms; the next crossing alerts again": (
        Rule(above=1_600 * M, cooldown=NO_COOLDOWN),
        [(1_500 * M, None, 0, "baseline"), (1_650 * M, None, 5, "alert"),
         (1_590 * M, None, 10, "quiet"), (1_610 * M, None, 15, "alert")],
    ),
    "hovering around the line within the cooldown alerts once": (
        Rule(above=1_600 * M, cooldown=timedelta(hours=6)),
        [(1_500 * M, None, 0, "baseline"), (1_610 * M, None, 5, "alert"),
         (1_599 * M, None, 10, "quiet"), (1_601 * M, None, 15, "cooldown"),
         (1_598 * M, None, 20, "quiet"), (1_602 * M, None, 25, "cooldown")],
    ),
    "a crossing held back by the cooldown does not fire later": (
        Rule(above=1_600 * M, cooldown=timedelta(hours=1)),
        [(1_500 * M, None, 0, "baseline"), (1_610 * M, None, 0, "alert"),
         (1_590 * M, None, 10, "quiet"), (1_620 * M, None, 20, "cooldown"),
         (1_630 * M, None, 90, "quiet")],
    ),
    "after the cooldown a new crossing alerts": (
        Rule(above=1_600 * M, cooldown=timedelta(hours=1)),
        [(1_500 * M, None, 0, "baseline"), (1_610 * M, None, 0, "alert"),
         (1_590 * M, None, 30, "quiet"), (1_620 * M, None, 60, "alert")],
    ),
    "below: a crash under the line alerts once": (
        Rule(below=1_200 * M, cooldown=NO_COOLDOWN),
        [(1_300 * M, None, 0, "baseline"), (1_100 * M, None, 5, "alert"),
         (1_150 * M, None, 10, "quiet"), (1_199 * M, None, 15, "quiet"),
         (1_250 * M, None, 20, "quiet"), (1_150 * M, None, 25, "alert")],
    ),
    "above then below: two alerts when the cooldown allows": (
        Rule(above=1_600 * M, below=1_200 * M, cooldown=NO_COOLDOWN),
        [(1_500 * M, None, 0, "baseline"), (1_650 * M, None, 5, "alert"),
         (1_100 * M, None, 10, "alert")],
    ),
    "above then below inside the cooldown: the crash is held back": (
        Rule(above=1_600 * M, below=1_200 * M, cooldown=timedelta(hours=6)),
        [(1_500 * M, None, 0, "baseline"), (1_650 * M, None, 5, "alert"),
         (1_100 * M, None, 10, "cooldown")],
    ),
    "change_pct up against the average": (
        Rule(change_pct=5, cooldown=NO_COOLDOWN),
        [(100, 100, 0, "baseline"), (104, 100, 5, "quiet"), (105, 100, 10, "alert"),
         (110, 100, 15, "quiet"), (103, 100, 20, "quiet"), (106, 100, 25, "alert")],
    ),
    "change_pct down is armed separately from up": (
        Rule(change_pct=5, cooldown=NO_COOLDOWN),
        [(100, 100, 0, "baseline"), (106, 100, 5, "alert"), (94, 100, 10, "alert"),
         (93, 100, 15, "quiet")],
    ),
    "change_pct: no average, nothing decided about it": (
        Rule(change_pct=5, cooldown=NO_COOLDOWN),
        [(100, 100, 0, "baseline"), (120, None, 5, "quiet"), (120, 100, 10, "alert")],
    ),
    "change_pct already moved at the baseline is not news": (
        Rule(change_pct=5, cooldown=NO_COOLDOWN),
        [(120, 100, 0, "baseline"), (121, 100, 5, "quiet"), (101, 100, 10, "quiet"),
         (121, 100, 15, "alert")],
    ),
    "no price: nothing decided, state kept": (
        Rule(above=1_600 * M, cooldown=NO_COOLDOWN),
        [(None, None, 0, "no_price"), (1_500 * M, None, 5, "baseline"),
         (None, None, 10, "no_price"), (1_650 * M, None, 15, "alert")],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_rule_table(name: str) -> None:
    rule, steps = CASES[name]
    got = [outcome for outcome, _ in play(rule, steps)]
    assert got == [expected for *_, expected in steps]


def test_an_above_alert_says_what_moved() -> None:
    rule = Rule(above=1_600 * M, change_pct=5, cooldown=NO_COOLDOWN)
    (_, _), (outcome, alert) = play(
        rule, [(1_500 * M, 1_500 * M, 0, ""), (1_650 * M, 1_500 * M, 5, "")]
    )
    assert outcome == "alert"
    assert alert == Alert(
        rule="above", direction="up", old=1_500 * M, new=1_650 * M, threshold=1_600 * M,
        rules=("above", "change"), change_pct=10.0,
    )


def test_a_below_alert_names_the_line() -> None:
    rule = Rule(above=1_600 * M, below=1_200 * M, cooldown=NO_COOLDOWN)
    alerts = play(rule, [(1_300 * M, None, 0, ""), (1_150 * M, None, 5, "")])
    assert alerts[1][1] == Alert(rule="below", direction="down", old=1_300 * M, new=1_150 * M,
                                 threshold=1_200 * M, rules=("below",), change_pct=None)


def test_a_change_alert_compares_with_the_average() -> None:
    rule = Rule(change_pct=5, cooldown=NO_COOLDOWN)
    alerts = play(rule, [(1_000, 1_000, 0, ""), (900, 1_000, 5, "")])
    assert alerts[1][1] == Alert(rule="change", direction="down", old=1_000, new=900,
                                 threshold=950, rules=("change",), change_pct=-10.0)


def test_cooldown_counts_from_the_last_alert_sent() -> None:
    rule = Rule(above=100, below=50, cooldown=timedelta(minutes=30))
    state = evaluate(rule, None, 80, None, T0).state
    first = evaluate(rule, state, 120, None, T0 + timedelta(minutes=1))
    assert first.outcome == "alert" and first.state.last_alert_at == T0 + timedelta(minutes=1)
    held = evaluate(rule, first.state, 40, None, T0 + timedelta(minutes=20))
    assert held.outcome == "cooldown" and held.sent is None and held.alert is not None
    assert held.state.last_alert_at == first.state.last_alert_at


@pytest.mark.parametrize(
    ("price", "average", "expected"),
    [(105, 100, 5.0), (95, 100, -5.0), (100, None, None), (100, 0, None), (0, 100, -100.0)],
)
def test_deviation(price: int, average: int | None, expected: float | None) -> None:
    assert deviation(price, average) == expected


def test_state_round_trips_through_json() -> None:
    state = WatchState(price=1_234 * M, above_armed=False, last_alert_at=T0, observed_at=T0)
    assert WatchState.from_json(state.to_json()) == state
    assert WatchState.from_json(WatchState().to_json()) == WatchState()


@pytest.mark.parametrize("text", [None, "", "not json", "[]", '{"price": "12"}', '{"bad": 1}'])
def test_unreadable_state_is_a_fresh_baseline(text: str | None) -> None:
    state = WatchState.from_json(text)
    assert state is None or state == WatchState()


S = timedelta(minutes=5)
SAMPLE_CASES = [
    # last sample (minutes ago, high, low) or None, new high, new low, force, expected
    (None, 100, 90, False, True),
    (None, None, None, False, False),
    ((10, 100, 90), 100, 90, False, False),  # unchanged: never
    ((10, 100, 90), 100, 90, True, False),  # unchanged even with an alert
    ((10, 100, 90), 101, 90, False, True),  # changed, interval passed
    ((2, 100, 90), 101, 90, False, False),  # changed, too soon
    ((2, 100, 90), 101, 90, True, True),  # too soon, but an alert fired on it
    ((10, 100, 90), None, None, False, False),  # no price: nothing to keep
    ((10, 100, None), 100, 90, False, True),  # a side appears
]


@pytest.mark.parametrize(("last", "high", "low", "force", "expected"), SAMPLE_CASES)
def test_samples_are_kept_compactly(
    last: tuple[int, int | None, int | None] | None,
    high: int | None, low: int | None, force: bool, expected: bool,
) -> None:
    previous = None if last is None else (T0 - timedelta(minutes=last[0]), last[1], last[2])
    assert should_sample(previous, high, low, T0, S, force=force) is expected
