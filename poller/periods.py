"""Time periods for gains: calendar days, weeks and months in the clan's timezone, and the
``--since``/``--until`` forms the ``gains`` command takes.

Calendar boundaries are wall-clock midnights in the configured zone, turned into UTC instants
with :mod:`zoneinfo`: a day that contains a DST change is 23 or 25 hours long, never shifted by
an hour. Everything returned is an aware UTC datetime, the store's unit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Literal
from zoneinfo import ZoneInfo

CalendarKind = Literal["day", "week", "month"]
CALENDAR_KINDS: tuple[CalendarKind, ...] = ("day", "week", "month")
WEEKDAYS: tuple[str, ...] = (
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
)

_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_RELATIVE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$", re.IGNORECASE)


class PeriodError(ValueError):
    """A period the user wrote that means nothing (the message says what was expected)."""


@dataclass(frozen=True, slots=True)
class Period:
    """``[start, end]``, aware UTC; ``label`` says how it was asked for ("week of 2026-11-30")."""

    start: datetime
    end: datetime
    label: str = ""

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("period bounds must be aware datetimes")
        if self.end < self.start:
            raise PeriodError(f"the period ends ({self.end:%Y-%m-%d %H:%M}) before it starts "
                              f"({self.start:%Y-%m-%d %H:%M})")


def _midnight(day: date, zone: ZoneInfo, at: time = time(0)) -> datetime:
    """``at`` o'clock on ``day`` in ``zone``, in UTC (``fold=0``: the earlier of two; a time
    a DST gap skips is read with the offset before the gap, as :mod:`zoneinfo` does)."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(timezone.utc)


def _month_start(day: date, offset: int) -> date:
    months = day.year * 12 + (day.month - 1) + offset
    return date(months // 12, months % 12 + 1, 1)


def calendar_period(
    kind: CalendarKind, now: datetime, tz: str, *, week_start: int = 0, offset: int = 0,
    at: time = time(0), whole: bool = False,
) -> Period:
    """The day/week/month containing ``now`` in zone ``tz`` (``offset=-1``: the one before).

    ``week_start`` is the weekday a week begins on (0 = Monday … 6 = Sunday) and ``at`` the
    local time periods turn over at (a digest's "Sunday 20:00"). The current period ends at
    ``now`` unless ``whole`` (a competition's round: its planned end); an earlier or later one
    at the next period's first instant.
    """
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    today = local.date()
    if local.time().replace(tzinfo=None) < at:
        # Before today's turn-over: still in the period that began on an earlier day.
        today -= timedelta(days=1)
    if kind == "day":
        first = today + timedelta(days=offset)
        after = first + timedelta(days=1)
        label = f"{first:%Y-%m-%d}"
    elif kind == "week":
        back = (today.weekday() - week_start) % 7
        first = today - timedelta(days=back) + timedelta(weeks=offset)
        after = first + timedelta(weeks=1)
        label = f"week of {first:%Y-%m-%d}"
    elif kind == "month":
        first = _month_start(today, offset)
        after = _month_start(first, 1)
        label = f"{first:%Y-%m}"
    else:
        raise PeriodError(f"unknown period {kind!r}; use one of {', '.join(CALENDAR_KINDS)}")
    start = _midnight(first, zone, at)
    end = _midnight(after, zone, at)
    if not whole:
        end = min(now.astimezone(timezone.utc), end)
    return Period(start, end, label)


def parse_instant(text: str, now: datetime, tz: str) -> datetime:
    """``7d``/``12h``/``2w``/``30m`` before ``now``, a date (midnight in ``tz``), or an ISO
    date-time (in ``tz`` unless it names an offset) → aware UTC."""
    match = _RELATIVE.match(text)
    if match:
        seconds = int(match.group(1)) * _UNITS[match.group(2).lower()]
        return now.astimezone(timezone.utc) - timedelta(seconds=seconds)
    zone = ZoneInfo(tz)
    try:
        if len(text.strip()) == 10:
            return _midnight(date.fromisoformat(text.strip()), zone)
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise PeriodError(
            f"{text!r} is not a time: use 7d, 12h, 2w, a date like 2026-12-01 or "
            "a date-time like 2026-12-01T18:00"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(timezone.utc)


def parse_weekday(text: str) -> int:
    """``monday``/``mon`` … → 0 …; anything else is a :class:`PeriodError`."""
    key = text.strip().lower()
    for index, name in enumerate(WEEKDAYS):
        if len(key) >= 3 and name.startswith(key):
            return index
    raise PeriodError(f"{text!r} is not a weekday; use one of {', '.join(WEEKDAYS)}")
