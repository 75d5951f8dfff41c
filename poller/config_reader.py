"""The typed readers the config loader is built from: one value at a time, each problem a
:class:`~poller.settings.ConfigError` naming the file, the key path and what is allowed.

``Reader.fields`` reads every key a settings dataclass declares (see :mod:`poller.config_keys`),
so the allowed keys, their defaults and their bounds come from the dataclass, never a copy.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit

from poller.config_keys import Key, config_fields, default_of, key_name
from poller.settings import ConfigError

T = TypeVar("T")

_DURATION = re.compile(
    r"\s*(?:(?P<d>\d+)\s*d)?\s*(?:(?P<h>\d+)\s*h)?\s*(?:(?P<m>\d+)\s*m)?\s*(?:(?P<s>\d+)\s*s)?\s*",
    re.IGNORECASE,
)
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
DURATION_ALLOWED = 'a duration such as "90s", "15m", "1h30m", "1d"'


def parse_duration(text: str) -> timedelta:
    """``"90s"``, ``"15m"``, ``"1h30m"``, ``"1d"`` → timedelta. ValueError on anything else."""
    m = _DURATION.fullmatch(text)
    if not text.strip() or m is None or not any(m.groupdict().values()):
        raise ValueError(f"not a duration: {text!r}")
    d, h, mi, s = (int(m[g] or 0) for g in ("d", "h", "m", "s"))
    return timedelta(days=d, hours=h, minutes=mi, seconds=s)


class Reader:
    """Reads values out of the expanded TOML document, collecting problems as it goes."""

    def __init__(self, path: Path, env: Mapping[str, str], dotenv_keys: Collection[str]):
        self.path = path
        self.env = env
        self.dotenv_keys = dotenv_keys
        self.problems: list[ConfigError] = []
        self.unset: dict[str, list[str]] = {}  # key path → unset variable names

    # -- problems

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

    # -- the keys a settings dataclass declares

    def fields(
        self,
        cls: type,
        t: Mapping[str, Any],
        prefix: str,
        only: Collection[str] = (),
        base: object | None = None,
    ) -> dict[str, Any]:
        """Field name → value for the keys of ``cls`` that are not "custom" (or just ``only``),
        in declaration order: read from ``t`` when written there, else the default (the
        field's, or ``base``'s value when the table's default differs from the class's); an
        environment variable named by the key wins over both."""
        out: dict[str, Any] = {}
        for f, spec in config_fields(cls):
            if spec.kind == "custom" or (only and f.name not in only):
                continue
            name = key_name(f, spec)
            if name in t:
                value = self.value(spec, t[name], join_key(prefix, name))
            elif base is not None:
                value = getattr(base, f.name)
            else:
                value = default_of(cls, f.name)
            if spec.env is not None:
                value = self.env_int(spec.env, value, spec.lo, spec.hi)
            out[f.name] = value
        return out

    def field(
        self, cls: type, t: Mapping[str, Any], prefix: str, name: str, base: object | None = None
    ) -> Any:
        """One key of ``cls`` (see ``fields``), for tables whose keys are checked in an order
        of their own."""
        return self.fields(cls, t, prefix, (name,), base)[name]

    def value(self, spec: Key, value: Any, key: str) -> Any:
        if spec.kind == "int":
            return self.int_(value, key, spec.lo, spec.hi)
        if spec.kind == "float":
            number = self.float_(value, key)
            return number if spec.lo is None else self.bounded(number, key, spec.lo, spec.hi)
        if spec.kind == "bool":
            return self.bool_(value, key)
        if spec.kind == "str":
            return self.str_(value, key)
        if spec.kind == "choice":
            return self.choice(value, key, spec.choices)
        if spec.kind == "duration":
            return self.duration(value, key, spec.lo or timedelta(0))
        raise TypeError(f"{key}: a {spec.kind!r} key is read by its table")

    # -- typed readers

    def table(self, value: Any, key: str, allowed: Collection[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(key, f"expected a table, got {describe(value)}")
        for k in value:
            if k not in allowed:
                self.unknown_key(key, k, allowed)
        return value

    def unknown_key(self, key: str, k: str, allowed: Collection[str]) -> NoReturn:
        hint = suggest(k, allowed)
        self.fail(
            join_key(key, k),
            "unknown key" + (f"; did you mean {hint!r}?" if hint else ""),
            sorted(allowed),
        )

    def int_(self, value: Any, key: str, lo: int, hi: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"expected an integer, got {describe(value)}")
        return self.bounded(value, key, lo, hi)

    def bounded(self, value: T, key: str, lo: Any, hi: Any = None) -> T:
        if value < lo or (hi is not None and value > hi):  # type: ignore[operator]
            bound = f"{lo}..{hi}" if hi is not None else f">= {lo}"
            self.fail(key, f"{value} is out of range", bound)
        return value

    def float_(self, value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(key, f"expected a number, got {describe(value)}")
        return float(value)

    def bool_(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            self.fail(key, f"expected true or false, got {describe(value)}")
        return value

    def str_(self, value: Any, key: str) -> str:
        if not isinstance(value, str):
            self.fail(key, f"expected a string, got {describe(value)}")
        return value

    def choice(self, value: Any, key: str, allowed: Collection[str]) -> str:
        text = self.str_(value, key)
        if text not in allowed:
            hint = suggest(text, allowed)
            self.fail(
                key,
                f"{text!r} is not allowed" + (f"; did you mean {hint!r}?" if hint else ""),
                allowed,
            )
        return text

    def str_list(self, value: Any, key: str) -> list[str]:
        if not isinstance(value, list):
            self.fail(key, f"expected a list of strings, got {describe(value)}")
        return [self.str_(v, f"{key}[{i}]") for i, v in enumerate(value)]

    def duration(self, value: Any, key: str, minimum: timedelta = timedelta(0)) -> timedelta:
        if not isinstance(value, str):
            self.fail(key, f"expected a duration string, got {describe(value)}", DURATION_ALLOWED)
        try:
            result = parse_duration(value)
        except ValueError:
            self.fail(key, f"{value!r} is not a duration", DURATION_ALLOWED)
        if result < minimum:
            self.fail(key, f"{value!r} is too short", f">= {fmt_duration(minimum)}")
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

    # -- environment overrides

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


def join_key(prefix: str, key: str) -> str:
    """``prefix.key``, the key quoted the way TOML would need it, so the path can be searched
    for in the file."""
    part = key if _BARE_KEY.fullmatch(key) else f'"{key}"'
    return f"{prefix}.{part}" if prefix else part


def describe(value: Any) -> str:
    """What a TOML value is, for "expected …, got …"."""
    kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "a list", dict: "a table"}
    what = kinds.get(type(value), type(value).__name__)
    if isinstance(value, (bool, int, float)):
        return f"{what} ({value!r})"
    if isinstance(value, str):
        return f"{what} ({value[:40]!r})"
    return what


def close_matches(word: str, options: Collection[str], n: int = 1) -> list[str]:
    """Up to ``n`` of ``options`` the user may have meant by ``word``."""
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


def suggest(word: str, options: Collection[str]) -> str | None:
    close = close_matches(word, options)
    return close[0] if close else None


def fmt_duration(td: timedelta) -> str:
    seconds = int(td.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
