"""Reading the configuration: one TOML file plus the environment (and a ``.env`` beside the file),
turned into the frozen values of :mod:`poller.settings`.

Strict on purpose: an unknown key or a bad value is a ``ConfigError`` naming the file, the key and
what is allowed, because a typo in a cron-run config otherwise shows up days later as "it never
announced anything". The loader keeps going where it safely can, so ``check`` can list every
problem. The one thing that is *not* an error at load time is a ``${VAR}`` that is not set: the
example config must run on a fresh machine, and ``check`` reports ``unset_vars``.

``${VAR}`` is expanded here; the tables are read by :mod:`poller.config_tables`, value by value
with :mod:`poller.config_reader`. Nothing here imports this module back.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from poller.config_keys import allowed_keys, default_of
from poller.config_reader import join_key, parse_duration
from poller.config_schedules import ScheduleTables
from poller.config_tables import Tables
from poller.names import normalize_name
from poller.settings import (
    DEFAULT_CONFIG,
    EXAMPLE_CONFIG,
    ConfigError,
    PollSettings,
    PriceSettings,
    Settings,
    WebhookSettings,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on 3.10
    import tomli as tomllib

__all__ = ["ConfigError", "default_settings", "load_settings", "parse_duration",
           "resolve_config_path"]

_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EXPANSION_FAILED = object()
# The keys whose ${VAR} is expanded: secrets and addresses. Everywhere else it is an error.
_EXPANDED_KEYS = re.compile(r'database|redis|webhooks\.(?:[A-Za-z0-9_-]+|"[^"]*")\.url')
# Where the APIs are: only from the environment, defaulting to the Settings fields.
_ENDPOINTS = {
    "api_endpoint": "OSRS_API_ENDPOINT",
    "prices_endpoint": "OSRS_PRICES_ENDPOINT",
    "discord_api_base": "DISCORD_API_BASE",
}


# ---------------------------------------------------------------------------- entry points


def resolve_config_path(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Path:
    """Explicit path, else ``$OSRS_NOTIFY_CONFIG``, else ``./osrs-notify.toml``."""
    env = os.environ if environ is None else environ
    chosen = path if path not in (None, "") else (env.get("OSRS_NOTIFY_CONFIG") or DEFAULT_CONFIG)
    return Path(chosen).expanduser()


def load_settings(
    path: str | Path | None = None, *, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read the config file (and the ``.env`` beside it) into Settings.

    ``environ`` defaults to ``os.environ`` and is never modified; it wins over ``.env``.
    Raises ConfigError (every problem found in ``.problems``).
    """
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


def default_settings(*, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings with no config file: defaults plus environment overrides (for `lookup`)."""
    env = os.environ if environ is None else environ
    return _Loader(Path.cwd() / DEFAULT_CONFIG, env, set()).load({})


# ------------------------------------------------------------------------------- the loader

# ------------------------------------------------------------------------------- the loader


class _Loader(Tables, ScheduleTables):
    """Expands ``${VAR}`` and turns the document into Settings, collecting problems."""

    # -- ${VAR} expansion

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
            return {k: self.expand(v, join_key(key, k)) for k, v in value.items()}
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

    # -- the document

    def load(self, doc: dict[str, Any]) -> Settings:
        allowed = allowed_keys(Settings)
        for k in doc:
            if k not in allowed:  # report every stray top-level key, then ignore them
                self.collect(lambda k=k: self.unknown_key("", k, allowed), None)
        doc = self.expand_all({k: v for k, v in doc.items() if k in allowed})

        def default(name: str) -> Any:
            return default_of(Settings, name)

        database_url = self.collect(lambda: self.database(doc.get("database")),
                                    default("database_url"))
        redis_url = self.collect(lambda: self.redis(doc.get("redis")), default("redis_url"))
        timezone = self.collect(
            lambda: self.timezone(doc.get("timezone", default("timezone"))), default("timezone")
        )
        week_start = self.collect(
            lambda: self.field(Settings, doc, "", "week_start"), default("week_start")
        )
        contact = self.collect(
            lambda: self.field(Settings, doc, "", "contact"), default("contact")
        )
        prefix = self.collect(
            lambda: self.redis_prefix(doc.get("redis_prefix", default("redis_prefix"))),
            default("redis_prefix"),
        )
        poll = self.collect(lambda: self.poll(doc.get("poll", {})), PollSettings())
        prices = self.collect(lambda: self.prices(doc.get("prices", {})), PriceSettings())
        rules = self.collect(lambda: self.rules(doc.get("rules", {})), default("rules"))
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
        digests = self.collect(
            lambda: self.digests(doc.get("digest", []), webhooks, known_hooks, week_start), ()
        )
        configured = {p.key for p in players}
        competitions = self.collect(
            lambda: self.competitions(doc.get("competition", []), webhooks, known_hooks,
                                      timezone, configured), ()
        )

        urls = {
            attr: self.collect(lambda v=var, a=attr: self.env_url(v, default(a)), default(attr))
            for attr, var in _ENDPOINTS.items()
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
            week_start=week_start,
            contact=contact,
            poll=poll,
            prices=prices,
            redis_prefix=prefix,
            webhooks={name: hook for name, hook in webhooks.items()},
            rules=rules,
            players=players,
            watch=watch,
            digests=digests,
            competitions=competitions,
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
                    walk(v, join_key(key, k))
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


def _read_dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    # interpolate=False: values are taken literally (passwords contain "$"), and interpolation
    # would read os.environ behind the caller's back when `environ` is given.
    return {k: v for k, v in dotenv_values(path, interpolate=False).items() if v is not None}

