"""The one HTTP seam: session, User-Agent, timeouts, cache, rate limit and retry policy.

Everything that talks to the network goes through :class:`HttpClient`, so the politeness rules
(rate limit, User-Agent, backoff) cannot be forgotten by a caller, and tests swap the transport
(``responses``, or an injected session) in one place.

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
from typing import TYPE_CHECKING, Any, Protocol

from .clock import utcnow
from .errors import HiscoresUnavailable, RateLimitError, ValidationError

if TYPE_CHECKING:
    from datetime import datetime

    import requests

log = logging.getLogger("osrs_notify.http")

Params = Mapping[str, str] | str | None


class Limiter(Protocol):
    """What :class:`HttpClient` needs from a rate limiter (a shared one may live in Redis)."""

    def acquire(self) -> float: ...

    def defer(self, seconds: float) -> None: ...


class SharedCache(Protocol):
    """A requests-cache backend other processes share (Redis, see :mod:`poller.redis_layer`).

    When it fails mid-run the client tells it (``failed``, which logs once) and carries on with
    its local cache; ``usable`` is false while the shared one is known to be down.
    """

    errors: tuple[type[BaseException], ...]

    def backend(self) -> Any: ...

    def usable(self) -> bool: ...

    def failed(self, exc: BaseException) -> None: ...


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


# Connections kept alive per host. Higher than any sensible concurrency so that worker threads
# never see "connection pool is full" and reopen TLS for every request.
_POOL_SIZE = 32


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
        self._injected = session
        self._session: Any = None
        self._cached = False
        self._cache_errors: tuple[type[BaseException], ...] = ()
        self._session_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._cache_hits = 0
        self._requests_made = 0
        self._latencies: deque[float] = deque(maxlen=_LATENCIES_KEPT)
        self._shared = shared_cache
        self._shared_session: Any = None  # the session whose cache is the shared one

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

    def _count(self, *, hit: bool) -> None:
        with self._stats_lock:
            if hit:
                self._cache_hits += 1
            else:
                self._requests_made += 1

    # -- session -------------------------------------------------------------------------------

    def _get_session(self) -> Any:
        session = self._session
        if session is not None:
            return session
        with self._session_lock:
            if self._session is None:
                self._session = self._build_session()
            return self._session

    def _build_session(self) -> Any:
        import requests

        session = self._injected
        if session is None:
            session = self._open_cached_session() if self.config.cache_ttl > 0 else None
            if session is None:
                session = requests.Session()
            adapter = requests.adapters.HTTPAdapter(pool_maxsize=_POOL_SIZE)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self._cached = getattr(session, "cache", None) is not None
        if self._cached:
            import sqlite3

            self._cache_errors = (sqlite3.Error,)
            if session is self._shared_session and self._shared is not None:
                self._cache_errors += self._shared.errors
        self._prepare(session)
        return session

    def _open_cached_session(self, *, local: bool = False) -> Any:
        import sqlite3

        requests_cache = _import_requests_cache(with_redis=self._shared is not None)
        cfg = self.config
        options: dict[str, Any] = dict(
            expire_after=cfg.cache_ttl,
            allowable_codes=(200,),  # never cache an error, a 404 or a maintenance page
            allowable_methods=("GET",),
            # A 200 can still be Jagex's HTML maintenance page: caching it would prolong the
            # outage by a whole TTL after the hiscores come back.
            filter_fn=_cacheable,
            # Server Cache-Control headers are ignored: our TTL is the user's setting.
            cache_control=False,
            stale_if_error=False,  # an outage must surface, not replay old data
            # Keeps the key out of cache keys *and* out of the stored request headers.
            ignored_parameters=(*requests_cache.DEFAULT_IGNORED_PARAMS, cfg.api_key_header),
        )
        shared = self._shared
        if shared is not None and not local and shared.usable():
            try:
                self._shared_session = requests_cache.CachedSession(
                    backend=shared.backend(), **options
                )
                return self._shared_session
            except shared.errors as exc:
                shared.failed(exc)
        try:
            if cfg.cache_path is None:
                return requests_cache.CachedSession(backend="memory", **options)
            # The sqlite backend shares one connection across threads behind its own lock
            # (check_same_thread=False); WAL lets a cron run read while `run` writes.
            session = requests_cache.CachedSession(
                cfg.cache_path, backend="sqlite", wal=True, **options
            )
            # Expired responses are never served again but stay in the file: an hourly poll
            # of 10,000 players otherwise keeps ~80 MB of them. Dropping them once per client
            # (a process) keeps the cache as large as one poll at most.
            session.cache.delete(expired=True)
            return session
        except (OSError, sqlite3.Error) as exc:
            log.warning(
                "HTTP cache %s could not be opened (%s); continuing without a cache",
                cfg.cache_path,
                exc,
            )
            return None

    def _prepare(self, session: Any) -> None:
        session.headers["User-Agent"] = self.config.user_agent
        if self.config.api_key:
            session.headers[self.config.api_key_header] = self.config.api_key
        # Wrap every transport so that only requests that really leave the process (not cache
        # hits) wait for the rate limiter and count as requests made.
        gate = _gate_class()
        for prefix, adapter in list(session.adapters.items()):
            if not isinstance(adapter, gate):
                session.mount(prefix, gate(adapter, self._before_send, self._latency))

    def _before_send(self) -> None:
        self.limiter.acquire()
        self._count(hit=False)

    def _drop_cache(self, broken: Any, exc: BaseException) -> Any:
        """The cache failed mid-run (disk full, file removed): carry on uncached."""
        import requests

        with self._session_lock:
            if self._session is broken:
                session = None
                if broken is self._shared_session and self._shared is not None:
                    # The shared cache (Redis) went away: the layer logs its one warning and
                    # this client carries on with the local cache.
                    self._shared_session = None
                    self._shared.failed(exc)
                    session = self._open_cached_session(local=True)
                else:
                    log.warning("HTTP cache failed (%s); continuing without a cache", exc)
                if session is None:
                    session = requests.Session()
                session.mount("https://", requests.adapters.HTTPAdapter(pool_maxsize=_POOL_SIZE))
                session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=_POOL_SIZE))
                self._prepare(session)
                self._session = session
                self._cached = getattr(session, "cache", None) is not None
                if self._cached:
                    import sqlite3

                    self._cache_errors = (sqlite3.Error,)
                else:
                    self._cache_errors = ()
                try:
                    broken.close()
                except Exception:  # noqa: BLE001 - already broken; closing is best effort
                    pass
            return self._session

    def close(self) -> None:
        with self._session_lock:
            session, self._session = self._session, None
        if session is not None:
            session.close()

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
            kwargs: dict[str, Any] = {"params": params, "timeout": self.config.timeout}
            if self._cached and not cache:
                from requests_cache import DO_NOT_CACHE

                kwargs["expire_after"] = DO_NOT_CACHE
            elif self._cached and refresh:
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
            except self._cache_errors as exc:
                self._drop_cache(session, exc)
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


def _import_requests_cache(*, with_redis: bool) -> Any:
    """``requests_cache``, without the Redis client when no shared cache is configured.

    requests-cache imports the client library of every backend that happens to be installed;
    redis alone costs ~50 ms, paid by every cron run. Marking the unused libraries as missing
    for the duration of the import leaves those backends as placeholders (the shared cache
    imports ``requests_cache.backends.redis`` directly), and ``import redis`` works afterwards.
    """
    from .imports import import_without

    return import_without("requests_cache", () if with_redis else ("redis", "pymongo", "boto3"))


_GATE: type | None = None


def _gate_class() -> type:
    """A transport adapter that runs a hook before delegating (built lazily: needs requests)."""
    global _GATE
    if _GATE is None:
        from requests.adapters import BaseAdapter

        class _Gate(BaseAdapter):
            def __init__(
                self,
                inner: Any,
                before_send: Callable[[], None],
                after_send: Callable[[float], None] | None = None,
            ) -> None:
                super().__init__()
                self.inner = inner
                self._before_send = before_send
                self._after_send = after_send

            def send(self, request: Any, **kwargs: Any) -> Any:
                self._before_send()
                start = time.perf_counter()
                response = self.inner.send(request, **kwargs)
                if self._after_send is not None:  # latency of answered requests only
                    self._after_send(time.perf_counter() - start)
                return response

            def close(self) -> None:
                self.inner.close()

        _GATE = _Gate
    return _GATE


def _cacheable(response: Any) -> bool:
    if "html" in response.headers.get("Content-Type", "").lower():
        return False
    return not response.content[:64].lstrip().startswith(b"<")


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
