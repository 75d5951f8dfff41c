"""Snapshot values and their stored bytes: the encoding every database row depends on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from poller import game
from poller.hiscores import parse_json
from poller.snapshot import Snapshot


def full(step: int = 7919) -> Snapshot:
    """Every skill and every activity known, with large values: the worst case for size."""
    return Snapshot(
        skills={
            "Overall": 4_600_000_000,
            **{s: 200_000_000 - i for i, s in enumerate(game.SKILLS)},
        },
        activities={a: 100_000 + i * step for i, a in enumerate(game.ACTIVITIES)},
        overall_level=2376,
    )


@pytest.mark.parametrize(
    "snapshot",
    [
        Snapshot(skills={}, activities={}),
        Snapshot(skills={"Attack": 0}, activities={"Zulrah": 5}, overall_level=None),
        Snapshot(skills={"Overall": 2**40}, activities={}, overall_level=32),
        full(),
        # A name this release does not know (a future boss) still round-trips.
        Snapshot(skills={"Attack": 83}, activities={"Brand New Boss": 12, "Vorkath": 1}),
    ],
    ids=["empty", "zeros", "huge", "every-metric", "unknown-name"],
)
def test_encode_decode_round_trips(snapshot: Snapshot) -> None:
    assert Snapshot.decode(snapshot.encode()) == snapshot


def test_a_maxed_account_with_every_boss_stays_well_under_a_kilobyte() -> None:
    assert len(full().encode()) < 600


def test_ranks_take_no_part_in_equality_or_storage() -> None:
    a = Snapshot(skills={"Attack": 100}, activities={}, ranks={"Attack": 5})
    b = Snapshot(skills={"Attack": 100}, activities={}, ranks={"Attack": 9})
    assert a == b and a.encode() == b.encode()
    assert Snapshot.decode(a.encode()).ranks == {}


def test_a_snapshot_cannot_be_edited() -> None:
    snap = Snapshot(skills={"Attack": 100}, activities={})
    with pytest.raises(TypeError):
        snap.skills["Attack"] = 1  # type: ignore[index]


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown snapshot format"):
        Snapshot.decode(b"\x09junk")
    with pytest.raises(ValueError):
        Snapshot.decode(b"")


def test_storage_codes_are_append_only() -> None:
    """Stored rows name metrics by their index in STORAGE_ORDER: these must never move."""
    assert game.STORAGE_ORDER[:3] == ("Overall", "Attack", "Defence")
    assert game.STORAGE_ORDER[24] == "Sailing"
    assert game.STORAGE_ORDER[25] == "Grid Points"
    assert game.STORAGE_ORDER[115] == "Zulrah"
    assert len(set(game.STORAGE_ORDER)) == len(game.STORAGE_ORDER)


def test_real_captures_round_trip(shared_fixtures: Path) -> None:
    for path in sorted((shared_fixtures / "hiscores").glob("*.json")):
        snap = parse_json(json.loads(path.read_bytes()))
        back = Snapshot.decode(snap.encode())
        assert back == snap, path.name
        assert back.layout == snap.layout and back.layout is not None, path.name


# -- layouts -----------------------------------------------------------------------------------

EVERY_ROW = frozenset(game.STORAGE_ORDER)


def test_format_1_is_pinned_and_still_decoded() -> None:
    """Rows written before layouts: format 1, read as "layout unknown" (None)."""
    snap = Snapshot(skills={"Attack": 83}, activities={"Zulrah": 5}, overall_level=32)
    blob = bytes([1, 33, 2, 1, 83, 115, 5])  # level+1, 2 pairs: (Attack=1, 83), (Zulrah=115, 5)
    assert snap.encode() == blob  # an unknown layout is still written exactly as before
    back = Snapshot.decode(blob)
    assert back == snap and back.layout is None


def test_format_2_carries_the_layout_as_a_bitset_over_storage_codes() -> None:
    layout = frozenset({"Overall", "Attack", "Sailing", "Zulrah"})  # codes 0, 1, 24, 115
    snap = Snapshot(skills={"Attack": 83}, activities={"Zulrah": 5}, overall_level=32,
                    layout=layout)
    bits = (1 | 1 << 1 | 1 << 24 | 1 << 115).to_bytes(15, "little")
    blob = bytes([2, 33, 15]) + bits + bytes([2, 1, 83, 115, 5])
    assert snap.encode() == blob
    back = Snapshot.decode(blob)
    assert back == snap and back.layout == layout


@pytest.mark.parametrize(
    "snapshot",
    [
        Snapshot(skills={}, activities={}, layout=frozenset()),
        Snapshot(skills={"Attack": 0}, activities={}, layout=frozenset({"Attack", "Zulrah"})),
        Snapshot(skills={}, activities={}, layout=EVERY_ROW),
        # Names outside the storage table, in values and in the layout alike.
        Snapshot(skills={"Attack": 83}, activities={"Brand New Boss": 12},
                 layout=frozenset({"Attack", "Brand New Boss", "Another New Row", "Vorkath"})),
        Snapshot(skills={"Attack": 83}, activities={}, layout=frozenset({"Another New Row"})),
    ],
    ids=["empty-layout", "some-rows", "every-row", "unknown-names", "only-unknown-names"],
)
def test_layouts_round_trip(snapshot: Snapshot) -> None:
    back = Snapshot.decode(snapshot.encode())
    assert back == snapshot
    assert back.layout == snapshot.layout


def test_layout_takes_part_in_equality_ranks_do_not() -> None:
    values = {"skills": {"Attack": 100}, "activities": {}}
    with_row = Snapshot(**values, layout=frozenset({"Attack", "Vorkath"}))
    without = Snapshot(**values, layout=frozenset({"Attack"}))
    unknown = Snapshot(**values)
    # A response that gained a row is a new snapshot (stored), so the next diff knows the row.
    assert with_row != without and with_row != unknown and without != unknown
    assert with_row.encode() != without.encode()
    same = Snapshot(**values, layout=frozenset({"Vorkath", "Attack"}), ranks={"Attack": 3})
    assert with_row == same


def test_had_row_tells_new_from_unranked() -> None:
    snap = Snapshot(skills={"Attack": 100}, activities={"Zulrah": -1},
                    layout=frozenset({"Attack", "Vorkath"}))
    assert snap.had_row("Attack") is True  # known
    assert snap.had_row("Vorkath") is True  # unranked: in the layout
    assert snap.had_row("Zulrah") is True  # the -1 marker is an unranked row
    assert snap.had_row("Sailing") is False  # not in this layout
    assert Snapshot(skills={}, activities={}).had_row("Vorkath") is None  # layout unknown
    assert Snapshot(skills={"Attack": 1}, activities={}).had_row("Attack") is True


def test_equal_layouts_are_one_shared_object() -> None:
    a = Snapshot(skills={}, activities={}, layout=frozenset({"Attack", "Vorkath"}))
    b = Snapshot(skills={}, activities={}, layout=frozenset(["Vorkath", "Attack"]))
    full_a = Snapshot.decode(full_with_layout().encode())
    full_b = Snapshot.decode(full_with_layout().encode())
    assert a.layout is b.layout
    assert full_a.layout is full_b.layout is full_with_layout().layout


def full_with_layout() -> Snapshot:
    f = full()
    return Snapshot(skills=f.skills, activities=f.activities, overall_level=f.overall_level,
                    layout=EVERY_ROW)


def test_a_changed_snapshot_with_its_layout_stays_under_a_kilobyte() -> None:
    assert len(full_with_layout().encode()) < 620  # the layout costs 16 bytes
    assert len(full_with_layout().encode()) - len(full().encode()) <= 16


@pytest.mark.parametrize(
    "blob",
    [
        bytes([2, 0, 15, 1]),  # layout cut short
        bytes([2, 0, 16]) + (1 << 125).to_bytes(16, "little") + bytes([0]),  # a newer code
    ],
    ids=["truncated", "code-from-a-newer-release"],
)
def test_bad_layouts_are_refused(blob: bytes) -> None:
    with pytest.raises(ValueError, match="layout"):
        Snapshot.decode(blob)


def test_json_form_keeps_the_layout() -> None:
    snap = Snapshot(skills={"Attack": 5}, activities={}, layout=frozenset({"Attack", "Zulrah"}))
    assert snap.to_json()["k"] == ["Attack", "Zulrah"]
    assert Snapshot.from_json(snap.to_json()) == snap
    assert Snapshot.from_json(Snapshot(skills={}, activities={}).to_json()).layout is None
