"""The installed `osrs-notify` with ``mode = "auto"`` against loopback boards: a hardcore ironman
detected on the first poll, then dead (the hardcore board frozen, the ironman board going on);
`players refresh` re-checks at once and the death reaches Discord exactly once, whatever runs
after it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_hiscores import BOARDS, hiscores_body
from world import BASE_CONFIG, World, players_toml, world_at

from support import xp

CONFIG = BASE_CONFIG + players_toml("Hc Hank", "Reggie")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with world_at(tmp_path, CONFIG) as w:
        yield w


def body(fishing: int) -> dict[str, object]:
    return hiscores_body({"Attack": xp(70), "Hitpoints": xp(70), "Fishing": xp(fishing)})


def test_a_hardcore_death_is_announced_once(world: World) -> None:
    world.hiscores.set_account("Hc Hank", body(80), "hardcore")
    world.hiscores.set_account("Reggie", body(60), "regular")
    world.cli("poll", code=0)
    assert world.hiscores.asked("Hc Hank") == [BOARDS[b] for b in ("regular", "ironman",
                                                                   "hardcore")]
    assert world.hiscores.asked("Reggie") == [BOARDS["regular"], BOARDS["ironman"]]
    listed = json.loads(world.cli("players", "list", "--json", code=0).stdout)["players"]
    assert {p["name"]: (p["mode"], p["account_type"]) for p in listed} == {
        "Hc Hank": ("auto", "hardcore"), "Reggie": ("auto", "regular")}
    assert world.discord.messages_for(world.hook) == []  # a first sight is no news

    # Dies at Fishing 82 and plays on to 83: the hardcore board stays at the death.
    world.hiscores.set_dead_hardcore("Hc Hank", body(83), at_death=body(82))
    world.hiscores.requests.clear()
    world.cli("poll", code=0)  # the daily check is not due yet: the frozen board says nothing
    assert world.hiscores.asked("Hc Hank") == [BOARDS["hardcore"]]
    assert "Died as a" not in "\n".join(world.posted())

    refreshed = world.cli("players", "refresh", code=0)
    assert "Hc Hank: hardcore → ironman" in refreshed.stdout
    assert "Reggie: regular" in refreshed.stdout
    posted = "\n".join(world.posted())
    assert posted.count("Died as a Hardcore Ironman") == 1
    at_death = f"Total level {70 + 70 + 82 + 21:,}"  # the 21 unranked skills count 1 each
    assert at_death in posted

    world.cli("poll", code=0)
    world.cli("players", "refresh", "Hc Hank", code=0)
    world.cli("poll", code=0)
    assert "\n".join(world.posted()).count("Died as a Hardcore Ironman") == 1
    out = world.cli("lookup", "Hc Hank", code=0)
    assert out.stdout.startswith("Hc Hank (ironman, detected)")


def test_refresh_refuses_a_player_with_an_explicit_mode(world: World) -> None:
    (world.home / "osrs-notify.toml").write_text(
        CONFIG.replace('name = "Reggie"\n', 'name = "Reggie"\nmode = "regular"\n')
    )
    out = world.cli("players", "refresh", "Reggie", code=2)
    assert "explicit mode" in out.stderr
    out = world.cli("players", "refresh", "Nobody", code=2)
    assert "not a player" in out.stderr
