"""Deliver one message to one Discord webhook, obeying Discord's rate limits.

``WebhookSender.send`` makes at most a few HTTP requests and returns a ``SendResult`` saying what
the outbox should do with the message: mark it sent, try again later (``retry``, ``paused``), stop
using the webhook until its URL is fixed (``disable``: the messages stay queued), give up on this
payload (``reject``: Discord says the payload is wrong, retrying the same bytes cannot help) or
split it (``too_large``). It never raises for anything Discord or the network does.

Rate limits, as Discord documents them: every response carries ``X-RateLimit-Remaining`` and
``X-RateLimit-Reset-After`` (seconds, float; ``X-RateLimit-Reset`` is the same moment as an epoch
time) for a bucket named by ``X-RateLimit-Bucket``. Webhook buckets count per webhook, so state is
kept per webhook id (and per bucket name when Discord gives one). When a bucket is empty we wait
for its reset *before* sending rather than collecting a 429: a stream of 429s (with 401s and 403s)
is what gets an IP banned at Discord's Cloudflare edge (10,000 invalid requests per 10 minutes).
A 429 still happens (another program on the same webhook, a shared limit): its JSON body says
``retry_after`` (float seconds) and ``global``; ``X-RateLimit-Scope: global`` or
``X-RateLimit-Global`` mean the same as ``global``. A global limit pauses every webhook. A 429
whose body is not Discord's JSON (an HTML page) comes from the edge: the IP is banned for a while,
so all sending pauses for ``ban_pause`` seconds.

Nothing here ever logs or returns a URL with the token in it: log lines name the webhook by
``WebhookAddress.masked`` and error texts go through ``mask_url``.

This module imports nothing from ``poller``.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import requests

from notifier.attachments import MAX_ATTACHMENT, Attachment, encode_body
from notifier.discord_reply import as_float, as_int, describe, json_object, one_line, truthy
from notifier.webhook import DEFAULT_API_BASE, TokenMaskingFilter, WebhookAddress

__all__ = [
    "Attachment",
    "DEFAULT_BAN_PAUSE",
    "UNKNOWN_MESSAGE",
    "MAX_TRIES",
    "Outcome",
    "SendResult",
    "WebhookSender",
    "backoff",
]

log = logging.getLogger(__name__)

Outcome = Literal[
    "sent", "retry", "disable", "reject", "too_large", "paused", "unknown_message"
]

MAX_TRIES = 3  # HTTP requests per send() at most (the first try and two after 429s)
DEFAULT_BAN_PAUSE = 3600.0  # an edge ban lasts "about an hour" in every report of one
UNKNOWN_WEBHOOK = 10015
INVALID_WEBHOOK_TOKEN = 50027
UNKNOWN_MESSAGE = 10008  # an edit of a message deleted since


@dataclass(frozen=True)
class SendResult:
    """What one ``send`` did. ``error`` is one line without any token; ``retry_after`` is how long
    (seconds) to leave this webhook alone, when Discord or the sender knows; ``attempts`` counts
    the HTTP requests made; ``elapsed`` includes any waiting."""

    outcome: Outcome
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None
    attempts: int = 0
    elapsed: float = 0.0
    message_id: str | None = None  # Discord's id for the posted message (we always ask wait=true)

    @property
    def ok(self) -> bool:
        return self.outcome == "sent"

    @property
    def permanent(self) -> bool:
        """Sending the same body to the same URL again would fail the same way."""
        return self.outcome in ("disable", "reject", "too_large", "unknown_message")

    @property
    def transient(self) -> bool:
        """Nothing is wrong with the message: send it again later, unchanged."""
        return self.outcome in ("retry", "paused")


_MASK_TOKENS = TokenMaskingFilter()
_LIBRARY_LOGGERS = ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry")


def _mask_library_logs() -> None:
    for name in _LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if _MASK_TOKENS not in logger.filters:
            logger.addFilter(_MASK_TOKENS)


@dataclass
class _Bucket:
    remaining: int | None = None
    limit: int | None = None
    reset_at: float = 0.0  # on the sender's (monotonic) clock


def backoff(
    attempts: int,
    *,
    base: float = 30.0,
    cap: float = 3600.0,
    rng: Callable[[], float] = random.random,
    floor: float = 5.0,
) -> float:
    """Seconds until the next try of a message that failed transiently ``attempts`` times.

    Exponential with full jitter: uniform in [0, min(cap, base·2^(attempts-1))), never below
    ``floor`` (nor above ``cap``). Jitter spreads many messages that failed together (an outage)
    so they do not all come back at the same second.
    """
    exponent = min(max(attempts, 1) - 1, 60)  # 2**60 · base is far past any cap
    ceiling = min(cap, base * (2.0**exponent))
    return min(cap, max(floor, rng() * ceiling))


class WebhookSender:
    """Posts messages to Discord webhooks through ``api_base`` (DISCORD_API_BASE).

    One sender should serve a whole run so it remembers every webhook's bucket and any global
    pause. It is thread-safe; sends to one webhook are serialised (Discord shows them in order).
    ``clock``/``sleep`` are injectable for tests (``clock`` must be monotonic); ``wall_clock`` is
    only used to read ``X-RateLimit-Reset`` when ``X-RateLimit-Reset-After`` is missing.
    Waits up to ``max_wait`` seconds happen inside ``send``; longer ones return ``paused``.
    """

    def __init__(
        self,
        api_base: str = DEFAULT_API_BASE,
        *,
        session: requests.Session | None = None,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = 30.0,
        user_agent: str = "osrs-notify",
        ban_pause: float = DEFAULT_BAN_PAUSE,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.timeout = timeout
        self.max_wait = max_wait
        self.user_agent = user_agent
        self.ban_pause = ban_pause
        self._session = session
        self._clock = clock
        self._sleep = sleep
        self._wall = wall_clock
        self._lock = threading.Lock()
        self._bucket_names: dict[str, str] = {}  # webhook id → X-RateLimit-Bucket last seen
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._hook_locks: dict[str, threading.Lock] = {}
        self._global_until = 0.0
        _mask_library_logs()

    # --- pauses ---------------------------------------------------------------------------

    def pause_all(self, seconds: float) -> None:
        """Send nothing to any webhook for ``seconds`` (extends, never shortens, a pause).

        Used to restore a pause saved by the previous cron run (see global_pause_remaining).
        """
        if seconds > 0:
            with self._lock:
                self._global_until = max(self._global_until, self._clock() + seconds)

    def global_pause_remaining(self) -> float:
        """Seconds left of the pause on every webhook (a global 429 or an edge ban); 0.0 if none."""
        with self._lock:
            return max(0.0, self._global_until - self._clock())

    def paused_until(self, address: WebhookAddress | None = None) -> float | None:
        """Monotonic time until which nothing can be sent (to ``address``, if given), or None."""
        now = self._clock()
        with self._lock:
            until = self._global_until
            if address is not None:
                bucket = self._bucket(address.id)
                if bucket is not None and bucket.remaining == 0:
                    until = max(until, bucket.reset_at)
        return until if until > now else None

    def _bucket(self, webhook_id: str) -> _Bucket | None:
        return self._buckets.get((webhook_id, self._bucket_names.get(webhook_id, "")))

    def _wait_for(self, webhook_id: str) -> tuple[float, str]:
        """Seconds to wait before this webhook may be sent to, and why ("" when none)."""
        now = self._clock()
        with self._lock:
            wait, why = self._global_until - now, "all sending is paused"
            bucket = self._bucket(webhook_id)
            if bucket is not None and bucket.remaining == 0 and bucket.reset_at - now > wait:
                wait, why = bucket.reset_at - now, "this webhook's rate-limit bucket is empty"
        return (wait, why) if wait > 0 else (0.0, "")

    def _update_bucket(self, webhook_id: str, headers: Mapping[str, str], now: float) -> None:
        remaining = as_int(headers.get("X-RateLimit-Remaining"))
        reset_after = as_float(headers.get("X-RateLimit-Reset-After"))
        if reset_after is None:
            reset = as_float(headers.get("X-RateLimit-Reset"))
            if reset is not None:
                reset_after = max(0.0, reset - self._wall())
        if remaining is None and reset_after is None:
            return
        name = headers.get("X-RateLimit-Bucket", "")
        with self._lock:
            if name:
                self._bucket_names[webhook_id] = name
            key = (webhook_id, self._bucket_names.get(webhook_id, ""))
            bucket = self._buckets.setdefault(key, _Bucket())
            if remaining is not None:
                bucket.remaining = remaining
            limit = as_int(headers.get("X-RateLimit-Limit"))
            if limit is not None:
                bucket.limit = limit
            if reset_after is not None:
                bucket.reset_at = now + reset_after

    def _hold_bucket(self, webhook_id: str, until: float) -> None:
        with self._lock:
            key = (webhook_id, self._bucket_names.get(webhook_id, ""))
            bucket = self._buckets.setdefault(key, _Bucket())
            bucket.remaining = 0
            bucket.reset_at = max(bucket.reset_at, until)

    def _hook_lock(self, webhook_id: str) -> threading.Lock:
        with self._lock:
            return self._hook_locks.setdefault(webhook_id, threading.Lock())

    # --- sending --------------------------------------------------------------------------

    @property
    def session(self) -> requests.Session:
        # A plain Session: never a caching one, and its adapters never retry a POST by themselves
        # (a silent retry after a read timeout is how a message gets posted twice).
        with self._lock:
            if self._session is None:
                self._session = requests.Session()
            return self._session

    def send(
        self,
        address: WebhookAddress,
        body: Mapping[str, Any],
        *,
        thread_id: str | None = None,
        files: Sequence[Attachment] = (),
    ) -> SendResult:
        """POST ``body`` to the webhook (``?wait=true``, so ``message_id`` is set, and
        ``thread_id`` when given): as JSON, or with ``files`` as Discord's multipart form
        (``payload_json`` and ``files[n]``), where an embed can show ``attachment://chart.png``."""
        url = address.url(self.api_base)
        return self._request("POST", address, url, body, thread_id, files, bucket=address.id)

    def edit(
        self,
        address: WebhookAddress,
        message_id: str,
        body: Mapping[str, Any],
        *,
        thread_id: str | None = None,
        files: Sequence[Attachment] = (),
    ) -> SendResult:
        """PATCH a message this webhook posted (``thread_id`` when it is in a thread). With
        ``files`` they replace the message's attachments. Returns ``unknown_message`` when the
        message is gone (deleted in the channel): the caller posts afresh."""
        if not str(message_id).isdigit():  # it goes into the URL's path
            return SendResult("reject", error=one_line(f"not a Discord message id: {message_id!r}"))
        url = f"{address.url(self.api_base)}/messages/{message_id}"
        # Editing is its own route at Discord, so its own bucket here.
        bucket = f"{address.id}/edit"
        return self._request("PATCH", address, url, body, thread_id, files, bucket=bucket)

    def _request(
        self,
        method: Literal["POST", "PATCH"],
        address: WebhookAddress,
        url: str,
        body: Mapping[str, Any],
        thread_id: str | None,
        files: Sequence[Attachment],
        *,
        bucket: str,
    ) -> SendResult:
        start = self._clock()
        attempts = 0
        status: int | None = None

        def result(outcome: Outcome, error: str | None = None, **kw: Any) -> SendResult:
            return SendResult(
                outcome, status, error, attempts=attempts, elapsed=self._clock() - start, **kw
            )

        try:
            payload, content_type = encode_body(body, files)
        except (TypeError, ValueError) as exc:
            return result("reject", one_line(f"message body is not JSON: {exc}"))
        big = [f for f in files if len(f.data) > MAX_ATTACHMENT]
        if big:
            error = f"{big[0].filename} is {len(big[0].data):,} bytes, over {MAX_ATTACHMENT:,}"
            return result("too_large", error)
        params = {"wait": "true"}
        if thread_id is not None:
            params["thread_id"] = str(thread_id)
        headers = {"Content-Type": content_type, "User-Agent": self.user_agent}
        hook = address.masked

        with self._hook_lock(address.id):  # a post and an edit of one webhook never overlap
            while True:
                # Wait out an empty bucket or a global pause first; after one sleep the wait must
                # be over (else another thread paused everything meanwhile: give up for now).
                for slept in (False, True):
                    wait, why = self._wait_for(bucket)
                    if wait <= 0:
                        break
                    if slept or wait > self.max_wait:
                        msg = f"rate limited: {why}, {wait:.1f} s left"
                        log.info("webhook %s: %s; not sending now", hook, msg)
                        return result("paused", msg, retry_after=wait)
                    log.debug("webhook %s: %s, waiting %.3f s", hook, why, wait)
                    self._sleep(wait)

                attempts += 1
                try:
                    resp = self.session.request(
                        method, url, params=params, data=payload, headers=headers,
                        timeout=self.timeout,
                    )
                except requests.Timeout as exc:
                    error = one_line(f"timed out after {self.timeout:g} s: {exc}")
                    log.warning("webhook %s: %s", hook, error)
                    return result("retry", error)
                except requests.RequestException as exc:
                    error = one_line(f"connection failed: {type(exc).__name__}: {exc}")
                    log.warning("webhook %s: %s", hook, error)
                    return result("retry", error)

                now = self._clock()
                status = resp.status_code
                log.debug("webhook %s: %s attempt %d → %d", hook, method, attempts, status)

                if status == 429:
                    doc = json_object(resp)
                    if doc is None:
                        return self._edge_ban(hook, resp, result)
                    retry_after = as_float(doc.get("retry_after"))
                    if retry_after is None:
                        retry_after = as_float(resp.headers.get("Retry-After"))
                    if retry_after is None:
                        retry_after = as_float(resp.headers.get("X-RateLimit-Reset-After"))
                    retry_after = max(0.0, retry_after if retry_after is not None else 1.0)
                    is_global = (
                        truthy(doc.get("global"))
                        or truthy(resp.headers.get("X-RateLimit-Global"))
                        or resp.headers.get("X-RateLimit-Scope", "").lower() == "global"
                    )
                    if is_global:  # the headers then describe the global limit, not the bucket
                        self.pause_all(retry_after)
                    else:
                        self._update_bucket(bucket, resp.headers, now)
                        self._hold_bucket(bucket, now + retry_after)
                    scope = "global" if is_global else "webhook"
                    msg = f"429 rate limited ({scope}): retry after {retry_after:.3f} s"
                    if attempts >= MAX_TRIES or retry_after > self.max_wait:
                        log.warning("webhook %s: %s; leaving it for later", hook, msg)
                        return result("paused", msg, retry_after=retry_after)
                    log.info("webhook %s: %s; waiting", hook, msg)
                    continue

                self._update_bucket(bucket, resp.headers, now)
                if 200 <= status < 300:
                    doc = json_object(resp)
                    message_id = doc.get("id") if doc else None
                    return result("sent", message_id=str(message_id) if message_id else None)
                doc = json_object(resp)
                error = describe(resp, doc)
                if status >= 500:
                    log.warning("webhook %s: Discord server error: %s", hook, error)
                    retry_after = as_float(resp.headers.get("Retry-After"))
                    return result("retry", error, retry_after=retry_after)
                code = doc.get("code") if doc else None
                if status == 404 and code == UNKNOWN_MESSAGE:
                    log.info("webhook %s: the message to edit is gone: %s", hook, error)
                    return result("unknown_message", error)
                if status in (401, 404):
                    if code not in (UNKNOWN_WEBHOOK, INVALID_WEBHOOK_TOKEN):
                        error += " (not Discord's webhook error: is DISCORD_API_BASE right?)"
                    log.error(
                        "webhook %s: %s — disabling this webhook; its messages stay queued "
                        "until its URL is fixed",
                        hook,
                        error,
                    )
                    return result("disable", error)
                if status == 413:
                    log.warning("webhook %s: %s; the message must be split", hook, error)
                    return result("too_large", error)
                log.error("webhook %s: Discord refused the message: %s", hook, error)
                return result("reject", error)

    def _edge_ban(
        self, hook: str, resp: requests.Response, result: Callable[..., SendResult]
    ) -> SendResult:
        pause = max(self.ban_pause, as_float(resp.headers.get("Retry-After")) or 0.0)
        self.pause_all(pause)
        error = (
            f"429 with a non-JSON body: Discord's edge (Cloudflare) has banned this IP for a "
            f"while; all sending paused for {pause:.0f} s"
        )
        log.error("webhook %s: %s", hook, error)
        return result("paused", error, retry_after=pause)
