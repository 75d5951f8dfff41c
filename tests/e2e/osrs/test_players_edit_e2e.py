"""`osrs-notify players add/remove` (the installed CLI) editing the example config in place.

The example config's comments and layout survive: `remove` after `add` gives back the original
bytes. Bad, duplicate and unknown names are refused with one line and the exit code of the SPEC,
the file untouched. And a rename made with the two commands between polls is carried over.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_hiscores import hiscores_body
from world import World, world_at

from poller.config import load_settings

from support import xp

EXAMPLE = Path(__file__).resolve().parents[3] / "config" / "osrs-notify.example.toml"


@pytest.fixture
def home(tmp_path: Path) -> Iterator[World]:
    with world_at(tmp_path, url_vars=("CLAN_WEBHOOK_URL", "MARKET_WEBHOOK_URL")) as world:
        world.config_path.write_bytes(EXAMPLE.read_bytes())  # byte for byte
        yield world


def body(level: int = 70) -> dict[str, object]:
    return hiscores_body({"Cooking": xp(level), "Attack": xp(60)})


def test_add_then_remove_gives_back_the_example_config_byte_for_byte(home: World) -> None:
    original = home.config_path.read_bytes()
    home.hiscores.set_player("Hey Jase", body(), board="hiscore_oldschool_ironman")
    added = home.cli("players", "add", "Hey_Jase", "--mode", "ironman", "--webhooks", "clan")
    assert added.returncode == 0, added.stderr
    assert "Added Hey_Jase" in added.stdout and "ironman hiscores" in added.stdout
    assert home.hiscores.requests == [("hiscore_oldschool_ironman", "Hey_Jase")]

    edited = home.config_path.read_text()
    table = '[[players]]\nname = "Hey_Jase"\nmode = "ironman"\nwebhooks = ["clan"]\n\n'
    # Only the table is new, after the last player and before the [[watch]] comment.
    assert edited.replace(table, "", 1) == original.decode()
    assert edited.index(table) < edited.index("# Grand Exchange price alerts")
    entry = load_settings(home.config_path, environ=home.env).players[-1]
    assert (entry.name, entry.mode, entry.webhooks) == ("Hey_Jase", "ironman", ("clan",))

    removed = home.cli("players", "remove", "hey jase")
    assert removed.returncode == 0, removed.stderr
    assert "Removed Hey_Jase" in removed.stdout and "history is kept" in removed.stdout
    assert home.config_path.read_bytes() == original


def test_removing_a_player_keeps_the_comments_around_it(home: World) -> None:
    original = home.config_path.read_text()
    out = home.cli("players", "remove", "Lynx Titan")
    assert out.returncode == 0, out.stderr
    text = home.config_path.read_text()
    # The comment above the list stays; the table's own (inline) comments go with it.
    assert "# The players to follow: one [[players]] table each." in text
    assert "# Grand Exchange price alerts." in text
    assert 'name = "Lynx Titan"' not in text
    assert [p.name for p in load_settings(home.config_path, environ=home.env).players] == [
        "Zezima", "B0aty"]
    assert len(original.splitlines()) - len(text.splitlines()) == 6


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("add", "Bad!Name", "--offline"), "has characters not allowed"),
        (("add", "Thirteen Char", "--offline"), "longer than 12 characters"),
        (("add", "zezima", "--offline"), "'Zezima' is in the config already"),
        (("add", "LYNX_TITAN"), "'Lynx Titan' is in the config already (names differing"),
        (("add", "Nobody Here"), "Nobody Here is not on the regular or ironman hiscores"),
        (("add", "Someone", "--offline", "--webhooks", "nope"), "no webhook named nope"),
        (("remove", "Zezma"), "'Zezma' is not in the config; did you mean Zezima?"),
    ],
)
def test_refusals_are_one_line_exit_2_and_leave_the_file_alone(
    home: World, args: tuple[str, ...], says: str
) -> None:
    original = home.config_path.read_bytes()
    out = home.cli("players", *args)
    assert out.returncode == 2, out.stdout + out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], out.stderr
    assert out.stdout == ""
    assert home.config_path.read_bytes() == original
    assert not list(home.home.glob(".osrs-notify.toml.*"))  # no temporary file left behind


def test_an_unknown_name_is_added_with_force_and_offline_asks_nothing(home: World) -> None:
    out = home.cli("players", "add", "Not Ranked", "--force")
    assert out.returncode == 0, out.stderr
    assert "not on the regular or ironman hiscores (added with --force)" in out.stdout
    asked = len(home.hiscores.requests)
    assert home.cli("players", "add", "Offline Add", "--offline").returncode == 0
    assert len(home.hiscores.requests) == asked
    names = [p.name for p in load_settings(home.config_path, environ=home.env).players]
    assert names[-2:] == ["Not Ranked", "Offline Add"]


def test_unreachable_hiscores_refuse_with_exit_1(home: World) -> None:
    original = home.config_path.read_bytes()
    home.hiscores.outage()
    out = home.cli("players", "add", "Someone")
    assert out.returncode == 1, out.stderr
    assert len(out.stderr.splitlines()) == 1 and "--offline" in out.stderr
    assert home.config_path.read_bytes() == original


def test_an_edit_that_would_break_the_config_is_refused(home: World) -> None:
    text = home.config_path.read_text().replace(
        'players = ["*"]', 'players = ["Lynx Titan", "Zezima"]', 1)
    home.config_path.write_text(text)
    out = home.cli("players", "remove", "Zezima")
    assert out.returncode == 2
    assert "would not load after this edit" in out.stderr
    assert "webhooks.clan.players" in out.stderr, out.stderr
    assert home.config_path.read_text() == text


def test_a_rename_made_with_remove_and_add_is_carried_over(home: World) -> None:
    # A config of one player (the example's [[watch]] would ask the real prices API).
    home.config_path.write_text('database = "sqlite:///state.db"\n[poll]\nretries = 0\n'
                           'cache_ttl = 0\n\n[[players]]\nname = "Zezima"\n')
    home.hiscores.set_player("Zezima", body(70))
    first = home.cli("poll")
    assert first.returncode == 0, first.stderr
    home.hiscores.set_status("Zezima", 404)
    home.hiscores.set_player("Zezima Two", body(71))
    assert home.cli("players", "remove", "Zezima").returncode == 0
    assert "[[players]]" not in home.config_path.read_text()
    assert home.cli("players", "add", "Zezima Two").returncode == 0
    out = home.cli("poll")
    assert out.returncode == 0, out.stderr
    assert "Renamed: Zezima → Zezima Two" in out.stdout, out.stdout
    assert "Cooking 70 → 71" in out.stdout
