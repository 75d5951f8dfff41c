"""Discord webhook addresses: parse what a server owner pastes, keep the token out of sight.

Every accepted URL is reduced to its id and token; messages go to
``{DISCORD_API_BASE}/webhooks/{id}/{token}`` so a proxy or a local test server can stand in for
Discord. The token is the whole secret (anyone holding it can post as the webhook), so nothing in
this module ever puts it into a repr, a str or an exception message.

This module imports nothing from ``poller``: the notifier knows Discord, not hiscores.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

DEFAULT_API_BASE = "https://discord.com/api/v10"

# Hosts Discord hands out webhook URLs on. The old discordapp.com domain still works and old
# guides still show it; canary./ptb. are the client's beta channels, whose "Copy URL" uses them.
DISCORD_HOSTS: frozenset[str] = frozenset(
    {
        "discord.com",
        "canary.discord.com",
        "ptb.discord.com",
        "discordapp.com",
        "canary.discordapp.com",
        "ptb.discordapp.com",
    }
)
# Only loopback may use any path shape and plain http: that is a test server on this machine,
# never a place a token can leak to over the network.
LOCAL_HOSTS: frozenset[str] = frozenset({"127.0.0.1", "localhost", "::1"})

# Discord ids are snowflakes: 17–20 decimal digits. Tokens are URL-safe base64 (68 characters
# today); the range leaves room for Discord to change the length without us rejecting real URLs.
_DISCORD_ID = re.compile(r"[0-9]{17,20}")
_DISCORD_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,100}")
# A local fake server may hand out short ids and tokens; the character sets still hold because
# both end up in a URL path we build ourselves.
_LOCAL_ID = re.compile(r"[0-9]{1,20}")
_LOCAL_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,100}")

# /api/webhooks/{id}/{token} or /api/v{N}/webhooks/{id}/{token}, optional trailing slash.
_DISCORD_PATH = re.compile(r"/api(?:/v[0-9]{1,3})?/webhooks/(?P<id>[^/]+)/(?P<token>[^/]+)/?")
_LOCAL_PATH = re.compile(r"(?:/[^/]+)*/webhooks/(?P<id>[^/]+)/(?P<token>[^/]+)/?")

# For free text (log lines, exception messages from requests/urllib3): anything after
# "webhooks/<id>/" up to a delimiter is treated as a token. Slashes may be percent-encoded when a
# URL is itself embedded in a query string.
_SLASH = r"(?:/|%2[Ff])"
_TEXT_WEBHOOK = re.compile(
    rf"(?P<prefix>webhooks{_SLASH})(?P<id>[^/%\s?#&\"'<>]+){_SLASH}(?P<token>[^/\s?#&\"'<>]+)"
)

MASKED_TOKEN = "****"


def _masked(webhook_id: str) -> str:
    # Three digits are enough to tell a server's webhooks apart in logs without printing the id
    # whole; the token is never shown at all.
    return f"…/webhooks/{webhook_id[:3]}…/{MASKED_TOKEN}"


@dataclass(frozen=True, slots=True, repr=False)
class WebhookAddress:
    """A webhook's id and token: all that is needed to post to it through any API base."""

    id: str
    token: str

    def __post_init__(self) -> None:
        # Both parts are pasted into a URL path by ``url``; refusing other characters here means
        # no caller (settings, the database, a test) can smuggle a path or query into it.
        if not _LOCAL_ID.fullmatch(self.id):
            raise WebhookURLError(f"webhook id must be 1–20 digits, got {self.id[:3]!r}…")
        if not _LOCAL_TOKEN.fullmatch(self.token):
            raise WebhookURLError(
                "webhook token must be 1–100 characters of letters, digits, '_' or '-' "
                f"(token {MASKED_TOKEN})"
            )

    def url(self, api_base: str = DEFAULT_API_BASE) -> str:
        """The URL to POST to. Contains the token: pass it to the HTTP client, never to a log."""
        return f"{api_base.rstrip('/')}/webhooks/{self.id}/{self.token}"

    @property
    def masked(self) -> str:
        """How this webhook is shown anywhere a human may read it: ``…/webhooks/123…/****``."""
        return _masked(self.id)

    def __repr__(self) -> str:
        return f"WebhookAddress({self.masked!r})"

    def __str__(self) -> str:
        return self.masked


class WebhookURLError(ValueError):
    """A pasted webhook URL we cannot use. The message shows the URL with its token masked."""


def _display(url: str, parts: SplitResult | None) -> str:
    """``url`` made safe for an error message: the token (or anything that might be one) hidden."""
    if parts is None or not parts.scheme or not parts.hostname:
        # Not a URL at all: it might be a bare token pasted on its own, so show none of it.
        return f"<{len(url)} characters, not a URL>"
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    origin = f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")
    path = parts.path
    marker = path.find("/webhooks/")
    if marker < 0:
        # Without the webhooks/ marker we cannot tell which segment is secret: hide the whole path.
        return f"{origin}/…" if path.strip("/") else origin
    rest = path[marker + len("/webhooks/") :]
    webhook_id = rest.split("/", 1)[0]
    return f"{origin}{path[:marker]}/webhooks/{webhook_id[:3]}…/{MASKED_TOKEN}"


def parse_webhook_url(url: str) -> WebhookAddress:
    """Reduce a pasted Discord webhook URL to its id and token.

    Accepts https URLs on Discord's hosts with ``/api[/vN]/webhooks/{id}/{token}``, an optional
    trailing slash and an optional query string (``?wait=true``, ``?thread_id=…``: ignored here,
    thread ids are configured separately). On 127.0.0.1/localhost any ``http(s)`` URL ending in
    ``/webhooks/{id}/{token}`` is accepted, for local test servers. Raises WebhookURLError
    otherwise, with the token masked.
    """
    text = url.strip()  # a URL copied from a terminal or a .env file often carries a newline
    try:
        parts: SplitResult | None = urlsplit(text)
    except ValueError:  # e.g. an unbalanced "[" in the host
        parts = None

    def fail(problem: str) -> WebhookURLError:
        return WebhookURLError(f"{problem}: {_display(text, parts)}")

    if parts is None or not parts.scheme or not parts.netloc:
        raise fail("not a URL (expected https://discord.com/api/webhooks/<id>/<token>)")
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        raise fail("bad port in webhook URL") from None
    if parts.username is not None or parts.password is not None:
        raise fail("webhook URL must not contain a user name or password")
    if parts.fragment:
        raise fail("webhook URL must not have a #fragment")

    if host in LOCAL_HOSTS:
        if scheme not in ("http", "https"):
            raise fail("webhook URL must start with http:// or https://")
        path_re, id_re, token_re = _LOCAL_PATH, _LOCAL_ID, _LOCAL_TOKEN
        shape = "http(s)://localhost[:port]/…/webhooks/<id>/<token>"
    elif host in DISCORD_HOSTS:
        if scheme != "https":
            raise fail("Discord webhook URL must start with https://")
        if port not in (None, 443):
            raise fail("Discord webhook URL must not name a port")
        path_re, id_re, token_re = _DISCORD_PATH, _DISCORD_ID, _DISCORD_TOKEN
        shape = "https://discord.com/api/webhooks/<id>/<token>"
    else:
        raise fail(
            "not a Discord webhook URL (host must be one of "
            + ", ".join(sorted(DISCORD_HOSTS))
            + ", or localhost for a test server)"
        )

    match = path_re.fullmatch(parts.path)
    if match is None:
        raise fail(f"not a webhook path (expected {shape})")
    webhook_id, token = match["id"], match["token"]
    if not id_re.fullmatch(webhook_id):
        what = "17–20 digits" if id_re is _DISCORD_ID else "digits"
        raise fail(f"webhook id must be {what}")
    if not token_re.fullmatch(token):
        what = "20–100" if token_re is _DISCORD_TOKEN else "1–100"
        raise fail(f"webhook token must be {what} characters of letters, digits, '_' or '-'")
    return WebhookAddress(webhook_id, token)


def mask_url(text: str) -> str:
    """``text`` (a log line, an exception message) with every webhook token replaced by ****.

    The id is shortened to its first three digits so the result reads like ``masked``.
    """

    def hide(m: re.Match[str]) -> str:
        return f"{m['prefix']}{m['id'][:3]}…/{MASKED_TOKEN}"

    return _TEXT_WEBHOOK.sub(hide, text)


class TokenMaskingFilter(logging.Filter):
    """Masks webhook tokens in every record it sees: the one filter, on the CLI's log handler
    (whoever logged the line) and on urllib3's loggers (at DEBUG they log each request line,
    and a webhook request's path holds the token)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record is the logging module's problem, not ours
            return True
        masked = mask_url(text)
        if masked != text:
            record.msg, record.args = masked, None
        return True
