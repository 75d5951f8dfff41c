"""`run`'s schedule: poll windows aligned to the clock, lease lengths, claim sizes, job periods.

Pure functions of the settings and the time handed in: the jobs (:mod:`poller.jobs`) and the
scheduler (:mod:`poller.scheduler`) both read them, and tests need no clock at all.
"""

from __future__ import annotations

import math
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .settings import Settings

# Leases: long enough for a batch at the configured rate, short enough that a dead process's
# work is picked up soon (and within the window for short intervals).
DEFAULT_LEASE = timedelta(minutes=5)
MIN_LEASE = timedelta(seconds=30)
DELIVER_EVERY = timedelta(minutes=1)
MAX_CHECK = timedelta(minutes=1)
MIN_CHECK = timedelta(seconds=0.5)


def jitter_for(period: timedelta) -> float:
    """Seconds of random delay added to each run of a job repeating every ``period``:
    5% of it, at most 60 s."""
    return min(period.total_seconds() * 0.05, 60.0)


@dataclass(frozen=True, slots=True)
class Timing:
    """Every interval `run` uses (``make_timing`` derives them from the settings)."""

    window: timedelta  # poll.interval: each player once per window
    check: timedelta  # how often the hiscores job looks for due players
    prices: timedelta
    deliver: timedelta
    lease: timedelta
    first_delay: float = 1.0  # seconds from start to the first runs

    @property
    def check_jitter(self) -> float:
        # Half the check period: processes sharing a database do not wake in lockstep.
        return self.check.total_seconds() / 2

    @property
    def prices_jitter(self) -> float:
        return jitter_for(self.prices)

    @property
    def deliver_jitter(self) -> float:
        return jitter_for(self.deliver)


def make_timing(
    settings: Settings,
    *,
    interval: timedelta | None = None,
    lease: timedelta | None = None,
    deliver: timedelta | None = None,
    prices: timedelta | None = None,
) -> Timing:
    """The schedule for ``settings``; the keyword arguments override it (``run``'s hidden
    test options: a real config cannot set a poll interval under a minute)."""
    window = interval or settings.poll.interval
    check = min(MAX_CHECK, max(MIN_CHECK, window / 10))
    if lease is None:
        lease = min(DEFAULT_LEASE, max(MIN_LEASE, window / 2))
    return Timing(
        window=window,
        check=check,
        prices=prices or settings.prices.interval,
        deliver=deliver or DELIVER_EVERY,
        lease=lease,
    )


def claim_limit(settings: Settings, lease: timedelta) -> int:
    """Players per claim: a few per fetch slot, and no more than a third of the lease can
    fetch at the configured rate (so a lease does not run out under a slow batch)."""
    from .pipeline import BATCH_SIZE

    per_slot = max(8, settings.poll.concurrency * 4)
    rate = settings.poll.rate_limit
    by_rate = int(rate / 60 * lease.total_seconds() / 3) if rate else BATCH_SIZE
    return max(1, min(per_slot, by_rate, BATCH_SIZE))


def window_start(at: datetime, window: timedelta, offset: float) -> datetime:
    """Start of the window containing ``at``: windows are ``window`` long, aligned to the Unix
    epoch shifted by ``offset`` (a fraction of the window)."""
    length = window.total_seconds()
    shift = (offset % 1.0) * length
    k = math.floor((at.timestamp() - shift) / length)
    return datetime.fromtimestamp(k * length + shift, tz=timezone.utc)


def new_owner() -> str:
    """This process's name on the leases it takes: host, pid and a random tag (a pid can be
    reused after a crash)."""
    try:
        host = socket.gethostname() or "localhost"
    except OSError:
        host = "localhost"
    return f"{host}:{os.getpid()}:{secrets.token_hex(3)}"
