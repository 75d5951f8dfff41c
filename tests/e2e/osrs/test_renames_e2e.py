"""The installed `osrs-notify` noticing renames while the config is edited between polls.

A member renames in game and the admin replaces the old name by the new one: the next poll
carries the history over (a level gained meanwhile is announced against it, not taken as a
baseline), says so on the console, and Discord hears "renamed" once. A name replaced by a
different account starts fresh, and the console says why. A player the hiscores lost whose new
name is added beside the old one is carried over too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_hiscores import hiscores_body
from world import BASE_CONFIG, World, players_toml, world_at

from support import xp


def configure(world: World, *names: str) -> None:
    poll = BASE_CONFIG.replace("retries = 0\n", "retries = 0\nmissing_after = 1\n")
    world.write_config(poll + "[rules]\nlevels = { every = 1 }\n" + players_toml(*names))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with world_at(tmp_path) as w:
        yield w


def stats(cooking: int, attack: int = 70) -> dict[str, object]:
    return hiscores_body({"Cooking": xp(cooking), "Attack": xp(attack), "Hitpoints": xp(70)},
                         {"Zulrah": 300})


def test_a_rename_is_carried_over_and_announced_once_and_a_stranger_starts_fresh(
    world: World,
) -> None:
    configure(world, "Old Name", "Leaver", "Stays")
    world.hiscores.set_player("Old Name", stats(80))
    world.hiscores.set_player("Leaver", stats(60, attack=90))
    world.hiscores.set_player("Stays", stats(50))
    assert world.cli("poll").returncode == 0

    # In game: "Old Name" becomes "New Name" and levels Cooking meanwhile; "Leaver" leaves the
    # clan and "Stranger" (a different, smaller account) joins in the same edit.
    world.hiscores.set_status("Old Name", 404)
    world.hiscores.set_player("New Name", stats(81))
    world.hiscores.set_status("Leaver", 404)
    world.hiscores.set_player("Stranger", stats(61, attack=40))
    configure(world, "New Name", "Stranger", "Stays")
    asked = len(world.hiscores.requests)
    out = world.cli("poll")
    assert out.returncode == 0, out.stderr
    # The rename check's answers are the poll's: each new name is asked once per board (its
    # account type is detected on the way: regular, then ironman), the old not at all.
    pairs = world.hiscores.requests[asked:]
    assert len(pairs) == len(set(pairs)), pairs
    assert sorted({name for _, name in pairs}) == ["New Name", "Stays", "Stranger"], pairs
    assert "Renamed: Old Name → New Name" in out.stdout, out.stdout
    assert "Stranger starts from a fresh baseline" in out.stdout
    assert "not Leaver: Overall, Attack would have gone down" in out.stdout, out.stdout
    assert "New in the config (silent baseline): Stranger\n" in out.stdout
    assert "No longer in the config (history kept): Leaver\n" in out.stdout
    posted = "\n".join(world.posted())
    assert posted.lower().count("renamed from old name") == 1, posted
    assert "80 → 81" in posted  # judged against the carried history, not a silent baseline
    assert "Stranger" not in posted  # a silent baseline

    # The history moved: `players list` knows where "Old Name" went; the next polls are quiet.
    listing = json.loads(world.cli("players", "list", "--json").stdout)
    rows = {r["name"]: r for r in listing["players"]}
    assert rows["Old Name"]["status"] == "renamed to New Name", rows
    before = len(world.discord.messages_for(world.hook))
    again = world.cli("poll")
    assert again.returncode == 0 and "Renamed" not in again.stdout
    assert len(world.discord.messages_for(world.hook)) == before


def test_a_missing_players_new_name_added_beside_the_old_one_is_carried_over(
    world: World,
) -> None:
    configure(world, "Was Here")
    world.hiscores.set_player("Was Here", stats(70))
    assert world.cli("poll").returncode == 0
    world.hiscores.set_status("Was Here", 404)
    missing = world.cli("poll")  # missing_after = 1: reported missing now
    assert "missing" in "\n".join(world.posted()).lower(), missing.stdout

    world.hiscores.set_player("Is Here", stats(70))
    configure(world, "Was Here", "Is Here")
    out = world.cli("poll")
    assert out.returncode == 0, out.stderr
    assert "Renamed: Was Here → Is Here" in out.stdout, out.stdout
    assert "\n".join(world.posted()).lower().count("renamed from was here") == 1
    # The old name, still in the config, follows the rename: polled once, as the new name.
    requests = len(world.hiscores.requests)
    world.cli("poll")
    asked = [name for _, name in world.hiscores.requests[requests:]]
    assert asked == ["Is Here"], asked
