"""Request spacing: the in-process rate limiter every :class:`~poller.http.HttpClient` uses
unless it is handed a shared one (:class:`poller.redis_layer.SharedLimiter`, across processes).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class Limiter(Protocol):
    """What :class:`~poller.http.HttpClient` needs from a rate limiter (a shared one may live in
    Redis)."""

    def acquire(self) -> float: ...

    def defer(self, seconds: float) -> None: ...


class RateLimiter:
    """Admits callers at least ``60 / rate_per_minute`` seconds apart, across threads.

    Spacing (rather than a token bucket) is deliberate: a bucket lets a burst through after an
    idle spell, and the spec promises that no one-second window ever exceeds the rate. The lock
    is held while a caller waits for its slot, so concurrent callers queue instead of bursting,
    and each slot is measured from the moment the previous caller was actually admitted (an
    oversleeping thread pushes the next slot back rather than squeezing two together).

    ``sleep`` must let ``clock`` advance (tests pass a coupled fake pair).
    """

    def __init__(
        self,
        rate_per_minute: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_minute is not None and rate_per_minute < 0:
            raise ValueError(f"rate_per_minute must be >= 0, got {rate_per_minute}")
        self.interval = 60.0 / rate_per_minute if rate_per_minute else 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next: float | None = None  # earliest admission time of the next caller

    @property
    def unlimited(self) -> bool:
        return self.interval <= 0.0

    def acquire(self) -> float:
        """Block until the caller's slot; return the clock reading at admission."""
        if self.unlimited and self._next is None:
            return self._clock()
        with self._lock:
            now = self._clock()
            if self._next is not None:
                # Loop: a sleep may return a hair early relative to a different clock.
                while now < self._next:
                    self._sleep(self._next - now)
                    now = self._clock()
            self._next = now + self.interval if not self.unlimited else None
            return now

    def defer(self, seconds: float) -> None:
        """Admit nobody for ``seconds`` (a server said 429 Retry-After: everyone backs off)."""
        if seconds <= 0:
            return
        with self._lock:
            until = self._clock() + seconds
            if self._next is None or until > self._next:
                self._next = until
