"""A player's hiscores at one moment, as values keyed by name.

Ranks are kept for display only: they move whenever anyone else plays, so they take no part in
equality or storage. A metric that is absent is *unknown* (unranked, or not on this hiscores
layout) — never zero.

The *layout* says which of those two an absent metric is: the names the response had a row for,
ranked or not. A metric unranked in a layout that had its row can later "appear" on the
hiscores; one whose row the layout lacked (a boss newer than the response, or than the release
that parsed it) has no past to compare with, so its first value is a silent baseline.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

OVERALL = "Overall"

# Stored format version, first byte of the blob: lets a later release change the encoding while
# still reading every row written before.
_FORMAT_VARINT = 1  # level, (code, value) pairs, JSON tail; no layout (rows before layouts)
_FORMAT_LAYOUT = 2  # the same with the layout as a bitset over STORAGE_ORDER codes

Layout = frozenset[str]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Skill XP and activity scores by name; absent = unknown.

    ``skills`` holds xp per skill *including* ``"Overall"``; ``overall_level`` is the total
    level the hiscores report (the only source of it when some skills are unranked).

    ``layout`` is the set of names the response had rows for, ranked or unranked (see the
    module docstring); None when unknown — rows stored before layouts were, and snapshots built
    by hand. It takes part in equality and storage: a response that gains a row is a new
    snapshot, so that the next comparison knows the row was there. Equal layouts are one
    shared frozenset (10,000 players hold a handful of layouts, not 10,000 copies).
    """

    skills: Mapping[str, int]
    activities: Mapping[str, int]
    overall_level: int | None = None
    ranks: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)
    layout: Layout | None = None

    def __post_init__(self) -> None:
        # Frozen means frozen all the way down: a rule must never be able to edit a snapshot.
        object.__setattr__(self, "skills", MappingProxyType(dict(self.skills)))
        object.__setattr__(self, "activities", MappingProxyType(dict(self.activities)))
        object.__setattr__(self, "ranks", MappingProxyType(dict(self.ranks)))
        if self.layout is not None:
            object.__setattr__(self, "layout", intern_layout(self.layout))

    def had_row(self, name: str) -> bool | None:
        """Whether the response had a row for ``name`` (ranked or not); None if the layout is
        unknown. A known value always had its row."""
        if name in self.skills or name in self.activities:
            return True
        return None if self.layout is None else name in self.layout

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
        if self.layout is not None:
            out["k"] = sorted(self.layout)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Snapshot:
        skills = data.get("s", {})
        acts = data.get("a", {})
        level = data.get("l")
        layout = data.get("k")
        if not isinstance(skills, dict) or not isinstance(acts, dict):
            raise ValueError("snapshot data must hold 's' and 'a' objects")
        if layout is not None and not isinstance(layout, list):
            raise ValueError("snapshot layout 'k' must be a list of names")
        return cls(
            skills={str(k): int(v) for k, v in skills.items()},
            activities={str(k): int(v) for k, v in acts.items()},
            overall_level=int(level) if isinstance(level, int) else None,
            layout=None if layout is None else frozenset(str(n) for n in layout),
        )

    def encode(self) -> bytes:
        """Compact bytes for the database (a maxed account with every boss is ~400 bytes).

        Known metrics are (code, value) varint pairs, codes from ``game.STORAGE_ORDER``; any
        name not in that table follows as zlib-compressed JSON so nothing is ever lost.

        A known layout makes it format 2: after the level, a varint byte count and the layout
        as a little-endian bitset over the same codes (15 bytes for today's 116 metrics, and
        every row of one layout writes the same bytes); names outside the table go into the
        JSON tail under "k". An unknown layout is written as format 1, exactly as before.
        """
        codes = _codes()
        layout = self.layout
        out = bytearray([_FORMAT_VARINT if layout is None else _FORMAT_LAYOUT])
        _put_varint(out, 0 if self.overall_level is None else self.overall_level + 1)
        extra: dict[str, object] = {}
        if layout is not None:
            bits, outside = _layout_bits(layout)
            _put_varint(out, len(bits))
            out += bits
            if outside:
                extra["k"] = outside
        pairs: list[tuple[int, int]] = []
        unknown: dict[str, dict[str, int]] = {"s": {}, "a": {}}
        for part, values in (("s", self.skills), ("a", self.activities)):
            for name, value in values.items():
                code = codes.get(name)
                if code is None or value < 0:
                    unknown[part][name] = value
                else:
                    pairs.append((code, value))
        pairs.sort()
        _put_varint(out, len(pairs))
        for code, value in pairs:
            _put_varint(out, code)
            _put_varint(out, value)
        if unknown["s"] or unknown["a"] or extra:
            tail = {**unknown, **extra}
            out += zlib.compress(json.dumps(tail, separators=(",", ":")).encode(), 9)
        return bytes(out)

    @classmethod
    def decode(cls, blob: bytes) -> Snapshot:
        from .game import SKILLS, STORAGE_ORDER

        blob = bytes(blob)
        if not blob or blob[0] not in (_FORMAT_VARINT, _FORMAT_LAYOUT):
            raise ValueError(f"unknown snapshot format {blob[:1]!r}")
        pos = 1
        level, pos = _get_varint(blob, pos)
        layout: Layout | None = None
        if blob[0] == _FORMAT_LAYOUT:
            size, pos = _get_varint(blob, pos)
            if pos + size > len(blob):
                raise ValueError("snapshot layout is truncated")
            layout = _layout_from_bits(blob[pos : pos + size])
            pos += size
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
            if layout is not None and extra.get("k"):
                layout = layout | frozenset(extra["k"])
        return cls(
            skills=skills,
            activities=acts,
            overall_level=level - 1 if level else None,
            layout=layout,
        )


# -- layouts ---------------------------------------------------------------------------------

# A handful of layouts exist at any time (one per hiscores release a database has seen), so
# these caches stay tiny; the bound only guards a process fed arbitrary layouts (tests).
_MAX_CACHED_LAYOUTS = 256
_layouts: dict[Layout, Layout] = {}
_bits_of: dict[Layout, tuple[bytes, list[str]]] = {}
_layout_of: dict[bytes, Layout] = {}


def intern_layout(names: Iterable[str]) -> Layout:
    """The shared frozenset equal to ``names``: every snapshot of one layout holds the same
    object, so 10,000 players cost one set, and comparing two of them is an identity check."""
    layout = names if type(names) is frozenset else frozenset(names)
    shared = _layouts.get(layout)
    if shared is not None:
        return shared
    if len(_layouts) < _MAX_CACHED_LAYOUTS:
        _layouts[layout] = layout
    return layout


def union_layouts(a: Layout | None, b: Layout | None) -> Layout | None:
    """The rows either snapshot had, for a snapshot merged from both (the rollback
    reference): an unknown side adds nothing, and only two unknowns stay unknown."""
    if a is None or b is None:
        return b if a is None else a
    return a if a is b else intern_layout(a | b)


def _layout_bits(layout: Layout) -> tuple[bytes, list[str]]:
    """The layout as a bitset over storage codes (no trailing zero bytes, so a layout has one
    encoding), and the names outside the storage table, sorted."""
    cached = _bits_of.get(layout)
    if cached is not None:
        return cached
    codes = _codes()
    mask = 0
    outside: list[str] = []
    for name in layout:
        code = codes.get(name)
        if code is None:
            outside.append(name)
        else:
            mask |= 1 << code
    result = (mask.to_bytes((mask.bit_length() + 7) // 8, "little"), sorted(outside))
    if len(_bits_of) < _MAX_CACHED_LAYOUTS:
        _bits_of[layout] = result
    return result


def _layout_from_bits(bits: bytes) -> Layout:
    cached = _layout_of.get(bits)
    if cached is not None:
        return cached
    from .game import STORAGE_ORDER

    mask = int.from_bytes(bits, "little")
    if mask >> len(STORAGE_ORDER):
        raise ValueError("snapshot layout names a metric newer than this release")
    layout = intern_layout(name for code, name in enumerate(STORAGE_ORDER) if mask >> code & 1)
    if len(_layout_of) < _MAX_CACHED_LAYOUTS:
        _layout_of[bytes(bits)] = layout
    return layout


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
