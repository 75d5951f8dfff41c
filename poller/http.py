"""The one HTTP seam: session, User-Agent, timeouts, cache, rate limit and retry policy.

Everything that talks to the network goes through :class:`HttpClient`, so the politeness rules
(rate limit, User-Agent, backoff) cannot be forgotten by a caller, and tests swap the transport
(``responses``, or an injected session) in one place.

Here: the settings, the request policy (which statuses retry, back-off, Retry-After, typed
errors) and the counters. The session and its cache are :mod:`poller.http_session`'s, the
spacing of requests :mod:`poller.ratelimit`'s.

``requests`` and ``requests_cache`` are imported on first use, never at module import: together
they cost ~0.5 s, and a cron run with nothing due must start and exit in under 0.25 s.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .clock import utcnow
from .errors import HiscoresUnavailable, RateLimitError, ValidationError
from .http_session import Sessions
from .ratelimit import RateLimiter

if TYPE_CHECKING:
    from datetime import datetime

    import requests

    from .http_session import SharedCache
    from .ratelimit import Limiter

log = logging.getLogger("osrs_notify.http")

Params = Mapping[str, str] | str | None


@dataclass(frozen=True)
class HttpStats:
    """What a client did (for run metrics): cache hits, network requests and their latencies."""

    cache_hits: int = 0
    requests_made: int = 0
    latencies: tuple[float, ...] = ()  # seconds per network request that got a response

    def __add__(self, other: HttpStats) -> HttpStats:
        return HttpStats(
            self.cache_hits + other.cache_hits,
            self.requests_made + other.requests_made,
            self.latencies + other.latencies,
        )


# Latencies kept for percentiles: plenty for one pass; bounded for a long-running process.
_LATENCIES_KEPT = 50_000


@dataclass(frozen=True)
class HttpConfig:
    user_agent: str
    timeout: float = 10.0
    retries: int = 3  # extra attempts after the first, for transient failures only
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    rate_per_minute: int = 60
    cache_ttl: int = 300  # seconds; 0 disables the cache entirely
    cache_path: str | None = None  # sqlite file for requests-cache; None → in-memory
    api_key: str | None = None
    api_key_header: str = "X-Api-Key"

    def __post_init__(self) -> None:
        # The Wiki blocks default library agents and asks for a contact; an empty one is a bug.
        if not self.user_agent.strip() or self.user_agent.startswith("python-requests"):
            raise ValueError("user_agent must describe this program and a contact")
        if self.timeout <= 0:
            raise ValueError(f"timeout must be > 0, got {self.timeout}")
        for name in ("retries", "backoff_base", "backoff_max", "rate_per_minute", "cache_ttl"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.api_key and not self.api_key_header.strip():
            raise ValueError("api_key_header must be set when api_key is")

    def __repr__(self) -> str:
        # The dataclass repr would print the key; this object ends up in logs and tracebacks.
        key = "****" if self.api_key else None
        return (
            f"HttpConfig(user_agent={self.user_agent!r}, timeout={self.timeout}, "
            f"retries={self.retries}, rate_per_minute={self.rate_per_minute}, "
            f"cache_ttl={self.cache_ttl}, cache_path={self.cache_path!r}, api_key={key})"
        )


class HttpClient:
    """GET with User-Agent, rate limit, cache, retries and typed errors. Thread-safe.

    Statuses: 200 and 4xx (except 429) are returned for the caller to interpret (the hiscores
    decide what 404 means); 5xx, timeouts and connection failures are retried and then raise
    :class:`HiscoresUnavailable`; 429 is retried honouring Retry-After, then raises
    :class:`RateLimitError`.
    """

    def __init__(
        self,
        config: HttpConfig,
        *,
        session: Any = None,
        limiter: Limiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        shared_cache: SharedCache | None = None,
    ) -> None:
        self.config = config
        self._sleep = sleep
        self._rng = rng
        self.limiter: Limiter = limiter or RateLimiter(
            config.rate_per_minute, clock=clock, sleep=sleep
        )
        self._stats_lock = threading.Lock()
        self._cache_hits = 0
        self._requests_made = 0
        self._latencies: deque[float] = deque(maxlen=_LATENCIES_KEPT)
        headers = {"User-Agent": config.user_agent}
        if config.api_key:
            headers[config.api_key_header] = config.api_key
        self._sessions = Sessions(
            headers=headers,
            secret_header=config.api_key_header,
            cache_ttl=config.cache_ttl,
            cache_path=config.cache_path,
            injected=session,
            shared=shared_cache,
            before_send=self._before_send,
            after_send=self._latency,
        )

    # -- stats ---------------------------------------------------------------------------------

    @property
    def cache_hits(self) -> int:
        return self._cache_hits

    @property
    def requests_made(self) -> int:
        """Requests that went to the network (retries included, cache hits not)."""
        return self._requests_made

    def take_stats(self, *, reset: bool = False) -> HttpStats:
        """The counters and latencies so far; ``reset`` starts them again (per `run` tick)."""
        with self._stats_lock:
            stats = HttpStats(self._cache_hits, self._requests_made, tuple(self._latencies))
            if reset:
                self._cache_hits = self._requests_made = 0
                self._latencies.clear()
        return stats

    def _latency(self, seconds: float) -> None:
        with self._stats_lock:
            self._latencies.append(seconds)

    def _before_send(self) -> None:
        self.limiter.acquire()
        self._count(hit=False)

    def _count(self, *, hit: bool) -> None:
        with self._stats_lock:
            if hit:
                self._cache_hits += 1
            else:
                self._requests_made += 1

    # -- session (built and cached by Sessions) ------------------------------------------------

    def _get_session(self) -> Any:
        return self._sessions.current()

    def close(self) -> None:
        self._sessions.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests ------------------------------------------------------------------------------

    def get(
        self, url: str, *, params: Params = None, cache: bool = True,
        not_before: datetime | None = None,
    ) -> requests.Response:
        """GET ``url``; see the class docstring for which statuses raise.

        ``not_before``: a cached answer older than this is not good enough (a poll must never
        be answered by a response older than the snapshot it is compared with); the request
        goes to the network and its answer replaces the cached one.
        """
        import requests

        where = _describe(url)
        last = self.config.retries
        attempt = 0
        refresh = False
        while True:
            session = self._get_session()
            cached = self._sessions.cached
            kwargs: dict[str, Any] = {"params": params, "timeout": self.config.timeout}
            if cached and not cache:
                from requests_cache import DO_NOT_CACHE

                kwargs["expire_after"] = DO_NOT_CACHE
            elif cached and refresh:
                kwargs["force_refresh"] = True
            retry_after: float | None = None
            try:
                response = session.get(url, **kwargs)
            except requests.Timeout as exc:
                failure: Exception = HiscoresUnavailable(
                    f"{where}: timed out after {self.config.timeout:g}s"
                )
                cause: BaseException = exc
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                failure = HiscoresUnavailable(f"{where}: connection failed ({_short(exc)})")
                cause = exc
            except requests.RequestException as exc:
                # Bad URL, too many redirects...: a configuration problem, retrying won't help.
                raise ValidationError(f"{where}: request failed ({_short(exc)})") from exc
            except self._sessions.cache_errors as exc:
                self._sessions.drop_cache(session, exc)
                continue  # the same attempt again, without the cache
            else:
                if getattr(response, "from_cache", False):
                    created = getattr(response, "created_at", None)
                    if not_before is not None and not refresh and (
                        created is None or created < not_before
                    ):
                        refresh = True  # older than what the caller already knows
                        continue
                    self._count(hit=True)
                status = response.status_code
                if status == 429:
                    retry_after = _parse_retry_after(response.headers.get("Retry-After"))
                    failure = RateLimitError(f"{where}: HTTP 429 too many requests", retry_after)
                elif status >= 500:
                    failure = HiscoresUnavailable(f"{where}: HTTP {status}")
                else:
                    return response
                response.close()  # give the connection back to the pool before waiting
                cause = failure
            if attempt >= last:
                raise failure from (None if cause is failure else cause)
            delay = self._delay(attempt, retry_after)
            if delay is None:
                # Told to wait longer than we would ever back off: don't tie up a worker;
                # the caller reschedules using failure.retry_after.
                raise failure
            if retry_after is not None:
                self.limiter.defer(retry_after)  # every thread backs off, not just this one
            log.debug("%s; retry %d/%d in %.2fs", failure, attempt + 1, last, delay)
            self._sleep(delay)
            attempt += 1

    def _delay(self, attempt: int, retry_after: float | None) -> float | None:
        cfg = self.config
        if retry_after is not None:
            return retry_after if retry_after <= cfg.backoff_max else None
        # The one full-jitter back-off (the outbox's too), so that many workers failing together
        # do not come back together. Imported here: only a retry pays for it, and by then the
        # HTTP stack it shares (requests) is loaded anyway.
        from notifier.sender import backoff

        return backoff(
            attempt + 1, base=cfg.backoff_base, cap=cfg.backoff_max, rng=self._rng, floor=0.0
        )


def _describe(url: str) -> str:
    """scheme://host/path: no query (player names are the caller's to add), no credentials."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid URL>"
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _short(exc: BaseException) -> str:
    # urllib3 messages embed the full URL (with the query); keep only the exception type.
    return type(exc).__name__


def _parse_retry_after(value: str | None) -> float | None:
    """Retry-After is either delay-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        from datetime import timezone
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - utcnow()).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)
