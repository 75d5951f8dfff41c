"""Reading the configuration: the TOML file, the ``.env`` beside it and the environment, expanded
(``${VAR}``), type-checked and turned into the frozen values of :mod:`poller.settings`.

Every problem is a :class:`~poller.settings.ConfigError`; the loader keeps going where it safely
can so ``check`` can list them all. Call it through ``poller.settings.load_settings`` /
``default_settings``: this module imports the value classes from there, and ``settings`` imports
this module only inside those functions, so there is no import cycle and nothing here is paid for
until a config is actually read.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Collection, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit

from notifier.webhook import WebhookURLError, parse_webhook_url
from poller import game
from poller.events import PLAYER_EVENT_KINDS
from poller.rules import CountRules, LevelRules, Rules, XpRules
from poller.settings import (
    DEFAULT_API_ENDPOINT,
    DEFAULT_CONFIG,
    DEFAULT_DATABASE,
    DEFAULT_DISCORD_API_BASE,
    DEFAULT_PRICES_ENDPOINT,
    EVENT_KINDS,
    EXAMPLE_CONFIG,
    MODES,
    PLAYER_NAME_ALLOWED,
    PRICE_WINDOWS,
    WEBHOOK_FORMATS,
    ConfigError,
    PlayerSettings,
    PollSettings,
    PriceSettings,
    Settings,
    WatchSettings,
    WebhookSettings,
    mask_dsn,
    normalize_name,
    parse_duration,
    resolve_config_path,
    validate_player_name,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on 3.10
    import tomli as tomllib

# Which rules table an override belongs in. An override put in the wrong table would be silently
# ignored by the event rules (they look bosses up in `bosses` only), so it is an error instead.
_OVERRIDE_CATEGORIES: dict[str, frozenset[game.Category]] = {
    "bosses": frozenset({game.Category.BOSS, game.Category.RAID}),
    "clues": frozenset({game.Category.CLUE}),
    "activities": frozenset(
        {game.Category.MINIGAME, game.Category.RATING, game.Category.POINTS}
    ),
}

_WEBHOOK_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REDIS_PREFIX = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_SNOWFLAKE = re.compile(r"[0-9]{1,20}")

T = TypeVar("T")


# ---------------------------------------------------------------------------- entry points


def load_file(path: str | Path | None, environ: Mapping[str, str] | None) -> Settings:
    """What ``poller.settings.load_settings`` does (see there)."""
    env = os.environ if environ is None else environ
    given = resolve_config_path(path, env)
    config = given.resolve()
    hint = f"copy {EXAMPLE_CONFIG} to {given} (or pass --config / set OSRS_NOTIFY_CONFIG)"
    try:
        data = config.read_bytes()
    except FileNotFoundError:
        raise ConfigError(given, None, f"config file not found: {hint}") from None
    except IsADirectoryError:
        raise ConfigError(given, None, "is a directory, expected a TOML file") from None
    except OSError as e:
        raise ConfigError(given, None, f"cannot read: {e.strerror}") from None
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(config, None, "not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(config, None, f"invalid TOML: {e}") from None
    except RecursionError:
        raise ConfigError(config, None, "invalid TOML: nested too deeply") from None

    dotenv = _read_dotenv(config.parent / ".env")
    merged = {**dotenv, **env}
    real_keys = set(env)
    try:
        return _Loader(config, merged, {k for k in dotenv if k not in real_keys}).load(doc)
    except RecursionError:  # a document tomllib could read but is too deep to walk
        raise ConfigError(config, None, "nested too deeply to read") from None


def load_defaults(environ: Mapping[str, str] | None) -> Settings:
    """What ``poller.settings.default_settings`` does (see there)."""
    env = os.environ if environ is None else environ
    return _Loader(Path.cwd() / DEFAULT_CONFIG, env, set()).load({})


# ------------------------------------------------------------------------------- the loader


class _Loader:
    """Turns the expanded TOML document into Settings, collecting problems as it goes."""

    def __init__(self, path: Path, env: Mapping[str, str], dotenv_keys: Collection[str]):
        self.path = path
        self.env = env
        self.dotenv_keys = dotenv_keys
        self.problems: list[ConfigError] = []
        self.unset: dict[str, list[str]] = {}  # key path → unset variable names

    # -- error helpers

    def fail(
        self, key: str | None, problem: str, allowed: Collection[str] | str | None = None
    ) -> NoReturn:
        if key in self.unset:
            names = ", ".join(f"${{{n}}}" for n in self.unset[key])
            problem += f" ({names} is not set)"
        raise ConfigError(self.path, key, problem, allowed)

    def collect(self, fn: Callable[[], T], default: T) -> T:
        """Run one independent part of the parse; on a problem, note it and carry on."""
        try:
            return fn()
        except ConfigError as e:
            self.problems.append(e)
            return default

    def env_fail(self, var: str, problem: str, allowed: str | None = None) -> NoReturn:
        where = self.path.parent / ".env" if var in self.dotenv_keys else "environment"
        raise ConfigError(where, var, problem, allowed)

    # -- ${VAR} expansion

    def expand(self, value: Any, key: str) -> Any:
        if isinstance(value, str):
            if "${" in value and not _EXPANDED_KEYS.fullmatch(key):
                # A config someone else edits must not be able to steer a secret into a
                # message, an avatar URL Discord fetches, or a header sent to the hiscores.
                self.fail(
                    key,
                    "${…} is expanded only where a secret or an address belongs "
                    "(write $${ for a literal ${)",
                    "database, redis, webhooks.NAME.url",
                )
            return self.expand_str(value, key)
        if isinstance(value, dict):
            return {k: self.expand(v, _join(key, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.expand(v, f"{key}[{i}]") for i, v in enumerate(value)]
        return value

    def expand_str(self, text: str, key: str) -> str:
        out: list[str] = []
        i = 0
        while True:
            j = text.find("$", i)
            if j < 0:
                out.append(text[i:])
                return "".join(out)
            out.append(text[i:j])
            if text.startswith("$$", j):
                out.append("$")  # "$$" is a literal dollar
                i = j + 2
                continue
            if not text.startswith("${", j):
                out.append("$")  # a lone "$" (e.g. "costs $5") stays as written
                i = j + 1
                continue
            end = text.find("}", j)
            if end < 0:
                self.fail(key, "unterminated ${ (write $$ for a literal $)")
            body = text[j + 2 : end]
            name, sep, default = body.partition(":-")
            if not _VAR_NAME.fullmatch(name):
                self.fail(
                    key,
                    f"bad variable reference ${{{body}}}: use ${{NAME}} or ${{NAME:-default}}",
                )
            value = self.env.get(name)
            if sep:
                out.append(value if value else default)  # shell semantics: unset or empty
            elif value is None:
                self.unset.setdefault(key, []).append(name)
            else:
                out.append(value)
            i = end + 1

    # -- typed readers

    def table(self, value: Any, key: str, allowed: Collection[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(key, f"expected a table, got {_describe(value)}")
        for k in value:
            if k not in allowed:
                self.unknown_key(key, k, allowed)
        return value

    def unknown_key(self, key: str, k: str, allowed: Collection[str]) -> NoReturn:
        hint = _suggest(k, allowed)
        self.fail(
            _join(key, k),
            "unknown key" + (f"; did you mean {hint!r}?" if hint else ""),
            sorted(allowed),
        )

    def int_(self, value: Any, key: str, lo: int, hi: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"expected an integer, got {_describe(value)}")
        return self.bounded(value, key, lo, hi)

    def bounded(self, value: T, key: str, lo: Any, hi: Any = None) -> T:
        if value < lo or (hi is not None and value > hi):  # type: ignore[operator]
            bound = f"{lo}..{hi}" if hi is not None else f">= {lo}"
            self.fail(key, f"{value} is out of range", bound)
        return value

    def float_(self, value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(key, f"expected a number, got {_describe(value)}")
        return float(value)

    def bool_(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            self.fail(key, f"expected true or false, got {_describe(value)}")
        return value

    def str_(self, value: Any, key: str) -> str:
        if not isinstance(value, str):
            self.fail(key, f"expected a string, got {_describe(value)}")
        return value

    def choice(self, value: Any, key: str, allowed: Collection[str]) -> str:
        text = self.str_(value, key)
        if text not in allowed:
            hint = _suggest(text, allowed)
            self.fail(
                key,
                f"{text!r} is not allowed" + (f"; did you mean {hint!r}?" if hint else ""),
                allowed,
            )
        return text

    def str_list(self, value: Any, key: str) -> list[str]:
        if not isinstance(value, list):
            self.fail(key, f"expected a list of strings, got {_describe(value)}")
        return [self.str_(v, f"{key}[{i}]") for i, v in enumerate(value)]

    def duration(self, value: Any, key: str, minimum: timedelta = timedelta(0)) -> timedelta:
        allowed = 'a duration such as "90s", "15m", "1h30m", "1d"'
        if not isinstance(value, str):
            self.fail(key, f"expected a duration string, got {_describe(value)}", allowed)
        try:
            result = parse_duration(value)
        except ValueError:
            self.fail(key, f"{value!r} is not a duration", allowed)
        if result < minimum:
            self.fail(key, f"{value!r} is too short", f">= {_fmt_duration(minimum)}")
        return result

    def http_url(self, value: Any, key: str) -> str:
        text = self.str_(value, key)
        try:
            parts = urlsplit(text)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            self.fail(key, f"{text!r} is not an http(s) URL")
        return text

    # -- env overrides

    def env_value(self, var: str) -> str | None:
        value = self.env.get(var)
        return value if value else None  # an empty variable counts as unset (docker, systemd)

    def env_int(self, var: str, current: int, lo: int, hi: int) -> int:
        raw = self.env_value(var)
        if raw is None:
            return current
        try:
            value = int(raw.strip().replace("_", ""))
        except ValueError:
            self.env_fail(var, f"{raw!r} is not an integer", f"{lo}..{hi}")
        if not lo <= value <= hi:
            self.env_fail(var, f"{value} is out of range", f"{lo}..{hi}")
        return value

    def env_url(self, var: str, default: str) -> str:
        raw = self.env_value(var)
        if raw is None:
            return default
        try:
            parts = urlsplit(raw.strip())
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            self.env_fail(var, f"{raw!r} is not an http(s) URL")
        if var == "DISCORD_API_BASE" and parts.scheme == "http" and not _loopback(parts.hostname):
            # Every webhook token travels in this URL's path: in clear text only to a local
            # stand-in (a test server, a proxy on this machine), never across a network.
            self.env_fail(var, f"{raw.strip()!r} is plain http to another machine",
                          "https://…, or http:// to 127.0.0.1, ::1 or localhost")
        return raw.strip().rstrip("/")

    # -- sections

    def load(self, doc: dict[str, Any]) -> Settings:
        allowed = (
            "database", "redis", "timezone", "contact", "redis_prefix",
            "poll", "prices", "webhooks", "rules", "players", "watch",
        )
        for k in doc:
            if k not in allowed:  # report every stray top-level key, then ignore them
                self.collect(lambda k=k: self.unknown_key("", k, allowed), None)
        doc = self.expand_all({k: v for k, v in doc.items() if k in allowed})

        database_url = self.collect(lambda: self.database(doc.get("database")), DEFAULT_DATABASE)
        redis_url = self.collect(lambda: self.redis(doc.get("redis")), "")
        timezone = self.collect(lambda: self.timezone(doc.get("timezone", "UTC")), "UTC")
        contact = self.collect(lambda: self.str_(doc.get("contact", ""), "contact"), "")
        prefix = self.collect(lambda: self.redis_prefix(doc.get("redis_prefix", "osrs")), "osrs")
        poll = self.collect(lambda: self.poll(doc.get("poll", {})), PollSettings())
        prices = self.collect(lambda: self.prices(doc.get("prices", {})), PriceSettings())
        rules = self.collect(lambda: self.rules(doc.get("rules", {})), Rules())
        players, indexed_players = self.collect(
            lambda: self.players(doc.get("players", [])), ((), ())
        )
        # Every name written under [[players]], even in a table with other problems, so a
        # webhook naming that player isn't reported a second time.
        written = {
            normalize_name(p["name"])
            for p in (doc.get("players") if isinstance(doc.get("players"), list) else [])
            if isinstance(p, dict) and isinstance(p.get("name"), str)
        }
        webhooks, broken_hooks = self.webhooks(doc.get("webhooks", {}), written)
        known_hooks = set(webhooks) | broken_hooks
        for index, player in indexed_players:
            self.collect(
                lambda i=index, p=player: self.player_webhooks(i, p, webhooks, known_hooks), None
            )
        watch = self.collect(
            lambda: self.watches(doc.get("watch", []), prices, webhooks, known_hooks), ()
        )

        endpoints = {
            "api_endpoint": ("OSRS_API_ENDPOINT", DEFAULT_API_ENDPOINT),
            "prices_endpoint": ("OSRS_PRICES_ENDPOINT", DEFAULT_PRICES_ENDPOINT),
            "discord_api_base": ("DISCORD_API_BASE", DEFAULT_DISCORD_API_BASE),
        }
        urls = {
            attr: self.collect(lambda v=var, d=default: self.env_url(v, d), default)
            for attr, (var, default) in endpoints.items()
        }

        self.collect(lambda: self.no_tokens_outside_urls(doc, webhooks), None)
        if self.problems:
            first = self.problems[0]
            first.problems = tuple(self.problems)
            raise first

        unset = tuple(f"{name} ({key})" for key, names in self.unset.items() for name in names)
        return Settings(
            path=self.path,
            base_dir=self.path.parent,
            database_url=database_url,
            redis_url=redis_url,
            timezone=timezone,
            contact=contact,
            poll=poll,
            prices=prices,
            redis_prefix=prefix,
            webhooks={name: hook for name, hook in webhooks.items()},
            rules=rules,
            players=players,
            watch=watch,
            api_key=self.env_value("OSRS_API_KEY"),
            unset_vars=unset,
            **urls,
        )

    def no_tokens_outside_urls(
        self, doc: Mapping[str, Any], webhooks: Mapping[str, WebhookSettings]
    ) -> None:
        """A webhook's token may travel only in its own request path: refuse a config that
        writes it anywhere else (a template, a username, an avatar URL, the contact)."""
        # Real tokens are 68 characters; a very short test token would match ordinary words.
        tokens = {
            h.address.token: name
            for name, h in webhooks.items()
            if h.address is not None and len(h.address.token) >= 16
        }
        if not tokens:
            return

        def walk(value: Any, key: str) -> None:
            if isinstance(value, str):
                if _EXPANDED_KEYS.fullmatch(key) and key.startswith("webhooks."):
                    return
                for token, name in tokens.items():
                    if token in value:
                        self.fail(key, f"holds webhook {name!r}'s token, which may only be "
                                       "sent in that webhook's request path")
            elif isinstance(value, dict):
                for k, v in value.items():
                    walk(v, _join(key, k))
            elif isinstance(value, list):
                for i, v in enumerate(value):
                    walk(v, f"{key}[{i}]")

        walk(dict(doc), "")

    def expand_all(self, doc: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in doc.items():
            # Per top-level key so one bad reference doesn't hide the problems elsewhere.
            out[k] = self.collect(lambda k=k, v=v: self.expand(v, k), _EXPANSION_FAILED)
        return {k: v for k, v in out.items() if v is not _EXPANSION_FAILED}

    def database(self, value: Any) -> str:
        key = "database"
        raw = self.env_value("DATABASE_URL")
        if raw is not None:
            key = "DATABASE_URL"
            try:
                return self.database_url(raw.strip(), key)
            except ConfigError as e:
                self.env_fail("DATABASE_URL", e.problem, e.allowed)
        return self.database_url(DEFAULT_DATABASE if value is None else self.str_(value, key), key)

    def database_url(self, url: str, key: str) -> str:
        allowed = "sqlite:///relative.db, sqlite:////absolute.db, postgresql://…, postgres://…"
        if url.startswith(("postgresql://", "postgres://")):
            return url
        if not url.startswith("sqlite:///"):
            shown = mask_dsn(url) or "an empty string"
            self.fail(key, f"unsupported database URL {shown!r}", allowed)
        rest = url[len("sqlite:///") :]
        path_part, sep, query = rest.partition("?")
        if path_part in ("", ":memory:"):
            if not path_part:
                self.fail(key, "sqlite URL names no file", allowed)
            return url
        target = Path(path_part).expanduser()
        # Relative to the config file, not the working directory: cron starts us in $HOME.
        if not target.is_absolute():
            target = self.path.parent / target
        return f"sqlite:///{target.resolve().as_posix()}" + (f"?{query}" if sep else "")

    def redis(self, value: Any) -> str:
        raw = self.env_value("REDIS_URL")
        allowed = "redis://…, rediss://…, unix://…, or \"\" for none"
        if raw is not None:
            if not raw.strip().startswith(("redis://", "rediss://", "unix://")):
                self.env_fail("REDIS_URL", f"unsupported URL {mask_dsn(raw)!r}", allowed)
            return raw.strip()
        url = "" if value is None else self.str_(value, "redis")
        if url and not url.startswith(("redis://", "rediss://", "unix://")):
            self.fail("redis", f"unsupported URL {mask_dsn(url)!r}", allowed)
        return url

    def timezone(self, value: Any) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        name = self.str_(value, "timezone")
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            from zoneinfo import available_timezones

            hint = _suggest(name, available_timezones())
            self.fail(
                "timezone",
                f"unknown time zone {name!r}" + (f"; did you mean {hint!r}?" if hint else ""),
                "IANA names such as UTC, Europe/London, America/New_York",
            )
        return name

    def redis_prefix(self, value: Any) -> str:
        text = self.str_(value, "redis_prefix")
        if not _REDIS_PREFIX.fullmatch(text):
            self.fail(
                "redis_prefix", f"{text!r} is not allowed", "1–64 of letters, digits, _ . : -"
            )
        return text

    def poll(self, value: Any) -> PollSettings:
        d = PollSettings()
        t = self.table(
            value,
            "poll",
            ("interval", "concurrency", "rate_limit", "cache_ttl", "timeout", "retries",
             "missing_after"),
        )
        interval = d.interval
        if "interval" in t:
            interval = self.duration(t["interval"], "poll.interval", timedelta(minutes=1))
        rate_limit = self.int_(t.get("rate_limit", d.rate_limit), "poll.rate_limit", 1, 6000)
        cache_ttl = self.int_(t.get("cache_ttl", d.cache_ttl), "poll.cache_ttl", 0, 86400)
        timeout = self.float_(t.get("timeout", d.timeout), "poll.timeout")
        self.bounded(timeout, "poll.timeout", 0.1, 300)
        return PollSettings(
            interval=interval,
            concurrency=self.int_(t.get("concurrency", d.concurrency), "poll.concurrency", 1, 64),
            rate_limit=self.env_int("OSRS_RATE_LIMIT", rate_limit, 1, 6000),
            cache_ttl=self.env_int("OSRS_CACHE_TTL", cache_ttl, 0, 86400),
            timeout=timeout,
            retries=self.int_(t.get("retries", d.retries), "poll.retries", 0, 10),
            missing_after=self.int_(
                t.get("missing_after", d.missing_after), "poll.missing_after", 1, 100
            ),
        )

    def prices(self, value: Any) -> PriceSettings:
        d = PriceSettings()
        t = self.table(value, "prices", ("interval", "window"))
        interval = d.interval
        if "interval" in t:
            interval = self.duration(t["interval"], "prices.interval", timedelta(minutes=1))
        window = self.choice(t.get("window", d.window), "prices.window", PRICE_WINDOWS)
        return PriceSettings(interval=interval, window=window)

    def rules(self, value: Any) -> Rules:
        d = Rules()
        t = self.table(value, "rules", ("levels", "xp", "bosses", "clues", "activities"))
        levels = d.levels
        if "levels" in t:
            lt = self.table(
                t["levels"], "rules.levels", ("min_level", "every", "every_from", "virtual")
            )
            dl = d.levels
            levels = LevelRules(
                min_level=self.int_(lt.get("min_level", dl.min_level), "rules.levels.min_level",
                                    1, 126),
                every=self.int_(lt.get("every", dl.every), "rules.levels.every", 1),
                every_from=self.int_(lt.get("every_from", dl.every_from),
                                     "rules.levels.every_from", 1, 127),
                virtual=self.bool_(lt.get("virtual", dl.virtual), "rules.levels.virtual"),
            )
        xp = d.xp
        if "xp" in t:
            xt = self.table(t["xp"], "rules.xp", ("every_after_99",))
            xp = XpRules(
                every_after_99=self.int_(
                    xt.get("every_after_99", d.xp.every_after_99), "rules.xp.every_after_99", 0
                )
            )
        counts = {
            name: self.count_rules(t[name], name, getattr(d, name)) if name in t
            else getattr(d, name)
            for name in ("bosses", "clues", "activities")
        }
        return Rules(levels=levels, xp=xp, **counts)

    def count_rules(self, value: Any, section: str, default: CountRules) -> CountRules:
        key = f"rules.{section}"
        t = self.table(value, key, ("every", "overrides"))
        every = self.int_(t.get("every", default.every), f"{key}.every", 0)
        overrides: dict[str, int] = {}
        raw = t.get("overrides", {})
        if not isinstance(raw, dict):
            self.fail(f"{key}.overrides", f"expected a table of name = count, got {_describe(raw)}")
        by_lower = {name.lower(): name for name in game.ACTIVITIES}
        fits = _OVERRIDE_CATEGORIES[section]
        for name, step in raw.items():
            okey = _join(f"{key}.overrides", name)
            canonical = by_lower.get(name.lower())
            if canonical is None:
                close = _close(name, game.ACTIVITIES, n=3)
                self.fail(
                    okey,
                    f"unknown hiscores name {name!r}"
                    + (f"; did you mean {' or '.join(map(repr, close))}?" if close else ""),
                    "names as on the hiscores, e.g. 'TzKal-Zuk', 'Clue Scrolls (all)'",
                )
            category = game.ACTIVITIES[canonical]
            if category not in fits:
                home = next(s for s, cats in _OVERRIDE_CATEGORIES.items() if category in cats)
                self.fail(okey, f"{canonical!r} is not one of the {section}; "
                                f"put it under rules.{home}.overrides")
            overrides[canonical] = self.int_(step, okey, 1)
        return CountRules(every=every, overrides=overrides)

    def players(
        self, value: Any
    ) -> tuple[tuple[PlayerSettings, ...], tuple[tuple[int, PlayerSettings], ...]]:
        """The players, and each with its index in the file (for error key paths)."""
        if not isinstance(value, list):
            self.fail("players", f"expected [[players]] tables, got {_describe(value)}")
        players: list[PlayerSettings] = []
        indexed: list[tuple[int, PlayerSettings]] = []
        seen: dict[str, str] = {}
        for i, raw in enumerate(value):
            key = f"players[{i}]"
            player = self.collect(lambda raw=raw, key=key: self.player(raw, key), None)
            if player is None:
                continue
            if player.key in seen:
                self.collect(lambda p=player, key=key: self.fail(
                    f"{key}.name",
                    f"player {p.name!r} is listed twice (same player as {seen[p.key]!r}: "
                    "case, '_', '-' and spaces do not matter on the hiscores)",
                ), None)
                continue
            seen[player.key] = player.name
            players.append(player)
            indexed.append((i, player))
        return tuple(players), tuple(indexed)

    def player(self, raw: Any, key: str) -> PlayerSettings:
        t = self.table(raw, key, ("name", "mode", "webhooks"))
        if "name" not in t:
            self.fail(f"{key}.name", "missing: every [[players]] needs a name")
        name = self.str_(t["name"], f"{key}.name")
        problem = validate_player_name(name)
        if problem:
            self.fail(f"{key}.name", f"player name {name!r} {problem}", PLAYER_NAME_ALLOWED)
        mode = self.choice(t.get("mode", "regular"), f"{key}.mode", MODES)
        hooks = None
        if "webhooks" in t:
            hooks = tuple(self.str_list(t["webhooks"], f"{key}.webhooks"))
        return PlayerSettings(name=name, mode=mode, webhooks=hooks)

    def webhooks(
        self, value: Any, known: set[str]
    ) -> tuple[dict[str, WebhookSettings], set[str]]:
        """Returns the good webhooks and the names of broken ones (so references to a broken
        webhook aren't reported a second time as "unknown")."""
        good: dict[str, WebhookSettings] = {}
        broken: set[str] = set()
        if not isinstance(value, dict):
            self.collect(lambda: self.fail("webhooks", f"expected [webhooks.NAME] tables, got "
                                                       f"{_describe(value)}"), None)
            return good, broken
        for name, raw in value.items():
            hook = self.collect(lambda n=name, r=raw: self.webhook(n, r, known), None)
            if hook is None:
                broken.add(name)
            else:
                good[name] = hook
        return good, broken

    def webhook(self, name: str, raw: Any, known_players: set[str]) -> WebhookSettings:
        key = _join("webhooks", name)
        if not _WEBHOOK_NAME.fullmatch(name):
            self.fail(key, f"webhook name {name!r} is not allowed",
                      "1–32 letters, digits, '_' or '-'")
        allowed = ("url", "events", "players", "exclude", "username", "avatar_url", "thread_id",
                   "format", "templates")
        t = self.table(raw, key, allowed)
        if "url" not in t:
            self.fail(f"{key}.url", 'missing (write url = "${SOME_WEBHOOK_URL}" and set it in '
                                    "the environment or .env)")
        url = self.str_(t["url"], f"{key}.url").strip()
        address = None
        if url:
            try:
                address = parse_webhook_url(url)
            except WebhookURLError as e:
                self.fail(f"{key}.url", str(e))  # WebhookURLError's message is already masked
        events = frozenset(PLAYER_EVENT_KINDS)
        if "events" in t:
            kinds = self.str_list(t["events"], f"{key}.events")
            for i, kind in enumerate(kinds):
                self.choice(kind, f"{key}.events[{i}]", EVENT_KINDS)
            events = frozenset(kinds)
        lists = {}
        for which, default in (("players", ["*"]), ("exclude", [])):
            names = self.str_list(t.get(which, default), f"{key}.{which}")
            for i, player in enumerate(names):
                if player != "*" and normalize_name(player) not in known_players:
                    self.fail(f"{key}.{which}[{i}]", f"{player!r} is not a configured player",
                              'names from [[players]], or "*" for all')
            lists[which] = tuple(names)
        username = None
        if "username" in t:
            username = self.str_(t["username"], f"{key}.username")
            if not 1 <= len(username) <= 80:
                self.fail(f"{key}.username", "must be 1–80 characters (a Discord limit)")
        avatar = self.http_url(t["avatar_url"], f"{key}.avatar_url") if "avatar_url" in t else None
        thread_id = None
        if "thread_id" in t:
            raw_id = t["thread_id"]
            if isinstance(raw_id, int) and not isinstance(raw_id, bool):
                raw_id = str(raw_id)  # a snowflake fits TOML's 64-bit integers
            thread_id = self.str_(raw_id, f"{key}.thread_id")
            if not _SNOWFLAKE.fullmatch(thread_id):
                self.fail(f"{key}.thread_id", f"{thread_id!r} is not a Discord id", "digits")
        fmt = self.choice(t.get("format", "embed"), f"{key}.format", WEBHOOK_FORMATS)
        templates: dict[str, str] = {}
        if "templates" in t:
            tt = self.table(t["templates"], f"{key}.templates", EVENT_KINDS)
            for kind, text in tt.items():
                # Each template on its own, so every bad one is listed; the webhook itself
                # stays known (players naming it are not reported a second time).
                good = self.collect(
                    lambda k=kind, v=text: self.template(k, v, _join(f"{key}.templates", k)),
                    None,
                )
                if good is not None:
                    templates[kind] = good
        return WebhookSettings(
            name=name, url=url, address=address, events=events, players=lists["players"],
            exclude=lists["exclude"], username=username, avatar_url=avatar, thread_id=thread_id,
            format=fmt, templates=templates,
        )

    def template(self, kind: str, value: Any, key: str) -> str:
        """A text template for ``kind``, checked as ``notifier.text`` will render it: an
        unknown placeholder or a stray brace would otherwise be printed as written, to Discord."""
        from notifier.text import TEMPLATE_FIELDS, validate_template

        text = self.str_(value, key)
        problem = validate_template(kind, text)
        if problem is not None:
            fields = TEMPLATE_FIELDS.get(kind)
            if not fields:
                self.fail(key, problem)
            # The allowed placeholders go in "(allowed: ...)", not twice in one line.
            problem = problem.partition("; known: ")[0]
            self.fail(key, problem, ", ".join(f"{{{f}}}" for f in fields))
        return text

    def player_webhooks(
        self,
        index: int,
        player: PlayerSettings,
        webhooks: Mapping[str, WebhookSettings],
        known: set[str],
    ) -> None:
        if player.webhooks is None:
            return
        for j, name in enumerate(player.webhooks):
            key = f"players[{index}].webhooks[{j}]"
            if name not in known:
                self.fail(key, f"player {player.name!r}: no webhook named {name!r}",
                          sorted(known) or "none defined: add a [webhooks.NAME] table")
            hook = webhooks.get(name)
            if hook is None:
                continue  # broken webhook, already reported
            # These would silently never deliver: the player asked for a webhook that won't
            # take their events.
            if not hook.events & set(PLAYER_EVENT_KINDS):
                self.fail(key, f"player {player.name!r}: webhook {name!r} takes no player events "
                               f"(its events: {', '.join(sorted(hook.events)) or 'none'})")
            if not hook.includes(player.name):
                self.fail(key, f"player {player.name!r}: webhook {name!r} leaves this player out "
                               "(see its players/exclude)")

    def watches(
        self,
        value: Any,
        prices: PriceSettings,
        webhooks: Mapping[str, WebhookSettings],
        known: set[str],
    ) -> tuple[WatchSettings, ...]:
        if not isinstance(value, list):
            self.fail("watch", f"expected [[watch]] tables, got {_describe(value)}")
        price_hooks = tuple(n for n, h in webhooks.items() if "price" in h.events)
        out = []
        for i, raw in enumerate(value):
            w = self.collect(lambda r=raw, i=i: self.watch(r, f"watch[{i}]", prices, price_hooks,
                                                           known), None)
            if w is not None:
                out.append(w)
        return tuple(out)

    def watch(
        self,
        raw: Any,
        key: str,
        prices: PriceSettings,
        price_hooks: tuple[str, ...],
        known: set[str],
    ) -> WatchSettings:
        t = self.table(raw, key, ("item", "above", "below", "change_pct", "cooldown", "window",
                                  "webhooks"))
        if "item" not in t:
            self.fail(f"{key}.item", "missing: every [[watch]] needs an item (name or id)")
        item = t["item"]
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            self.fail(f"{key}.item", f"expected an item name or id, got {_describe(item)}")
        if isinstance(item, str):
            item = item.strip()
            if not item:
                self.fail(f"{key}.item", "empty item name")
        else:
            self.int_(item, f"{key}.item", 1)
        above = self.int_(t["above"], f"{key}.above", 1) if "above" in t else None
        below = self.int_(t["below"], f"{key}.below", 1) if "below" in t else None
        change = None
        if "change_pct" in t:
            change = self.float_(t["change_pct"], f"{key}.change_pct")
            if change <= 0:
                self.fail(f"{key}.change_pct", f"{t['change_pct']} is out of range", "> 0")
        if above is None and below is None and change is None:
            self.fail(key, f"watch on {item!r} has nothing to watch",
                      "at least one of above, below, change_pct")
        if above is not None and below is not None and above <= below:
            self.fail(f"{key}.above", f"watch on {item!r}: above ({above:,}) must be greater "
                                      f"than below ({below:,})")
        cooldown = timedelta(hours=6)
        if "cooldown" in t:
            cooldown = self.duration(t["cooldown"], f"{key}.cooldown")
        window = prices.window
        if "window" in t:
            window = self.choice(t["window"], f"{key}.window", PRICE_WINDOWS)
        hooks = price_hooks
        if "webhooks" in t:
            hooks = tuple(self.str_list(t["webhooks"], f"{key}.webhooks"))
            for j, name in enumerate(hooks):
                if name not in known:
                    self.fail(f"{key}.webhooks[{j}]", f"watch on {item!r}: no webhook named "
                                                      f"{name!r}", sorted(known) or "none defined")
        return WatchSettings(item=item, above=above, below=below, change_pct=change,
                             cooldown=cooldown, window=window, webhooks=hooks)


_EXPANSION_FAILED = object()
# The keys whose ${VAR} is expanded: secrets and addresses. Everywhere else it is an error.
_EXPANDED_KEYS = re.compile(r'database|redis|webhooks\.(?:[A-Za-z0-9_-]+|"[^"]*")\.url')


def _loopback(host: str | None) -> bool:
    import ipaddress

    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _join(prefix: str, key: str) -> str:
    # Quote keys the way TOML would need them, so the path can be searched for in the file.
    part = key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else f'"{key}"'
    return f"{prefix}.{part}" if prefix else part


def _describe(value: Any) -> str:
    kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "a list", dict: "a table"}
    what = kinds.get(type(value), type(value).__name__)
    if isinstance(value, (bool, int, float)):
        return f"{what} ({value!r})"
    if isinstance(value, str):
        return f"{what} ({value[:40]!r})"
    return what


def _close(word: str, options: Collection[str], n: int = 1) -> list[str]:
    import difflib  # only on the error path: keeps every cron start from paying for it

    lower = {o.lower(): o for o in options}
    needle = word.lower().strip()
    # A part of the name ("Zuk", "London") is the commonest slip; spelling mistakes next.
    found = [o for lo, o in lower.items() if len(needle) >= 3 and needle in lo]
    found.sort(key=len)
    for m in difflib.get_close_matches(needle, lower, n=n, cutoff=0.6):
        if lower[m] not in found:
            found.append(lower[m])
    return found[:n]


def _suggest(word: str, options: Collection[str]) -> str | None:
    close = _close(word, options)
    return close[0] if close else None


def _fmt_duration(td: timedelta) -> str:
    seconds = int(td.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _read_dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    # interpolate=False: values are taken literally (passwords contain "$"), and interpolation
    # would read os.environ behind the caller's back when `environ` is given.
    return {k: v for k, v in dotenv_values(path, interpolate=False).items() if v is not None}
