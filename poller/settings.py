"""The configuration as frozen values, and ``ConfigError``.

Each field that is a config key declares how it is written (``metadata=key(...)``, see
:mod:`poller.config_keys`); its default is the field's default. Reading the file (TOML, ``.env``,
``${VAR}``, checks) is :mod:`poller.config`, which imports this module and never the other way
round: ``from poller.config import load_settings``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import get_args

from notifier.webhook import WebhookAddress, mask_url
from poller.config_keys import key
from poller.events import PLAYER_EVENT_KINDS, EventKind
from poller.names import CONFIG_MODES, DEFAULT_MODE, normalize_name
from poller.periods import CALENDAR_KINDS, WEEKDAYS
from poller.redact import mask_dsn
from poller.rules import Rules

DEFAULT_CONFIG = "osrs-notify.toml"
EXAMPLE_CONFIG = "config/osrs-notify.example.toml"

EVENT_KINDS: tuple[str, ...] = get_args(EventKind)
PRICE_WINDOWS: tuple[str, ...] = ("1h", "5m")
WEBHOOK_FORMATS: tuple[str, ...] = ("embed", "text")
SCHEDULES: tuple[str, ...] = ("adaptive", "uniform")

# Shorter than this, an interval would only hammer the APIs (`run` has hidden options for tests).
MIN_INTERVAL = timedelta(minutes=1)


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


# ------------------------------------------------------------------------------ the values


@dataclass(frozen=True, slots=True)
class PollSettings:
    interval: timedelta = field(
        default=timedelta(hours=1), metadata=key("duration", lo=MIN_INTERVAL)
    )
    concurrency: int = field(default=4, metadata=key("int", lo=1, hi=64))
    # Hiscores requests per minute; Jagex publishes none, so be gentle.
    rate_limit: int = field(default=60, metadata=key("int", lo=1, hi=6000, env="OSRS_RATE_LIMIT"))
    cache_ttl: int = field(  # seconds
        default=300, metadata=key("int", lo=0, hi=86400, env="OSRS_CACHE_TTL")
    )
    timeout: float = field(default=10.0, metadata=key("float", lo=0.1, hi=300))  # per request
    retries: int = field(default=3, metadata=key("int", lo=0, hi=10))
    # Consecutive 404 polls before a player is called missing.
    missing_after: int = field(default=3, metadata=key("int", lo=1, hi=100))
    # Activity-aware polling (poller.adaptive): `run` and `poll --due` poll players likely to
    # have changed often and idle ones rarely, within a budget of hiscores requests.
    schedule: str = field(default="adaptive", metadata=key("choice", choices=SCHEDULES))
    min_interval: timedelta = field(
        default=timedelta(minutes=5), metadata=key("duration", lo=MIN_INTERVAL)
    )
    max_interval: timedelta = field(
        default=timedelta(days=1), metadata=key("duration", lo=MIN_INTERVAL)
    )
    # Requests per hour, averaged over a day; 0: what uniform polling at `interval` spends.
    budget: int = field(default=0, metadata=key("int", lo=0, hi=360_000))


@dataclass(frozen=True, slots=True)
class PriceSettings:
    interval: timedelta = field(
        default=timedelta(minutes=5), metadata=key("duration", lo=MIN_INTERVAL)
    )
    window: str = field(default="1h", metadata=key("choice", choices=PRICE_WINDOWS))


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    name: str
    # As written after ${} expansion; "" = not configured. Holds the token, so kept out of repr
    # (``address`` shows the masked form).
    url: str = field(default="", repr=False, metadata=key("custom"))
    address: WebhookAddress | None = None
    events: frozenset[str] = field(
        default=frozenset(PLAYER_EVENT_KINDS), metadata=key("custom")
    )
    players: tuple[str, ...] = field(default=("*",), metadata=key("custom"))
    exclude: tuple[str, ...] = field(default=(), metadata=key("custom"))
    username: str | None = field(default=None, metadata=key("custom"))
    avatar_url: str | None = field(default=None, metadata=key("custom"))
    thread_id: str | None = field(default=None, metadata=key("custom"))
    format: str = field(default="embed", metadata=key("choice", choices=WEBHOOK_FORMATS))
    templates: Mapping[str, str] = field(default_factory=dict, metadata=key("custom"))

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
    name: str = field(metadata=key("custom"))
    # "auto": the account type is detected from the boards; any other mode is that board.
    mode: str = field(default=DEFAULT_MODE, metadata=key("choice", choices=CONFIG_MODES))
    # None = every webhook that takes player events
    webhooks: tuple[str, ...] | None = field(default=None, metadata=key("custom"))

    def __post_init__(self) -> None:
        if self.webhooks is not None:
            object.__setattr__(self, "webhooks", tuple(self.webhooks))

    @property
    def key(self) -> str:
        return normalize_name(self.name)


@dataclass(frozen=True, slots=True)
class WatchSettings:
    item: str | int = field(metadata=key("custom"))
    above: int | None = field(default=None, metadata=key("int", lo=1))
    below: int | None = field(default=None, metadata=key("int", lo=1))
    change_pct: float | None = field(default=None, metadata=key("custom"))
    cooldown: timedelta = field(default=timedelta(hours=6), metadata=key("duration"))
    # Resolved at load: the watch's own, else [prices].window.
    window: str = field(default="1h", metadata=key("choice", choices=PRICE_WINDOWS))
    # Resolved at load: default every webhook taking "price".
    webhooks: tuple[str, ...] = field(default=(), metadata=key("custom"))

    def __post_init__(self) -> None:
        object.__setattr__(self, "webhooks", tuple(self.webhooks))


@dataclass(frozen=True, slots=True)
class DigestSettings:
    """A ``[[digest]]``: the clan's gains over each calendar period, posted once it ends."""

    name: str = field(metadata=key("custom"))
    every: str = field(default="week", metadata=key("choice", choices=CALENDAR_KINDS))
    # Local time (config ``timezone``) the periods turn over at, and the weekday weeks begin
    # on (None: the config's ``week_start``; resolved at load).
    at: time = field(default=time(0), metadata=key("custom"))
    weekday: str | None = field(default=None, metadata=key("choice", choices=WEEKDAYS))
    metrics: tuple[str, ...] = field(default=("overall", "bosses"), metadata=key("custom"))
    top: int = field(default=10, metadata=key("int", lo=1, hi=25))
    # Resolved at load: default every webhook that takes player events.
    webhooks: tuple[str, ...] = field(default=(), metadata=key("custom"))
    chart: bool = field(default=True, metadata=key("bool"))
    live: bool = field(default=False, metadata=key("bool"))

    def __post_init__(self) -> None:
        object.__setattr__(self, "metrics", tuple(self.metrics))
        object.__setattr__(self, "webhooks", tuple(self.webhooks))


RANDOM_METRICS: tuple[str, ...] = ("random_skill", "random_boss")


@dataclass(frozen=True, slots=True)
class CompetitionSettings:
    """A ``[[competition]]``: one-off (``start``/``end``) or recurring (``every``), on one metric
    or the sum of several (``metrics``; ``random_skill``/``random_boss`` pick one per round)."""

    name: str = field(metadata=key("custom"))
    # Gains keys (poller.gains) or one of RANDOM_METRICS; ``metric = "x"`` is ``metrics = ["x"]``.
    metrics: tuple[str, ...] = field(default=(), metadata=key("custom"))
    # One-off: aware UTC instants, written as local date-times in the config's timezone.
    start: datetime | None = field(default=None, metadata=key("custom"))
    end: datetime | None = field(default=None, metadata=key("custom"))
    # Recurring: a round per calendar period, turning over at ``weekday``/``at``.
    every: str | None = field(default=None, metadata=key("choice", choices=CALENDAR_KINDS))
    weekday: str | None = field(default=None, metadata=key("choice", choices=WEEKDAYS))
    at: time = field(default=time(0), metadata=key("custom"))
    # Normalised names; () = every configured player.
    players: tuple[str, ...] = field(default=(), metadata=key("custom"))
    webhooks: tuple[str, ...] = field(default=(), metadata=key("custom"))
    lead: timedelta = field(default=timedelta(hours=24), metadata=key("duration"))
    reminders: tuple[timedelta, ...] = field(
        default=(timedelta(hours=24), timedelta(hours=1)), metadata=key("custom")
    )
    top: int = field(default=10, metadata=key("int", lo=3, hi=25))
    chart: bool = field(default=True, metadata=key("bool"))

    def __post_init__(self) -> None:
        for name in ("metrics", "players", "webhooks", "reminders"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    @property
    def recurring(self) -> bool:
        return self.every is not None


@dataclass(frozen=True, slots=True)
class Settings:
    path: Path = Path(DEFAULT_CONFIG)
    base_dir: Path = Path(".")
    # May hold a password: kept out of repr (``database_display`` is the masked form).
    database_url: str = field(
        default="sqlite:///osrs-notify.db", repr=False, metadata=key("custom", name="database")
    )
    redis_url: str = field(default="", repr=False, metadata=key("custom", name="redis"))
    timezone: str = field(default="UTC", metadata=key("custom"))
    # The day calendar weeks begin on, in ``timezone`` (`gains --period week`).
    week_start: str = field(default="monday", metadata=key("choice", choices=WEEKDAYS))
    contact: str = field(default="", metadata=key("str"))
    redis_prefix: str = field(default="osrs", metadata=key("custom"))
    poll: PollSettings = field(default_factory=PollSettings, metadata=key("custom"))
    prices: PriceSettings = field(default_factory=PriceSettings, metadata=key("custom"))
    webhooks: Mapping[str, WebhookSettings] = field(default_factory=dict, metadata=key("custom"))
    rules: Rules = field(default_factory=Rules, metadata=key("custom"))
    players: tuple[PlayerSettings, ...] = field(default=(), metadata=key("custom"))
    watch: tuple[WatchSettings, ...] = field(default=(), metadata=key("custom"))
    digests: tuple[DigestSettings, ...] = field(
        default=(), metadata=key("custom", name="digest")
    )
    competitions: tuple[CompetitionSettings, ...] = field(
        default=(), metadata=key("custom", name="competition")
    )
    # From the environment only (no config key): where the APIs are, and the hiscores API key.
    api_endpoint: str = "https://secure.runescape.com"
    prices_endpoint: str = "https://prices.runescape.wiki/api/v1/osrs"
    api_key: str | None = field(default=None, repr=False)
    discord_api_base: str = "https://discord.com/api/v10"
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
        object.__setattr__(self, "digests", tuple(self.digests))
        object.__setattr__(self, "competitions", tuple(self.competitions))
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
