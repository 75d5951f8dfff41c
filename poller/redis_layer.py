"""Optional Redis (`redis` in the config or ``REDIS_URL``): what several processes share.

- **HTTP cache**: requests-cache's Redis backend under ``{prefix}:http-cache`` instead of the
  SQLite file beside the database, so one process's fetch serves the others for ``cache_ttl``.
- **Rate limit**: :class:`SharedLimiter` hands out hiscores request slots from one key, so all
  processes together stay under ``poll.rate_limit`` (slots ``60 / rate`` seconds apart, on the
  Redis server's clock).
- **Run lock**: :meth:`RedisLayer.lock`, ``SET NX PX`` with a random token, renewed while held and
  released by a compare-and-delete script; taken in addition to the store's own lock.
- **Events**: each stored event is published as JSON on ``{prefix}:<channel>`` (see
  :data:`CHANNELS`) after its transaction committed, and a summary of each run on
  ``{prefix}:updates``. The outbox stays the source of truth: publishing is best effort.

Redis going away is never fatal: the first failure logs ONE warning and everything falls back
to the local path (local cache, in-process rate limiter, the store lock alone, no publishing);
Redis is tried again after :data:`RETRY_AFTER` seconds and an info line says when it is back.

``redis`` is imported only when a Redis URL is configured: the cron path without Redis never
pays for it.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import one_line

if TYPE_CHECKING:
    from .http import HttpConfig
    from .pipeline import RunReport
    from .ratelimit import RateLimiter
    from .settings import Settings
    from .store import Store

log = logging.getLogger("osrs_notify.redis")

SCHEMA = 1  # the "schema" field of every published message
# Event kind → channel (under the prefix). The original design's channels are levelup,
# achievement, combat, trade and updates; the other kinds join the closest one.
CHANNELS: dict[str, str] = {
    "levelup": "levelup",
    "xp": "levelup",  # XP milestones are skill progress
    "combat": "combat",
    "achievement": "achievement",
    "boss": "achievement",  # kill-count, clue and activity milestones
    "clue": "achievement",
    "activity": "achievement",
    "price": "trade",
    "player": "updates",  # not found / back / renamed: news about the roster
}
SUMMARY_CHANNEL = "updates"
TIMEOUT = 2.0  # seconds to connect or to answer: a dead Redis must not stall a poll
RETRY_AFTER = 60.0  # seconds of local fallback before Redis is tried again
LOCK_TTL = 60.0  # seconds; renewed every third of it while held
PUBLISH_BATCH = 500

T = TypeVar("T")
_DOWN = object()

# Slots for the shared rate limit. KEYS[1] holds the server time (µs) of the next free slot.
# ARGV[1] = spacing (µs); ARGV[2] = defer (µs, > 0: push the next slot to now + defer instead).
# Returns {µs to wait, slot time µs}. Server time, so the machines' clocks do not matter.
_SLOT_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
local interval = tonumber(ARGV[1])
local defer = tonumber(ARGV[2])
if defer > 0 then
  local later = now + defer
  if later > nxt then
    redis.call('SET', KEYS[1], string.format('%.0f', later), 'PX', math.ceil(defer / 1000) + 1000)
  end
  return {0, now}
end
local slot = math.max(now, nxt)
local after = slot + interval
redis.call('SET', KEYS[1], string.format('%.0f', after), 'PX',
           math.ceil((after - now) / 1000) + 1000)
return {slot - now, slot}
"""
_RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_RENEW_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


def connect(settings: Settings) -> RedisLayer | None:
    """The layer for ``settings``, or None when no Redis is configured (nothing imported)."""
    if not settings.redis_url:
        return None
    return RedisLayer(settings.redis_url, settings.redis_prefix)


def channel_for(kind: str) -> str:
    return CHANNELS.get(kind, SUMMARY_CHANNEL)


def event_message(kind: str, payload: Mapping[str, object]) -> dict[str, object]:
    """What is published for one event: the outbox payload plus ``schema``/``type``/``kind``."""
    return {**payload, "schema": SCHEMA, "type": "event", "kind": kind}


class RedisLayer:
    """One Redis server, used through :meth:`call` so that any failure falls back quietly.

    It also serves as :class:`poller.http_session.SharedCache` for the HTTP client. Thread-safe.
    """

    def __init__(
        self,
        url: str,
        prefix: str = "osrs",
        *,
        timeout: float = TIMEOUT,
        retry_after: float = RETRY_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from .redact import mask_dsn

        self.url = url
        self.prefix = prefix
        self.display = mask_dsn(url)
        self.timeout = timeout
        self.retry_after = retry_after
        self._clock = clock
        self._client: Any = None
        self._errors: tuple[type[BaseException], ...] | None = None
        self._state = threading.Lock()
        self._down_since: float | None = None
        self._outages = 0  # since the last take_failures()
        self.warnings = 0  # warnings logged over the layer's life (tests read it)

    # -- plumbing ------------------------------------------------------------------------------

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def channel(self, kind: str) -> str:
        return self.key(channel_for(kind))

    def _new_client(self) -> Any:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        return redis.Redis.from_url(
            self.url,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            # One quick reconnect (a pooled connection a Redis restart closed), then give up:
            # the local path is better than a stalled poll.
            retry=Retry(NoBackoff(), 1),
            health_check_interval=30,
        )

    def client(self) -> Any:
        with self._state:
            if self._client is None:
                self._client = self._new_client()
            return self._client

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        """What a Redis failure looks like (for :class:`poller.http_session.SharedCache`)."""
        if self._errors is None:
            import redis

            self._errors = (redis.exceptions.RedisError, OSError)
        return self._errors

    def usable(self) -> bool:
        """False while Redis is known to be down (until it is time to try it again)."""
        with self._state:
            down = self._down_since
            return down is None or self._clock() - down >= self.retry_after

    def failed(self, exc: BaseException) -> None:
        """Redis failed: the first failure of an outage logs the one warning."""
        with self._state:
            first = self._down_since is None
            self._down_since = self._clock()
            if first:
                self._outages += 1
                self.warnings += 1
        if first:
            log.warning(
                "Redis %s unavailable (%s: %s); using the local HTTP cache, rate limit and "
                "lock, and not publishing events, for now. Nothing is lost: events stay in the "
                "outbox.", self.display, type(exc).__name__, one_line(exc, 200),
            )

    def _ok(self) -> None:
        if self._down_since is None:  # the common case, without the lock
            return
        with self._state:
            back = self._down_since is not None
            self._down_since = None
        if back:
            log.info("Redis %s is reachable again", self.display)

    def call(self, fn: Callable[[Any], T], default: Any = None, *, force: bool = False) -> T | Any:
        """``fn(client)``, or ``default`` when Redis is down or fails now. ``force`` tries even
        while Redis is known to be down (releasing a lock is worth a try)."""
        if not force and not self.usable():
            return default
        try:
            result = fn(self.client())
        except self.errors as exc:
            self.failed(exc)
            return default
        self._ok()
        return result

    def take_failures(self) -> int:
        """Outages since the last call (an error count for run metrics)."""
        with self._state:
            n, self._outages = self._outages, 0
        return n

    def ping(self) -> str | None:
        """A problem reaching Redis (for ``check``), or None."""
        try:
            self.client().ping()
        except self.errors as exc:
            return f"Redis {self.display}: {type(exc).__name__}: {one_line(exc, 200)}"
        return None

    def close(self) -> None:
        with self._state:
            client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except self.errors:
                pass

    # -- HTTP cache (poller.http_session.SharedCache) -------------------------------------------

    def backend(self) -> Any:
        """A requests-cache backend in Redis. JSON, not pickle: a shared server must not be
        able to make this process run code. Entries expire on their own shortly after their
        TTL. Its own connection: requests-cache closes it with the session."""
        # From its module: `requests_cache.RedisCache` is a placeholder in a process that
        # imported requests-cache without redis (see poller.http_session._import_requests_cache).
        from requests_cache.backends.redis import RedisCache

        return RedisCache(
            namespace=self.key("http-cache"),
            connection=self._new_client(),
            serializer="json",
            ttl=True,
            ttl_offset=60,
        )

    # -- rate limit -----------------------------------------------------------------------------

    def limiter(self, rate_per_minute: float, **local: Any) -> SharedLimiter:
        return SharedLimiter(self, rate_per_minute, **local)

    # -- run lock -------------------------------------------------------------------------------

    @contextmanager
    def lock(self, name: str, ttl: float = LOCK_TTL) -> Iterator[bool]:
        """Hold ``{prefix}:lock:<name>`` for the block; raise ``LockHeld`` if another process
        holds it. Yields True when held in Redis, False when Redis is down (the caller's store
        lock is then the only guard)."""
        from .store.values import LockHeld

        key = self.key("lock", name)
        token = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(8)}"
        ms = max(1000, int(ttl * 1000))
        got = self.call(lambda c: c.set(key, token, nx=True, px=ms), default=_DOWN)
        if got is _DOWN:
            yield False
            return
        if not got:
            holder = self.call(lambda c: c.get(key))
            who = holder.decode(errors="replace").rsplit(":", 1)[0] if holder else "?"
            raise LockHeld(
                f"another osrs-notify {name!r} run holds its lock on Redis {self.display} "
                f"(host:pid {who})"
            )
        stop = threading.Event()
        renewer = threading.Thread(
            target=self._renew, args=(key, token, ms, stop), name=f"redis-lock-{name}",
            daemon=True,
        )
        renewer.start()
        try:
            yield True
        finally:
            stop.set()
            renewer.join(timeout=self.timeout * 2)
            # Even after a failure: a lock left behind would block every run until its TTL.
            self.call(lambda c: c.eval(_RELEASE_SCRIPT, 1, key, token), force=True)

    def _renew(self, key: str, token: str, ms: int, stop: threading.Event) -> None:
        while not stop.wait(ms / 3000):
            kept = self.call(lambda c: c.eval(_RENEW_SCRIPT, 1, key, token, ms), default=_DOWN)
            if kept is _DOWN:
                continue  # Redis is down: the store lock still holds; try again later
            if not kept:
                log.warning("the Redis lock %s expired while held; the store lock still holds",
                            key)
                return

    # -- publishing -----------------------------------------------------------------------------

    def publish_events(self, items: Iterable[tuple[str, Mapping[str, object]]]) -> int:
        """Publish (kind, payload) pairs on their channels; returns how many went out."""
        messages = [
            (self.channel(kind), json.dumps(event_message(kind, payload), default=str))
            for kind, payload in items
        ]
        sent = 0
        for start in range(0, len(messages), PUBLISH_BATCH):
            batch = messages[start : start + PUBLISH_BATCH]

            def send(client: Any, batch: list[tuple[str, str]] = batch) -> int:
                pipe = client.pipeline(transaction=False)
                for channel, text in batch:
                    pipe.publish(channel, text)
                pipe.execute()
                return len(batch)

            done = self.call(send, default=0)
            if not done:
                break  # down: the rest stays in the outbox only
            sent += done
        return sent

    def publish_report(self, report: RunReport) -> int:
        """Every event a poll stored (call it once ``run_once`` returned: committed)."""
        if report.dry_run:
            return 0
        return self.publish_events(
            (q.event.kind, q.notice.to_json()) for r in report.results for q in r.queued
        )

    def publish_summary(self, summary: Mapping[str, Any]) -> bool:
        """Publish a run's summary (``RunMetrics.as_dict()``) on ``{prefix}:updates``. It comes
        in as plain data so that this module imports neither ``poller.metrics`` nor
        ``poller.run_log``, which hands it over: data flows one way, run reports → metrics →
        here."""
        text = json.dumps({"schema": SCHEMA, "type": "run", **summary}, default=str)
        channel = self.key(SUMMARY_CHANNEL)
        return bool(self.call(lambda c: c.publish(channel, text) >= 0, default=False))


class SharedLimiter:
    """:class:`poller.ratelimit.Limiter` across processes: every caller takes the next slot from one
    Redis key, so together they never exceed ``rate_per_minute``. Falls back to an in-process
    :class:`~poller.ratelimit.RateLimiter` while Redis is down."""

    def __init__(
        self,
        layer: RedisLayer,
        rate_per_minute: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
        local: RateLimiter | None = None,
    ) -> None:
        from .ratelimit import RateLimiter

        if rate_per_minute <= 0:
            raise ValueError("a shared limiter needs a rate above 0")
        self.layer = layer
        self.interval = 60.0 / rate_per_minute
        self.key = layer.key("ratelimit", "hiscores")
        self._sleep = sleep
        self.local = local or RateLimiter(rate_per_minute, sleep=sleep)
        self._us = max(1, round(self.interval * 1_000_000))
        self._local_mode = False

    def acquire(self) -> float:
        """Block until this caller's slot; return the slot time (server seconds), or the local
        limiter's clock reading when Redis is down."""
        answer = self.layer.call(
            lambda c: c.eval(_SLOT_SCRIPT, 1, self.key, self._us, 0), default=_DOWN
        )
        if answer is _DOWN:
            if not self._local_mode:
                # Whatever the shared slots allowed a moment ago, start one interval on.
                self._local_mode = True
                self.local.defer(self.interval)
            return self.local.acquire()
        self._local_mode = False
        wait_us, slot_us = int(answer[0]), int(answer[1])
        if wait_us > 0:
            self._sleep(wait_us / 1_000_000)
        return slot_us / 1_000_000

    def defer(self, seconds: float) -> None:
        """Nobody, in any process, is admitted for ``seconds`` (a 429's Retry-After)."""
        if seconds <= 0:
            return
        self.local.defer(seconds)
        us = max(1, round(seconds * 1_000_000))
        self.layer.call(lambda c: c.eval(_SLOT_SCRIPT, 1, self.key, self._us, us))


# -- what the commands and the scheduler call -----------------------------------------------------


def http_options(layer: RedisLayer | None, config: HttpConfig) -> dict[str, Any]:
    """Keyword arguments for :class:`poller.http.HttpClient`: the shared rate limit and cache
    when Redis is configured, nothing otherwise."""
    if layer is None:
        return {}
    options: dict[str, Any] = {}
    if config.rate_per_minute > 0:
        options["limiter"] = SharedLimiter(layer, config.rate_per_minute)
    if config.cache_ttl > 0:
        options["shared_cache"] = layer
    return options


def publish_report(layer: RedisLayer | None, report: RunReport) -> int:
    return 0 if layer is None else layer.publish_report(report)


def publish_prices(layer: RedisLayer | None, report: Any) -> int:
    """The price alerts a price pass stored (its results' notices, as the outbox holds them) on
    ``{prefix}:trade``; call it once the pass committed them."""
    if layer is None or getattr(report, "dry_run", False):
        return 0
    items = [
        ("price", r.notice.to_json()) for r in getattr(report, "results", ())
        if getattr(r, "notice", None) is not None
    ]
    return layer.publish_events(items)


@contextmanager
def run_lock(store: Store, layer: RedisLayer | None, name: str = "poll") -> Iterator[None]:
    """The store's lock, and the Redis one too when Redis is configured (either held elsewhere
    raises ``LockHeld``)."""
    with store.lock(name):
        if layer is None:
            yield
            return
        with layer.lock(name):
            yield


