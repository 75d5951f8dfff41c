"""The installed `osrs-notify` against bad hiscores data: what a clan must never see.

Three players whose answers are garbage (impossible xp, a negative level, an array nested
100,000 deep) poll beside two healthy players who level up: the healthy level-ups reach Discord
in the same polls, nothing is said of the garbage ones, and no traceback is printed. And a
hiscores layout that gains two rows while a player levels up announces only the level.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_hiscores import FakeHiscores, hiscores_body
from world import BASE_CONFIG, World, players_toml, world_at

from poller import game

from support import xp

HEALTHY = ("Alpha", "Beta")
GARBAGE = ("Huge Xp", "Neg Level", "Deep Nest")


def write_config(world: World, names: tuple[str, ...]) -> None:
    world.write_config(BASE_CONFIG + "[rules]\nlevels = { every = 1 }\n" + players_toml(*names))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with world_at(tmp_path) as w:
        yield w


def healthy(level: int) -> dict[str, object]:
    return hiscores_body({"Cooking": xp(level), "Attack": xp(60), "Hitpoints": xp(60)})


def serve_garbage(hiscores: FakeHiscores) -> None:
    huge = hiscores_body({"Attack": xp(60)})
    huge["skills"][1]["xp"] = 10**30  # type: ignore[index]
    hiscores.set_player("Huge Xp", huge)
    negative = hiscores_body({"Attack": xp(60)})
    negative["skills"][0]["level"] = -5  # type: ignore[index]
    hiscores.set_player("Neg Level", negative)
    hiscores.set_raw("Deep Nest", "[" * 100_000 + "]" * 100_000)


def test_garbage_answers_cost_their_own_players_only(world: World) -> None:
    write_config(world, (*HEALTHY, *GARBAGE))
    # The garbage players were fine once, so a corrupt answer later has a baseline to spoil.
    for name in (*HEALTHY, *GARBAGE):
        world.hiscores.set_player(name, healthy(80))
    first = world.cli("poll")
    assert first.returncode == 0, first.stderr

    serve_garbage(world.hiscores)
    for level in (81, 82):
        for name in HEALTHY:
            world.hiscores.set_player(name, healthy(level))
        out = world.cli("poll")
        # Refused answers are failures of those players (exit 1), each one clear line.
        assert out.returncode == 1, out.stdout + out.stderr
        for name in GARBAGE:
            lines = [line for line in out.stderr.splitlines() if line.strip().startswith(name)]
            assert len(lines) == 1, (name, out.stderr)
        posted = "\n".join(world.posted())
        for name in HEALTHY:
            assert name in posted and f"{level - 1} → {level}" in posted, posted
        assert not any(name in posted for name in GARBAGE)

    # Nothing of the garbage was stored: their last snapshots are the good ones.
    check = world.cli("players", "list", "--json", code=0)
    rows = {r["name"]: r for r in json.loads(check.stdout)["players"]}
    assert all(rows[name]["status"] == "ok" for name in GARBAGE), rows


def test_a_layout_gaining_two_rows_while_a_player_levels_up_announces_only_the_level(
    world: World,
) -> None:
    write_config(world, ("Gamma",))
    new_rows = ("Brutus", "Mad Angel")
    kills = {"Vorkath": 600, "Brutus": 750, "Mad Angel": 1_200}

    old_layout = hiscores_body({"Cooking": xp(80)}, kills)
    old_layout["activities"] = [  # type: ignore[index]
        row for row in old_layout["activities"] if row["name"] not in new_rows  # type: ignore[index]
    ]
    world.hiscores.set_player("Gamma", old_layout)
    assert world.cli("poll").returncode == 0

    world.hiscores.set_player("Gamma", hiscores_body({"Cooking": xp(81)}, kills))
    out = world.cli("poll")
    assert out.returncode == 0, out.stderr
    posted = "\n".join(world.posted())
    assert "80 → 81" in posted
    assert not any(row in posted for row in new_rows), posted
    assert "Vorkath" not in posted
    assert set(game.ACTIVITIES) >= set(new_rows)  # the rows this release knows
