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
        assert Snapshot.decode(snap.encode()) == snap, path.name
