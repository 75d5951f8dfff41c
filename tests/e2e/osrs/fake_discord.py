"""A strict fake Discord webhook API on 127.0.0.1 for end-to-end runs.

It behaves like the real one where osrs-notify can tell the difference:

- ``POST``/``GET`` on any path ending in ``/webhooks/{id}/{token}`` (so both ``/api/v10/...`` and
  a pasted ``/api/webhooks/...`` URL work); unknown id → 404 ``Unknown Webhook`` (10015), wrong
  token → 401 ``Invalid Webhook Token`` (50027).
- Message bodies are checked against Discord's limits (10 embeds, 6000 characters of embed text,
  title 256, description 4096, 25 fields, field name 256 / value 1024, footer 2048, author name
  256, content 2000, username 80) and answered 400 ``Invalid Form Body`` (50035) with Discord's
  nested ``errors`` tree, so the sender's error text is what a real failure would show. Our own
  rule is enforced too: ``allowed_mentions`` must be ``{"parse": []}``.
- A body over ``max_body`` bytes → 413 (40005).
- Files, as Discord's multipart form (``payload_json`` + ``files[n]``): payload_json must be valid
  JSON within the limits above, every file a PNG (magic bytes; we only upload charts) of at most
  ``MAX_FILE`` bytes (413 over it), and every embed's ``attachment://name`` image or thumbnail must
  name a file the message has. A malformed form or a stray field → 400.
- ``PATCH .../webhooks/{id}/{token}/messages/{message_id}`` edits a stored message (its own rate
  bucket, as at Discord); ``delete_message(id)`` removes one, after which an edit gets 404
  ``Unknown Message`` (10008), as when someone deletes it in the channel.
- Every webhook has a bucket of ``bucket_limit`` requests per ``bucket_window`` seconds (5 per 2 s)
  with real ``X-RateLimit-*`` headers on every response, and a JSON 429 when it is exceeded.
- Faults: ``fail_next(n, status)``, ``outage(on)`` (503s, or dropped connections), ``ban(on)``
  (429 with Cloudflare's HTML page), ``delete(id)``, ``delay(seconds)``.

Every accepted message is recorded (``messages``; edits in ``edits``, the current version of each
in ``message(id)``), and every request (``requests``), so a test can count deliveries exactly.
Thread-safe: the server is a ThreadingHTTPServer.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import secrets
import socket
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

BAN_HTML = (
    "<!DOCTYPE html><html><head><title>Access denied | discord.com used Cloudflare to restrict "
    "access</title></head><body><h1>Error 1015</h1><p>You are being rate limited</p>"
    "<p>The owner of this website (discord.com) has banned you temporarily from accessing this "
    "website.</p></body></html>"
)
# One route, one hash: Discord's bucket names leave out the webhook id, which tells them apart.
BUCKET_HASH = "f3a9c1d07e5b2a46c8d91e0b7a3f5c21"
EDIT_BUCKET_HASH = "0c7e4b19d2a85f36e1b90a4d7c2f8e53"
MAX_FILE = 10 * 1024 * 1024  # Discord's per-file upload limit for a server without boosts
MAX_UPLOAD = 3 * MAX_FILE  # a multipart request over this is not even read (413)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits)
LIMITS = {
    "content": 2000,
    "username": 80,
    "embeds": 10,
    "embed_total": 6000,
    "title": 256,
    "description": 4096,
    "fields": 25,
    "field_name": 256,
    "field_value": 1024,
    "footer": 2048,
    "author": 256,
}


@dataclass
class Webhook:
    id: str
    token: str
    name: str = "osrs-notify test"
    channel_id: str = "222222222222222222"
    guild_id: str = "333333333333333333"


@dataclass(frozen=True)
class Upload:
    """One part of a multipart body; a stored file once ``id`` is set."""

    field: str
    filename: str
    content_type: str
    data: bytes
    id: str = ""


@dataclass(frozen=True)
class Delivery:
    """One accepted message (or one edit of it)."""

    webhook_id: str
    body: dict[str, Any]
    thread_id: str | None
    time: float  # epoch seconds
    message_id: str
    files: tuple[Upload, ...] = ()


@dataclass(frozen=True)
class Request:
    """One request as the server answered it (bodies of accepted messages are in ``messages``)."""

    method: str
    webhook_id: str | None
    status: int  # 0 for a dropped connection
    time: float


@dataclass
class _Bucket:
    window_start: float = -math.inf
    used: int = 0


class _Errors:
    """Discord's nested ``errors`` object: {"embeds": {"0": {"title": {"_errors": [...]}}}}."""

    def __init__(self) -> None:
        self.tree: dict[str, Any] = {}
        self.lines: list[str] = []

    def add(self, path: tuple[str | int, ...], code: str, message: str) -> None:
        node = self.tree
        for part in path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})
        self.lines.append(f"{'.'.join(str(p) for p in path)}: {message}")

    def max_len(self, path: tuple[str | int, ...], value: object, limit: int) -> int:
        """Check a string field; returns its length for the 6000-character embed total."""
        if value is None:
            return 0
        if not isinstance(value, str):
            self.add(path, "BASE_TYPE_STRING", "Must be a string.")
            return 0
        if len(value) > limit:
            self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
        return len(value)


def validate_message(
    body: object, *, require_no_mentions: bool = True, has_files: bool = False
) -> tuple[int, dict] | None:
    """None when Discord would accept ``body`` (with files, when ``has_files``); else (status,
    error JSON) as Discord answers."""
    if not isinstance(body, dict):
        return 400, {"message": "Cannot send an empty message", "code": 50006}
    errors = _Errors()
    content = body.get("content")
    errors.max_len(("content",), content, LIMITS["content"])
    username = body.get("username")
    if username is not None:
        if not isinstance(username, str):
            errors.add(("username",), "BASE_TYPE_STRING", "Must be a string.")
        elif not 1 <= len(username) <= LIMITS["username"]:
            errors.add(
                ("username",), "BASE_TYPE_BAD_LENGTH",
                f"Must be between 1 and {LIMITS['username']} in length.",
            )
        else:
            for word in ("discord", "clyde"):
                if word in username.lower():
                    errors.add(
                        ("username",), "USERNAME_INVALID_CONTAINS",
                        f'Username cannot contain "{word}"',
                    )
    embeds = body.get("embeds")
    if embeds is not None:
        if not isinstance(embeds, list):
            errors.add(("embeds",), "BASE_TYPE_ARRAY", "Must be an array.")
            embeds = []
        elif len(embeds) > LIMITS["embeds"]:
            errors.add(
                ("embeds",), "BASE_TYPE_MAX_LENGTH",
                f"Must be {LIMITS['embeds']} or fewer in length.",
            )
        total = 0
        for i, embed in enumerate(embeds):
            total += _validate_embed(errors, i, embed)
        if total > LIMITS["embed_total"]:
            errors.add(
                ("embeds",), "MAX_EMBED_SIZE_EXCEEDED",
                f"Embed size exceeds maximum size of {LIMITS['embed_total']}",
            )
    if require_no_mentions and body.get("allowed_mentions") != {"parse": []}:
        errors.add(
            ("allowed_mentions",), "OSRS_NOTIFY_POLICY",
            'Must be {"parse": []} (nothing osrs-notify sends may ping anyone).',
        )
    if errors.tree:
        return 400, {"message": "Invalid Form Body", "code": 50035, "errors": errors.tree}
    if not content and not embeds and not has_files:
        return 400, {"message": "Cannot send an empty message", "code": 50006}
    return None


def _form_error(path: tuple[str | int, ...], message: str) -> tuple[int, dict]:
    errors = _Errors()
    errors.add(path, "OSRS_NOTIFY_POLICY" if path else "MULTIPART_INVALID", message)
    return 400, {"message": "Invalid Form Body", "code": 50035, "errors": errors.tree}


def parse_multipart(content_type: str, raw: bytes) -> list[Upload] | None:
    """The parts of a multipart/form-data body, or None when it is malformed."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if match is None:
        return None
    chunks = raw.split(b"--" + match.group(1).encode("latin-1"))
    if len(chunks) < 3 or chunks[0] not in (b"", b"\r\n") or not chunks[-1].startswith(b"--"):
        return None
    parts = []
    for chunk in chunks[1:-1]:
        if not (chunk.startswith(b"\r\n") and chunk.endswith(b"\r\n")):
            return None
        head, sep, data = chunk[2:-2].partition(b"\r\n\r\n")
        if not sep:
            return None
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name = re.search(r'(?:^|;)\s*name="([^"]*)"', disposition)
        filename = re.search(r'filename="([^"]*)"', disposition)
        if not disposition.startswith("form-data") or name is None:
            return None
        parts.append(Upload(name.group(1), filename.group(1) if filename else "",
                            headers.get("content-type", ""), data))
    return parts


def check_files(
    body: dict[str, Any], uploads: list[Upload], kept: tuple[Upload, ...]
) -> tuple[tuple[int, dict] | None, tuple[Upload, ...]]:
    """(refusal or None, the message's files afterwards). ``kept`` are the files of the message
    being edited: on an edit, a body's ``attachments`` list says which of them stay."""
    new: dict[int, Upload] = {}
    for up in uploads:
        match = re.fullmatch(r"files\[(\d+)\]", up.field)
        if match is None:
            return _form_error((up.field,), "Unknown form field."), ()
        if len(up.data) > MAX_FILE:
            return (413, {"message": "Request entity too large", "code": 40005}), ()
        if not up.filename:
            return _form_error((up.field,), "A file needs a filename."), ()
        if not up.data.startswith(PNG_MAGIC):
            return _form_error((up.field,), "Must be a PNG image (we only upload charts)."), ()
        new[int(match.group(1))] = up
    files = list(kept)
    listed = body.get("attachments")
    if listed is not None:
        if not isinstance(listed, list):
            return _form_error(("attachments",), "Must be an array."), ()
        by_id = {f.id: f for f in kept}
        files = []
        for i, item in enumerate(listed):
            ref = str(item.get("id")) if isinstance(item, dict) else ""
            if ref in by_id:
                files.append(by_id[ref])
            elif ref.isdigit() and int(ref) in new:
                files.append(new.pop(int(ref)))
            else:
                return _form_error(("attachments", i, "id"), "Unknown attachment."), ()
    files.extend(new.values())
    names = {f.filename for f in files}
    for i, embed in enumerate(body.get("embeds") or []):
        for key in ("image", "thumbnail"):
            url = (embed.get(key) or {}).get("url", "") if isinstance(embed, dict) else ""
            if isinstance(url, str) and url.startswith("attachment://"):
                if url.removeprefix("attachment://") not in names:
                    return _form_error(
                        ("embeds", i, key, "url"), f"No attached file is named {url[13:]!r}."
                    ), ()
    return None, tuple(files)


def _validate_embed(errors: _Errors, i: int, embed: object) -> int:
    where: tuple[str | int, ...] = ("embeds", i)
    if not isinstance(embed, dict):
        errors.add(where, "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")
        return 0
    total = errors.max_len((*where, "title"), embed.get("title"), LIMITS["title"])
    total += errors.max_len(
        (*where, "description"), embed.get("description"), LIMITS["description"]
    )
    footer = embed.get("footer")
    if isinstance(footer, dict):
        total += errors.max_len((*where, "footer", "text"), footer.get("text"), LIMITS["footer"])
    author = embed.get("author")
    if isinstance(author, dict):
        total += errors.max_len((*where, "author", "name"), author.get("name"), LIMITS["author"])
    fields = embed.get("fields")
    if fields is None:
        return total
    if not isinstance(fields, list):
        errors.add((*where, "fields"), "BASE_TYPE_ARRAY", "Must be an array.")
        return total
    if len(fields) > LIMITS["fields"]:
        errors.add(
            (*where, "fields"), "BASE_TYPE_MAX_LENGTH",
            f"Must be {LIMITS['fields']} or fewer in length.",
        )
    for j, fld in enumerate(fields):
        at = (*where, "fields", j)
        if not isinstance(fld, dict):
            errors.add(at, "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")
            continue
        for key, limit in (("name", LIMITS["field_name"]), ("value", LIMITS["field_value"])):
            value = fld.get(key)
            if value is None or value == "":
                errors.add((*at, key), "BASE_TYPE_REQUIRED", "This field is required")
            else:
                total += errors.max_len((*at, key), value, limit)
    return total


class FakeDiscord:
    """The fake server. ``with FakeDiscord() as discord: ...`` or ``start()``/``stop()``."""

    def __init__(
        self,
        *,
        bucket_limit: int = 5,
        bucket_window: float = 2.0,
        max_body: int = 256 * 1024,
        require_no_mentions: bool = True,
    ) -> None:
        self.bucket_limit = bucket_limit
        self.bucket_window = bucket_window
        self.max_body = max_body
        self.require_no_mentions = require_no_mentions
        self.webhooks: dict[str, Webhook] = {}
        self.messages: list[Delivery] = []
        self.edits: list[Delivery] = []
        self._stored: dict[str, Delivery] = {}  # message id → its current version
        self.requests: list[Request] = []
        self.rate_limited = 0  # 429s sent for an exceeded bucket (not for a ban)
        self.lock = threading.RLock()
        self._buckets: dict[str, _Bucket] = {}
        self._fail: list[int] = []  # statuses for the next requests, first first
        self._throttle: list[float] = []  # retry_after of injected 429s, first first
        self.injected_429 = 0
        self._outage: Literal["503", "drop"] | None = None
        self._banned = False
        self._delay = 0.0
        self._ids = itertools.count(1)
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeDiscord:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeDiscord:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        assert self._httpd is not None, "FakeDiscord is not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_base(self) -> str:
        """What DISCORD_API_BASE should be set to."""
        return f"{self.origin}/api/v10"

    # --- webhooks -------------------------------------------------------------------------

    def add_webhook(
        self, webhook_id: str | None = None, token: str | None = None, *, name: str | None = None
    ) -> Webhook:
        """Register a webhook (snowflake-like id and a 68-character token unless given)."""
        with self.lock:
            if webhook_id is None:
                webhook_id = str(100000000000000000 + next(self._ids) * 7919)
            if token is None:
                token = "FAKE" + secrets.token_urlsafe(48)[:64]
            hook = Webhook(webhook_id, token)
            if name is not None:
                hook.name = name
            self.webhooks[webhook_id] = hook
            return hook

    def webhook_url(self, webhook_id: str) -> str:
        """A URL to paste into the config, in the form Discord hands out."""
        hook = self.webhooks[webhook_id]
        return f"{self.origin}/api/webhooks/{hook.id}/{hook.token}"

    def token(self, webhook_id: str) -> str:
        return self.webhooks[webhook_id].token

    def delete(self, webhook_id: str) -> None:
        """The server owner deleted the webhook: from now on 404 Unknown Webhook."""
        with self.lock:
            self.webhooks.pop(webhook_id, None)

    def message(self, message_id: str) -> Delivery | None:
        """The message as it is now (after any edits), or None when it was never posted or has
        been deleted."""
        with self.lock:
            return self._stored.get(message_id)

    def delete_message(self, message_id: str) -> None:
        """Someone deleted the message in the channel: editing it now gets 404 (10008)."""
        with self.lock:
            self._stored.pop(message_id, None)

    def messages_for(self, webhook_id: str) -> list[Delivery]:
        with self.lock:
            return [m for m in self.messages if m.webhook_id == webhook_id]

    # --- faults ---------------------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        """The next ``n`` requests (to any webhook) get ``status`` with a JSON error body."""
        with self.lock:
            self._fail.extend([status] * n)

    def throttle_next(self, n: int = 1, retry_after: float = 0.3) -> None:
        """The next ``n`` requests get a real per-route 429 with ``retry_after`` (as Discord
        sends when a bucket is shared with another client)."""
        with self.lock:
            self._throttle.extend([retry_after] * n)

    def outage(self, on: bool = True, *, mode: Literal["503", "drop"] = "503") -> None:
        """Every request gets 503 (``mode="503"``) or a connection closed with no response."""
        with self.lock:
            self._outage = mode if on else None

    def ban(self, on: bool = True) -> None:
        """Cloudflare's edge ban: 429 with an HTML page and no Discord headers."""
        with self.lock:
            self._banned = on

    def delay(self, seconds: float) -> None:
        """Wait this long before answering each request (for client timeouts)."""
        with self.lock:
            self._delay = seconds

    # --- the API --------------------------------------------------------------------------

    def _rate_headers(
        self, webhook_id: str, *, consume: bool, edit: bool = False
    ) -> tuple[dict[str, str], float]:
        """Charge the webhook's bucket (posting or editing); returns its headers and, when
        refused, retry_after > 0."""
        now = time.monotonic()
        bucket = self._buckets.setdefault(f"{webhook_id}/edit" if edit else webhook_id, _Bucket())
        if now - bucket.window_start >= self.bucket_window:
            bucket.window_start, bucket.used = now, 0
        reset_after = max(0.0, bucket.window_start + self.bucket_window - now)
        refused = consume and bucket.used >= self.bucket_limit
        if consume and not refused:
            bucket.used += 1
        headers = {
            "X-RateLimit-Limit": str(self.bucket_limit),
            "X-RateLimit-Remaining": str(max(0, self.bucket_limit - bucket.used)),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": EDIT_BUCKET_HASH if edit else BUCKET_HASH,
        }
        return headers, (max(reset_after, 0.001) if refused else 0.0)

    def handle(
        self, method: str, path: str, headers: Mapping[str, str], raw: bytes | None
    ) -> tuple[int, dict[str, str], bytes] | None:
        """Answer one request: (status, headers, body), or None to drop the connection.

        ``raw`` is the request body, or None when it was longer than ``max_body`` (not read).
        """
        with self.lock:
            delay = self._delay
        if delay:
            time.sleep(delay)
        parts = urlsplit(path)
        segments = parts.path.rstrip("/").split("/")
        webhook_id = token = message_id = None
        if len(segments) >= 3 and segments[-3] == "webhooks":
            webhook_id, token = segments[-2], segments[-1]
        elif len(segments) >= 5 and segments[-5] == "webhooks" and segments[-2] == "messages":
            webhook_id, token, message_id = segments[-4], segments[-3], segments[-1]
        with self.lock:
            reply = self._answer(method, parts.query, webhook_id, token, headers, raw, message_id)
            status = reply[0] if reply is not None else 0
            self.requests.append(Request(method, webhook_id, status, time.time()))
        return reply

    def _answer(
        self,
        method: str,
        query: str,
        webhook_id: str | None,
        token: str | None,
        headers: Mapping[str, str],
        raw: bytes | None,
        message_id: str | None = None,
    ) -> tuple[int, dict[str, str], bytes] | None:
        if self._banned:
            return 429, {"Content-Type": "text/html; charset=UTF-8"}, BAN_HTML.encode()
        if self._outage == "drop":
            return None
        if self._outage == "503":
            return _json(503, {"message": "503: Service Unavailable", "code": 0})
        if self._fail:
            status = self._fail.pop(0)
            return _json(status, {"message": f"{status}: Server Error", "code": 0})
        if self._throttle:
            wait = self._throttle.pop(0)
            self.injected_429 += 1
            doc = {"message": "You are being rate limited.", "retry_after": wait, "global": False}
            return _json(429, doc, {"Retry-After": str(math.ceil(wait))})
        if raw is None:
            return _json(413, {"message": "Request entity too large", "code": 40005})
        if webhook_id is None or token is None:
            return _json(404, {"message": "404: Not Found", "code": 0})
        if method not in (("PATCH",) if message_id else ("GET", "POST")):
            return _json(405, {"message": "405: Method Not Allowed", "code": 0})

        rate, retry_after = self._rate_headers(webhook_id, consume=True, edit=bool(message_id))
        if retry_after:
            self.rate_limited += 1
            doc = {"message": "You are being rate limited.", "retry_after": round(retry_after, 3),
                   "global": False}
            extra = {"Retry-After": str(math.ceil(retry_after)), "X-RateLimit-Scope": "user"}
            return _json(429, doc, {**rate, **extra})

        hook = self.webhooks.get(webhook_id)
        if hook is None:
            return _json(404, {"message": "Unknown Webhook", "code": 10015}, rate)
        if not secrets.compare_digest(token.encode(), hook.token.encode()):
            return _json(401, {"message": "Invalid Webhook Token", "code": 50027}, rate)

        if method == "GET":
            return _json(200, {
                "type": 1, "id": hook.id, "name": hook.name, "avatar": None,
                "channel_id": hook.channel_id, "guild_id": hook.guild_id,
                "application_id": None, "token": hook.token,
            }, rate)

        content_type = headers.get("Content-Type", "")
        uploads: list[Upload] = []
        if content_type.startswith("multipart/form-data"):
            parsed = parse_multipart(content_type, raw)
            if parsed is None:
                return _json(*_form_error((), "Malformed multipart/form-data body."), rate)
            payload = [p for p in parsed if p.field == "payload_json"]
            uploads = [p for p in parsed if p.field != "payload_json"]
            raw = payload[0].data if len(payload) == 1 else b""
        elif "application/json" not in content_type:
            return _json(400, {"message": "Cannot send an empty message", "code": 50006}, rate)
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return _json(
                400, {"message": "The request body contains invalid JSON.", "code": 50109}, rate
            )
        old = self._stored.get(message_id) if message_id else None
        if message_id and (old is None or old.webhook_id != hook.id):
            return _json(404, {"message": "Unknown Message", "code": 10008}, rate)
        if old is not None and isinstance(body, dict):
            # An edit changes the fields it sends; "attachments" speaks of this request's files.
            kept = {k: v for k, v in old.body.items() if k != "attachments"}
            body = {**kept, **body}
        refused, files = (None, ()) if not isinstance(body, dict) else check_files(
            body, uploads, old.files if old else ()
        )
        refused = refused or validate_message(
            body, require_no_mentions=self.require_no_mentions, has_files=bool(files)
        )
        if refused is not None:
            return _json(refused[0], refused[1], rate)
        files = tuple(f if f.id else replace(f, id=self._snowflake()) for f in files)
        if old is not None:
            edited = replace(old, body=body, time=time.time(), files=files)
            self._stored[old.message_id] = edited
            self.edits.append(edited)
            return _json(200, self._message_json(hook, edited), rate)

        params = parse_qs(query)
        thread_id = params.get("thread_id", [None])[0]
        if thread_id is not None and not thread_id.isdigit():
            errors = {"thread_id": {"_errors": [
                {"code": "NUMBER_TYPE_COERCE", "message": f'Value "{thread_id}" is not snowflake.'}
            ]}}
            doc = {"message": "Invalid Form Body", "code": 50035, "errors": errors}
            return _json(400, doc, rate)
        delivery = Delivery(hook.id, body, thread_id, time.time(), self._snowflake(), files)
        self.messages.append(delivery)
        self._stored[delivery.message_id] = delivery
        if params.get("wait", ["false"])[0].lower() not in ("true", "1"):
            return 204, rate, b""
        return _json(200, self._message_json(hook, delivery), rate)

    def _snowflake(self) -> str:
        return str(900000000000000000 + next(self._ids))

    def _message_json(self, hook: Webhook, message: Delivery) -> dict[str, Any]:
        return {
            "id": message.message_id, "type": 0,
            "channel_id": message.thread_id or hook.channel_id,
            "webhook_id": hook.id, "content": message.body.get("content", ""),
            "embeds": message.body.get("embeds", []),
            "attachments": [
                {"id": f.id, "filename": f.filename, "size": len(f.data),
                 "content_type": f.content_type,
                 "url": f"https://cdn.discordapp.com/attachments/{hook.channel_id}/{f.id}/"
                        f"{f.filename}"}
                for f in message.files
            ],
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(message.time)),
        }


def _json(
    status: int, doc: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    return status, {**(headers or {}), "Content-Type": "application/json"}, json.dumps(doc).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops SYNs under concurrent clients (1 s retry)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (its timeout while we were delaying) is not a server bug.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeDiscord
    protocol_version = "HTTP/1.1"  # keep-alive, as Discord does; every reply has a length
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms ACK stall

    def _serve(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        multipart = self.headers.get("Content-Type", "").startswith("multipart/form-data")
        limit = max(self.fake.max_body, MAX_UPLOAD) if multipart else self.fake.max_body
        raw = self.rfile.read(length) if 0 <= length <= limit else None
        if raw is None:
            self.close_connection = True  # the unread body would poison a kept-alive connection
        reply = self.fake.handle(self.command, self.path, self.headers, raw)
        if reply is None:  # an outage at the connection level: no status line at all
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        status, headers, body = reply
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if "json" in headers.get("Content-Type", "") or not body:
            self.send_header("Via", "1.1 google")  # Discord's API answers through Google's LB
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve  # noqa: N815

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass
