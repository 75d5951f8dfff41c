"""How a settings field is written in the config file, declared once on the field itself.

A field of a settings dataclass that is a config key carries ``metadata=key(...)``; the reader
(:mod:`poller.config_reader`) derives from the fields which keys a table allows, what each
defaults to and how it is checked, so a key, its default and its bounds are each written once.
Fields without it (a webhook's parsed ``address``, the resolved endpoints, ...) are not keys.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

# What the reader expects. "custom": the table's reader checks this key by hand (it depends on
# other keys or tables); the key is still allowed, and its default is still the field's.
Kind = Literal["int", "float", "bool", "str", "choice", "duration", "custom"]

_KEY = "osrs_notify.key"


@dataclass(frozen=True, slots=True)
class Key:
    kind: Kind
    lo: Any = None  # inclusive bounds: numbers, or a minimum timedelta for a duration
    hi: Any = None
    choices: tuple[str, ...] = ()
    env: str | None = None  # an environment variable that, when set and not empty, wins
    name: str | None = None  # the key in the file, when it differs from the field's name


def key(kind: Kind, **spec: Any) -> dict[str, Key]:
    """``field(metadata=key("int", lo=1, hi=64))``."""
    return {_KEY: Key(kind, **spec)}


def config_fields(cls: type) -> tuple[tuple[dataclasses.Field[Any], Key], ...]:
    """The fields of ``cls`` that are config keys, in declaration order, with their specs."""
    return tuple(
        (f, f.metadata[_KEY]) for f in dataclasses.fields(cls) if _KEY in f.metadata
    )


def key_name(f: dataclasses.Field[Any], spec: Key) -> str:
    return spec.name or f.name


def allowed_keys(cls: type) -> tuple[str, ...]:
    """The keys a table read into ``cls`` may hold."""
    return tuple(key_name(f, spec) for f, spec in config_fields(cls))


def default_of(cls: type, name: str) -> Any:
    """The default of field ``name`` of ``cls`` (from its default or default factory)."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
            raise LookupError(f"{cls.__name__}.{name} has no default")
    raise LookupError(f"{cls.__name__} has no field {name!r}")
