"""Watch rules: when a price move is worth a message. Pure functions of (rule, state, price, time).

Nothing here reads a clock, the network or the database; every rule is table-tested
(tests/unit/test_alerts.py).

A watch's rules, as a trader expects them:

- ``above`` — the price went from at or below the line to above it; ``below`` — from at or above
  to under it. A price that stays across the line, or hovers around it, alerts once: the rule
  re-arms only once the price has been back on the other side of the line.
- ``change_pct`` — the price is at least that many percent above (or below) the window average
  (the Wiki's last ``1h`` or ``5m`` average). Armed per direction, re-armed once the move is back
  within the band.
- ``cooldown`` — at most one alert per watch in that time. A crossing during the cooldown is
  used up silently (it does not fire later, when the moment has passed).
- The first observation is a silent baseline: a price already past a line is not news.
- Several rules firing at once are one alert (the first of above, below, change), naming all.
- No price (no trade on either side) or no average: nothing is decided, the state is kept.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

RuleName = Literal["above", "below", "change"]
Outcome = Literal["baseline", "alert", "cooldown", "quiet", "no_price"]


@dataclass(frozen=True, slots=True)
class Rule:
    above: int | None = None
    below: int | None = None
    change_pct: float | None = None
    cooldown: timedelta = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class WatchState:
    """What a watch remembers between runs (stored as JSON in ``watch_state``)."""

    price: int | None = None  # last observed price; None = no baseline yet
    above_armed: bool = True
    below_armed: bool = True
    up_armed: bool = True
    down_armed: bool = True
    last_alert_at: datetime | None = None
    observed_at: datetime | None = None

    def to_json(self) -> str:
        data = asdict(self)
        for key in ("last_alert_at", "observed_at"):
            data[key] = data[key].isoformat() if data[key] is not None else None
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> WatchState | None:
        """None for no state or an unreadable one (then the next run is a fresh baseline)."""
        if not text:
            return None
        try:
            data = json.loads(text)
            fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
            for key in ("last_alert_at", "observed_at"):
                if fields.get(key) is not None:
                    fields[key] = datetime.fromisoformat(fields[key])
            state = cls(**fields)
        except (ValueError, TypeError, KeyError, AttributeError):
            return None
        if state.price is not None and type(state.price) is not int:
            return None
        return state


@dataclass(frozen=True, slots=True)
class Alert:
    """One message's worth: ``rule`` is the headline, ``rules`` every rule that fired.

    above/below: ``old`` is the previous observed price, ``threshold`` the line crossed.
    change: ``old`` is the window average, ``threshold`` the price at which the band starts.
    """

    rule: RuleName
    direction: Literal["up", "down"]
    old: int | None
    new: int
    threshold: int | None
    rules: tuple[RuleName, ...]
    change_pct: float | None = None  # the move against the average, when known


@dataclass(frozen=True, slots=True)
class Verdict:
    state: WatchState
    outcome: Outcome
    alert: Alert | None = None  # set for "alert" and "cooldown" (the one that was held back)

    @property
    def sent(self) -> Alert | None:
        return self.alert if self.outcome == "alert" else None


def deviation(price: int, average: int | None) -> float | None:
    """Percent ``price`` is above (+) or below (−) ``average``; None without a usable one."""
    if average is None or average <= 0:
        return None
    return (price - average) / average * 100


def evaluate(
    rule: Rule,
    state: WatchState | None,
    price: int | None,
    average: int | None,
    now: datetime,
) -> Verdict:
    """Decide one watch for one observation. ``average`` matters only with ``change_pct``."""
    if price is None:
        return Verdict(state or WatchState(), "no_price")
    dev = deviation(price, average) if rule.change_pct is not None else None
    above_hit = rule.above is not None and price > rule.above
    below_hit = rule.below is not None and price < rule.below
    up_hit = dev is not None and rule.change_pct is not None and dev >= rule.change_pct
    down_hit = dev is not None and rule.change_pct is not None and dev <= -rule.change_pct

    if state is None or state.price is None:
        # Baseline: whatever is already true now is not news; arm only what is not.
        fresh = WatchState(
            price=price,
            above_armed=not above_hit,
            below_armed=not below_hit,
            up_armed=not up_hit,
            down_armed=not down_hit,
            last_alert_at=state.last_alert_at if state else None,
            observed_at=now,
        )
        return Verdict(fresh, "baseline")

    fired: list[tuple[RuleName, Literal["up", "down"]]] = []

    def step(armed: bool, hit: bool, known: bool, name: RuleName,
             direction: Literal["up", "down"]) -> bool:
        if not known:
            return armed  # unknown is not "back across the line"
        if hit and armed:
            fired.append((name, direction))
            return False
        return armed or not hit

    above_armed = step(state.above_armed, above_hit, rule.above is not None, "above", "up")
    below_armed = step(state.below_armed, below_hit, rule.below is not None, "below", "down")
    up_armed = step(state.up_armed, up_hit, dev is not None, "change", "up")
    down_armed = step(state.down_armed, down_hit, dev is not None, "change", "down")
    next_state = replace(
        state, price=price, above_armed=above_armed, below_armed=below_armed,
        up_armed=up_armed, down_armed=down_armed, observed_at=now,
    )
    if not fired:
        return Verdict(next_state, "quiet")

    name, direction = fired[0]
    if name == "change":
        assert average is not None and rule.change_pct is not None
        sign = 1 if direction == "up" else -1
        alert = Alert(
            rule="change", direction=direction, old=average, new=price,
            threshold=round(average * (1 + sign * rule.change_pct / 100)),
            rules=tuple(dict.fromkeys(n for n, _ in fired)), change_pct=_round(dev),
        )
    else:
        alert = Alert(
            rule=name, direction=direction, old=state.price, new=price,
            threshold=rule.above if name == "above" else rule.below,
            rules=tuple(dict.fromkeys(n for n, _ in fired)), change_pct=_round(dev),
        )
    last = state.last_alert_at
    if last is not None and now - last < rule.cooldown:
        return Verdict(next_state, "cooldown", alert)
    return Verdict(replace(next_state, last_alert_at=now), "alert", alert)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def should_sample(
    last: tuple[datetime, int | None, int | None] | None,
    high: int | None,
    low: int | None,
    now: datetime,
    interval: timedelta,
    *,
    force: bool = False,
) -> bool:
    """Whether to keep a price sample: history, compactly. Only a price that differs from the
    last sample kept, and at most one per ``interval`` — unless ``force`` (an alert fired: the
    history must show the price it fired on). Nothing is kept without a price."""
    if high is None and low is None:
        return False
    if last is None:
        return True
    at, last_high, last_low = last
    if (high, low) == (last_high, last_low):
        return False
    return force or now - at >= interval
