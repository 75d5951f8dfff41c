"""The ``requests`` session behind :class:`~poller.http.HttpClient`, and its response cache.

:class:`Sessions` builds the session on first use (``requests`` and ``requests_cache`` cost
~0.5 s to import, and a cron run with nothing due must exit in under 0.25 s), picks its cache
(the shared one — Redis — when configured and up, else a local SQLite file or memory), puts the
gate in front of every transport so that only requests that really leave the process wait for
the rate limiter and count, and swaps in an uncached session when the cache fails mid-run.
The client keeps the request policy (retries, back-off, typed errors); this is the plumbing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

# The HTTP module's logger: cache warnings are about the HTTP client, wherever this code lives.
log = logging.getLogger("osrs_notify.http")

# Connections kept alive per host. Higher than any sensible concurrency so that worker threads
# never see "connection pool is full" and reopen TLS for every request.
_POOL_SIZE = 32


class SharedCache(Protocol):
    """A requests-cache backend other processes share (Redis, see :mod:`poller.redis_layer`).

    When it fails mid-run the client tells it (``failed``, which logs once) and carries on with
    its local cache; ``usable`` is false while the shared one is known to be down.
    """

    errors: tuple[type[BaseException], ...]

    def backend(self) -> Any: ...

    def usable(self) -> bool: ...

    def failed(self, exc: BaseException) -> None: ...


class Sessions:
    """One client's session: built lazily, thread-safe, replaced when its cache breaks.

    ``headers`` go on every request (User-Agent, and the API key when there is one);
    ``secret_header`` is kept out of cache keys and stored requests. ``cache_ttl`` 0 means no
    cache; ``cache_path`` None an in-memory one. An ``injected`` session (tests) is used as is,
    gate and headers added. ``before_send`` runs before each request that goes to the network,
    ``after_send`` with the latency of each that got an answer.
    """

    def __init__(
        self,
        *,
        headers: Mapping[str, str],
        secret_header: str,
        cache_ttl: int,
        cache_path: str | None,
        injected: Any = None,
        shared: SharedCache | None = None,
        before_send: Callable[[], None],
        after_send: Callable[[float], None],
    ) -> None:
        self._headers = dict(headers)
        self._secret_header = secret_header
        self._cache_ttl = cache_ttl
        self._cache_path = cache_path
        self._injected = injected
        self._shared = shared
        self._before_send = before_send
        self._after_send = after_send
        self._session: Any = None
        self._shared_session: Any = None  # the session whose cache is the shared one
        self._lock = threading.Lock()
        # Read by the client after current(): whether responses may come from a cache, and
        # which exceptions mean the cache (not the network) failed.
        self.cached = False
        self.cache_errors: tuple[type[BaseException], ...] = ()

    def current(self) -> Any:
        session = self._session
        if session is not None:
            return session
        with self._lock:
            if self._session is None:
                self._session = self._build()
            return self._session

    def _build(self) -> Any:
        import requests

        session = self._injected
        if session is None:
            session = self._open_cached() if self._cache_ttl > 0 else None
            if session is None:
                session = requests.Session()
            adapter = requests.adapters.HTTPAdapter(pool_maxsize=_POOL_SIZE)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self.cached = getattr(session, "cache", None) is not None
        if self.cached:
            import sqlite3

            self.cache_errors = (sqlite3.Error,)
            if session is self._shared_session and self._shared is not None:
                self.cache_errors += self._shared.errors
        self._prepare(session)
        return session

    def _open_cached(self, *, local: bool = False) -> Any:
        import sqlite3

        requests_cache = _import_requests_cache(with_redis=self._shared is not None)
        options: dict[str, Any] = dict(
            expire_after=self._cache_ttl,
            allowable_codes=(200,),  # never cache an error, a 404 or a maintenance page
            allowable_methods=("GET",),
            # A 200 can still be Jagex's HTML maintenance page: caching it would prolong the
            # outage by a whole TTL after the hiscores come back.
            filter_fn=_cacheable,
            # Server Cache-Control headers are ignored: our TTL is the user's setting.
            cache_control=False,
            stale_if_error=False,  # an outage must surface, not replay old data
            # Keeps the key out of cache keys *and* out of the stored request headers.
            ignored_parameters=(*requests_cache.DEFAULT_IGNORED_PARAMS, self._secret_header),
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
            if self._cache_path is None:
                return requests_cache.CachedSession(backend="memory", **options)
            # The sqlite backend shares one connection across threads behind its own lock
            # (check_same_thread=False); WAL lets a cron run read while `run` writes.
            session = requests_cache.CachedSession(
                self._cache_path, backend="sqlite", wal=True, **options
            )
            # Expired responses are never served again but stay in the file: an hourly poll
            # of 10,000 players otherwise keeps ~80 MB of them. Dropping them once per client
            # (a process) keeps the cache as large as one poll at most.
            session.cache.delete(expired=True)
            return session
        except (OSError, sqlite3.Error) as exc:
            log.warning(
                "HTTP cache %s could not be opened (%s); continuing without a cache",
                self._cache_path,
                exc,
            )
            return None

    def _prepare(self, session: Any) -> None:
        for name, value in self._headers.items():
            session.headers[name] = value
        # Wrap every transport so that only requests that really leave the process (not cache
        # hits) wait for the rate limiter and count as requests made.
        gate = _gate_class()
        for prefix, adapter in list(session.adapters.items()):
            if not isinstance(adapter, gate):
                session.mount(prefix, gate(adapter, self._before_send, self._after_send))

    def drop_cache(self, broken: Any, exc: BaseException) -> Any:
        """The cache failed mid-run (disk full, file removed): carry on uncached."""
        import requests

        with self._lock:
            if self._session is broken:
                session = None
                if broken is self._shared_session and self._shared is not None:
                    # The shared cache (Redis) went away: the layer logs its one warning and
                    # this client carries on with the local cache.
                    self._shared_session = None
                    self._shared.failed(exc)
                    session = self._open_cached(local=True)
                else:
                    log.warning("HTTP cache failed (%s); continuing without a cache", exc)
                if session is None:
                    session = requests.Session()
                session.mount("https://", requests.adapters.HTTPAdapter(pool_maxsize=_POOL_SIZE))
                session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=_POOL_SIZE))
                self._prepare(session)
                self._session = session
                self.cached = getattr(session, "cache", None) is not None
                if self.cached:
                    import sqlite3

                    self.cache_errors = (sqlite3.Error,)
                else:
                    self.cache_errors = ()
                try:
                    broken.close()
                except Exception:  # noqa: BLE001 - already broken; closing is best effort
                    pass
            return self._session

    def close(self) -> None:
        with self._lock:
            session, self._session = self._session, None
        if session is not None:
            session.close()


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
