"""A player's hiscores at one moment, as values keyed by name.

Ranks are kept for display only: they move whenever anyone else plays, so they take no part in
equality or storage. A metric that is absent is *unknown* (unranked, or not on this hiscores
layout) — never zero.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

OVERALL = "Overall"

# Stored format version, first byte of the blob: lets a later release change the encoding while
# still reading every row written before.
_FORMAT_VARINT = 1


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Skill XP and activity scores by name; absent = unknown.

    ``skills`` holds xp per skill *including* ``"Overall"``; ``overall_level`` is the total
    level the hiscores report (the only source of it when some skills are unranked).
    """

    skills: Mapping[str, int]
    activities: Mapping[str, int]
    overall_level: int | None = None
    ranks: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Frozen means frozen all the way down: a rule must never be able to edit a snapshot.
        object.__setattr__(self, "skills", MappingProxyType(dict(self.skills)))
        object.__setattr__(self, "activities", MappingProxyType(dict(self.activities)))
        object.__setattr__(self, "ranks", MappingProxyType(dict(self.ranks)))

    def xp(self, skill: str) -> int | None:
        return self.skills.get(skill)

    def score(self, activity: str) -> int | None:
        return self.activities.get(activity)

    @property
    def overall_xp(self) -> int | None:
        return self.skills.get(OVERALL)

    # -- storage -------------------------------------------------------------------------------

    def to_json(self) -> dict[str, object]:
        """Plain data (no ranks), stable key order so equal snapshots serialise equally."""
        out: dict[str, object] = {
            "s": dict(sorted(self.skills.items())),
            "a": dict(sorted(self.activities.items())),
        }
        if self.overall_level is not None:
            out["l"] = self.overall_level
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Snapshot:
        skills = data.get("s", {})
        acts = data.get("a", {})
        level = data.get("l")
        if not isinstance(skills, dict) or not isinstance(acts, dict):
            raise ValueError("snapshot data must hold 's' and 'a' objects")
        return cls(
            skills={str(k): int(v) for k, v in skills.items()},
            activities={str(k): int(v) for k, v in acts.items()},
            overall_level=int(level) if isinstance(level, int) else None,
        )

    def encode(self) -> bytes:
        """Compact bytes for the database (a maxed account with every boss is ~400 bytes).

        Known metrics are (code, value) varint pairs, codes from ``game.STORAGE_ORDER``; any
        name not in that table follows as zlib-compressed JSON so nothing is ever lost.
        """
        codes = _codes()
        out = bytearray([_FORMAT_VARINT])
        _put_varint(out, 0 if self.overall_level is None else self.overall_level + 1)
        pairs: list[tuple[int, int]] = []
        extra: dict[str, dict[str, int]] = {"s": {}, "a": {}}
        for part, values in (("s", self.skills), ("a", self.activities)):
            for name, value in values.items():
                code = codes.get(name)
                if code is None or value < 0:
                    extra[part][name] = value
                else:
                    pairs.append((code, value))
        pairs.sort()
        _put_varint(out, len(pairs))
        for code, value in pairs:
            _put_varint(out, code)
            _put_varint(out, value)
        if extra["s"] or extra["a"]:
            out += zlib.compress(json.dumps(extra, separators=(",", ":")).encode(), 9)
        return bytes(out)

    @classmethod
    def decode(cls, blob: bytes) -> Snapshot:
        from .game import SKILLS, STORAGE_ORDER

        blob = bytes(blob)
        if not blob or blob[0] != _FORMAT_VARINT:
            raise ValueError(f"unknown snapshot format {blob[:1]!r}")
        pos = 1
        level, pos = _get_varint(blob, pos)
        count, pos = _get_varint(blob, pos)
        values, pos = _get_varints(blob, pos, 2 * count)
        # Codes are the storage order: skills (with Overall) first, then activities.
        n_skills = 1 + len(SKILLS)
        skills: dict[str, int] = {}
        acts: dict[str, int] = {}
        for code, value in zip(values[0::2], values[1::2], strict=True):
            (skills if code < n_skills else acts)[STORAGE_ORDER[code]] = value
        if pos < len(blob):
            extra = json.loads(zlib.decompress(blob[pos:]))
            skills.update(extra.get("s", {}))
            acts.update(extra.get("a", {}))
        return cls(skills=skills, activities=acts, overall_level=level - 1 if level else None)


_code_cache: dict[str, int] = {}


def _codes() -> dict[str, int]:
    if not _code_cache:
        from .game import STORAGE_ORDER

        _code_cache.update({name: i for i, name in enumerate(STORAGE_ORDER)})
    return _code_cache


def _put_varint(out: bytearray, value: int) -> None:
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _get_varints(blob: bytes, pos: int, n: int) -> tuple[list[int], int]:
    """``n`` varints from ``pos`` in one loop: every run decodes each player's last snapshot,
    and a call per number was most of that cost."""
    out: list[int] = []
    append = out.append
    for _ in range(n):
        byte = blob[pos]
        pos += 1
        if byte < 0x80:
            append(byte)
            continue
        value, shift = byte & 0x7F, 7
        while True:
            byte = blob[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                break
            shift += 7
        append(value)
    return out, pos


def _get_varint(blob: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = blob[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


@dataclass(frozen=True, slots=True)
class Observation:
    """A snapshot plus when it was taken: what the store and rules receive."""

    snapshot: Snapshot
    taken_at: datetime
