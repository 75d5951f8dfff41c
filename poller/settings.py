"""The configuration: one TOML file plus the environment (and a ``.env`` beside the file),
turned into frozen values.

Strict on purpose: an unknown key or a bad value is a ``ConfigError`` naming the file, the key and
what is allowed, because a typo in a cron-run config otherwise shows up days later as "it never
announced anything". The one thing that is *not* an error at load time is a ``${VAR}`` that is not
set: the example config must run on a fresh machine, and ``check`` reports ``unset_vars``.

This module is the public face: the values, ``ConfigError`` and the small helpers. Reading and
checking the file (``${VAR}`` expansion, ``.env``, type checks, suggestions) is in
:mod:`poller.config_loader`, which ``load_settings`` / ``default_settings`` import when called.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import get_args
from urllib.parse import urlsplit, urlunsplit

from notifier.webhook import WebhookAddress, mask_url
from poller.events import PLAYER_EVENT_KINDS, EventKind
from poller.rules import Rules

DEFAULT_CONFIG = "osrs-notify.toml"
EXAMPLE_CONFIG = "config/osrs-notify.example.toml"
DEFAULT_DATABASE = "sqlite:///osrs-notify.db"
DEFAULT_API_ENDPOINT = "https://secure.runescape.com"
DEFAULT_PRICES_ENDPOINT = "https://prices.runescape.wiki/api/v1/osrs"
DEFAULT_DISCORD_API_BASE = "https://discord.com/api/v10"

EVENT_KINDS: tuple[str, ...] = get_args(EventKind)
MODES: tuple[str, ...] = (
    "regular", "ironman", "hardcore", "ultimate", "deadman", "seasonal", "tournament",
    "fresh_start", "skiller", "defence_pure",
)
PRICE_WINDOWS: tuple[str, ...] = ("1h", "5m")
WEBHOOK_FORMATS: tuple[str, ...] = ("embed", "text")

_PLAYER_NAME = re.compile(r"[A-Za-z0-9 _-]{1,12}")
_DURATION = re.compile(
    r"\s*(?:(?P<d>\d+)\s*d)?\s*(?:(?P<h>\d+)\s*h)?\s*(?:(?P<m>\d+)\s*m)?\s*(?:(?P<s>\d+)\s*s)?\s*",
    re.IGNORECASE,
)


# --------------------------------------------------------------------------------------- errors


class ConfigError(Exception):
    """A configuration problem, as one line: ``<file>: <key.path>: <problem> (allowed: ...)``.

    ``load_settings`` keeps going after the first problem where it safely can, so ``check`` can
    list them all: ``problems`` holds every one (this error first).
    """

    def __init__(
        self,
        file: str | Path,
        key: str | None,
        problem: str,
        allowed: Collection[str] | str | None = None,
    ) -> None:
        self.file = str(file)
        self.key = key
        # Values quoted back to the user may have come from the environment: a webhook URL
        # pasted into the wrong variable must not put its token on screen.
        self.problem = mask_url(problem)
        if allowed is not None and not isinstance(allowed, str):
            allowed = ", ".join(allowed)
        self.allowed: str | None = allowed
        self.problems: tuple[ConfigError, ...] = (self,)
        super().__init__(self.line)

    @property
    def line(self) -> str:
        text = f"{self.file}: " + (f"{self.key}: " if self.key else "") + self.problem
        if self.allowed:
            text += f" (allowed: {self.allowed})"
        return text

    def __str__(self) -> str:
        more = len(self.problems) - 1
        if more:
            return f"{self.line} (+{more} more problem{'s' if more > 1 else ''})"
        return self.line


# ---------------------------------------------------------------------------- public helpers


PLAYER_NAME_ALLOWED = "1–12 letters, digits, spaces, '-' or '_'"


def validate_player_name(name: str) -> str | None:
    """Why ``name`` cannot be an OSRS display name, or None when it can."""
    if not _PLAYER_NAME.fullmatch(name):
        if not name:
            return "is empty"
        if len(name) > 12:
            return "is longer than 12 characters"
        return "has characters not allowed"
    if name != name.strip():
        return "starts or ends with a space"
    return None


def normalize_name(name: str) -> str:
    """The form under which the hiscores treat two names as the same player.

    Jagex shows "Lynx Titan", "lynx_titan" and "Lynx-Titan" as one account, so comparisons
    (duplicates, webhook player lists, routing) go through this.
    """
    return " ".join(name.replace("_", " ").replace("-", " ").lower().split())


def parse_duration(text: str) -> timedelta:
    """``"90s"``, ``"15m"``, ``"1h30m"``, ``"1d"`` → timedelta. ValueError on anything else."""
    m = _DURATION.fullmatch(text)
    if not text.strip() or m is None or not any(m.groupdict().values()):
        raise ValueError(f"not a duration: {text!r}")
    d, h, mi, s = (int(m[g] or 0) for g in ("d", "h", "m", "s"))
    return timedelta(days=d, hours=h, minutes=mi, seconds=s)


def resolve_config_path(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Path:
    """Explicit path, else ``$OSRS_NOTIFY_CONFIG``, else ``./osrs-notify.toml``."""
    env = os.environ if environ is None else environ
    chosen = path if path not in (None, "") else (env.get("OSRS_NOTIFY_CONFIG") or DEFAULT_CONFIG)
    return Path(chosen).expanduser()


def mask_dsn(url: str) -> str:
    """A database/redis URL with its password replaced by ``****``, for display."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.rsplit("@", 1)
        user = (parts.username or "") + ":****"
        return urlunsplit(parts._replace(netloc=f"{user}@{netloc[-1]}"))
    except ValueError:
        return "<unparsable URL>"


# ------------------------------------------------------------------------------ the values


@dataclass(frozen=True, slots=True)
class PollSettings:
    interval: timedelta = timedelta(hours=1)
    concurrency: int = 4
    rate_limit: int = 60  # hiscores requests per minute; Jagex publishes none, so be gentle
    cache_ttl: int = 300  # seconds
    timeout: float = 10.0  # seconds per request
    retries: int = 3
    missing_after: int = 3  # consecutive 404 polls before a player is called missing


@dataclass(frozen=True, slots=True)
class PriceSettings:
    interval: timedelta = timedelta(minutes=5)
    window: str = "1h"


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    name: str
    # As written after ${} expansion; "" = not configured. Holds the token, so kept out of repr
    # (``address`` shows the masked form).
    url: str = field(default="", repr=False)
    address: WebhookAddress | None = None
    events: frozenset[str] = frozenset(PLAYER_EVENT_KINDS)
    players: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    username: str | None = None
    avatar_url: str | None = None
    thread_id: str | None = None
    format: str = "embed"
    templates: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "events", frozenset(self.events))
        object.__setattr__(self, "players", tuple(self.players))
        object.__setattr__(self, "exclude", tuple(self.exclude))
        object.__setattr__(self, "templates", MappingProxyType(dict(self.templates)))

    @property
    def configured(self) -> bool:
        return self.address is not None

    def includes(self, player: str) -> bool:
        """Whether this webhook's players/exclude lists let ``player``'s events through."""
        key = normalize_name(player)
        if key in {normalize_name(p) for p in self.exclude} or "*" in self.exclude:
            return False
        return "*" in self.players or key in {normalize_name(p) for p in self.players}


@dataclass(frozen=True, slots=True)
class PlayerSettings:
    name: str
    mode: str = "regular"
    webhooks: tuple[str, ...] | None = None  # None = every webhook that takes player events

    def __post_init__(self) -> None:
        if self.webhooks is not None:
            object.__setattr__(self, "webhooks", tuple(self.webhooks))

    @property
    def key(self) -> str:
        return normalize_name(self.name)


@dataclass(frozen=True, slots=True)
class WatchSettings:
    item: str | int
    above: int | None = None
    below: int | None = None
    change_pct: float | None = None
    cooldown: timedelta = timedelta(hours=6)
    window: str = "1h"  # resolved at load: the watch's own, else [prices].window
    webhooks: tuple[str, ...] = ()  # resolved at load: default every webhook taking "price"

    def __post_init__(self) -> None:
        object.__setattr__(self, "webhooks", tuple(self.webhooks))


@dataclass(frozen=True, slots=True)
class Settings:
    path: Path = Path(DEFAULT_CONFIG)
    base_dir: Path = Path(".")
    database_url: str = field(default=DEFAULT_DATABASE, repr=False)  # may hold a password
    redis_url: str = field(default="", repr=False)
    timezone: str = "UTC"
    contact: str = ""
    poll: PollSettings = field(default_factory=PollSettings)
    prices: PriceSettings = field(default_factory=PriceSettings)
    redis_prefix: str = "osrs"
    webhooks: Mapping[str, WebhookSettings] = field(default_factory=dict)
    rules: Rules = field(default_factory=Rules)
    players: tuple[PlayerSettings, ...] = ()
    watch: tuple[WatchSettings, ...] = ()
    api_endpoint: str = DEFAULT_API_ENDPOINT
    prices_endpoint: str = DEFAULT_PRICES_ENDPOINT
    api_key: str | None = field(default=None, repr=False)
    discord_api_base: str = DEFAULT_DISCORD_API_BASE
    unset_vars: tuple[str, ...] = ()
    # Derived lookups, filled once: routing runs per event, and scanning every player and
    # re-normalising every name per event made a 10,000-player poll quadratic.
    _by_key: Mapping[str, PlayerSettings] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _routes: dict[tuple[str, str | None, bool], tuple[str, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "webhooks", MappingProxyType(dict(self.webhooks)))
        object.__setattr__(self, "players", tuple(self.players))
        object.__setattr__(self, "watch", tuple(self.watch))
        object.__setattr__(self, "unset_vars", tuple(self.unset_vars))
        by_key: dict[str, PlayerSettings] = {}
        for p in self.players:
            by_key.setdefault(p.key, p)
        object.__setattr__(self, "_by_key", MappingProxyType(by_key))

    @property
    def database_display(self) -> str:
        return mask_dsn(self.database_url)

    @property
    def redis_display(self) -> str:
        return mask_dsn(self.redis_url)

    def player(self, name: str) -> PlayerSettings | None:
        """The configured player with this name (compared the way the hiscores compare)."""
        return self._by_key.get(normalize_name(name))

    def route(
        self, kind: str, player: str | None, *, include_unconfigured: bool = False
    ) -> tuple[str, ...]:
        """Names of the webhooks that take an event of ``kind`` for ``player``, in file order.

        A webhook takes it when its ``events`` include ``kind``, its ``players`` include the
        player ("*" or by name), its ``exclude`` does not, and — when the player lists its own
        ``webhooks`` — it is one of those. ``player`` is None for price events (a watch's own
        webhooks are the caller's business). Webhooks without a URL are left out unless
        ``include_unconfigured``; the poll includes them (their messages are held until a URL
        is set, never dropped: see ``poller.delivery_status.sync_webhook_states``).
        """
        key = normalize_name(player) if player is not None else None
        cache_key = (kind, key, include_unconfigured)
        cached = self._routes.get(cache_key)
        if cached is not None:
            return cached
        configured = self._by_key.get(key) if key is not None else None
        own = configured.webhooks if configured is not None else None
        names = []
        for name, hook in self.webhooks.items():
            if kind not in hook.events:
                continue
            if not hook.configured and not include_unconfigured:
                continue
            if player is not None:
                if not hook.includes(player):
                    continue
                if own is not None and name not in own:
                    continue
            names.append(name)
        self._routes[cache_key] = routed = tuple(names)
        return routed


# ----------------------------------------------------------------------------- entry points


def load_settings(
    path: str | Path | None = None, *, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read the config file (and the ``.env`` beside it) into Settings.

    ``environ`` defaults to ``os.environ`` and is never modified; it wins over ``.env``.
    Raises ConfigError (every problem found in ``.problems``).
    """
    from poller.config_loader import load_file  # here, not at the top: it imports this module

    return load_file(path, environ)


def default_settings(*, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings with no config file: defaults plus environment overrides (for `lookup`)."""
    from poller.config_loader import load_defaults

    return load_defaults(environ)
