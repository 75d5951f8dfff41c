"""The installed `osrs-notify` noticing renames while the config is edited between polls.

A member renames in game and the admin replaces the old name by the new one: the next poll
carries the history over (a level gained meanwhile is announced against it, not taken as a
baseline), says so on the console, and Discord hears "renamed" once. A name replaced by a
different account starts fresh, and the console says why. A player the hiscores lost whose new
name is added beside the old one is carried over too.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fake_discord import FakeDiscord
from fake_hiscores import FakeHiscores, FakeServer, hiscores_body

from support import osrs_notify_command, xp


@dataclass
class World:
    home: Path
    hiscores: FakeHiscores
    discord: FakeDiscord
    hook: str
    env: dict[str, str]

    def config(self, *names: str) -> None:
        (self.home / "osrs-notify.toml").write_text(
            'database = "sqlite:///state.db"\n'
            "[poll]\nconcurrency = 2\nrate_limit = 6000\ncache_ttl = 0\nretries = 0\n"
            "missing_after = 1\n"
            '[webhooks.clan]\nurl = "${CLAN_URL}"\n'
            "[rules]\nlevels = { every = 1 }\n"
            + "".join(f'\n[[players]]\nname = "{n}"\n' for n in names)
        )

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            [osrs_notify_command(), *args], cwd=self.home, env=self.env, capture_output=True,
            text=True, timeout=120,
        )
        assert "Traceback" not in out.stdout + out.stderr, out.stderr
        return out

    def posted(self) -> str:
        return "\n".join(json.dumps(m.body, ensure_ascii=False)
                         for m in self.discord.messages_for(self.hook))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    hiscores = FakeHiscores()
    with FakeServer(hiscores) as server, FakeDiscord() as discord:
        hook = discord.add_webhook(name="clan").id
        (tmp_path / ".env").write_text(f"CLAN_URL={discord.webhook_url(hook)}\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OSRS_", "DATABASE_"))}
        env.update(
            OSRS_API_ENDPOINT=server.url,
            OSRS_NOTIFY_CONFIG=str(tmp_path / "osrs-notify.toml"),
            DISCORD_API_BASE=discord.api_base,
        )
        yield World(tmp_path, hiscores, discord, hook, env)


def stats(cooking: int, attack: int = 70) -> dict[str, object]:
    return hiscores_body({"Cooking": xp(cooking), "Attack": xp(attack), "Hitpoints": xp(70)},
                         {"Zulrah": 300})


def test_a_rename_is_carried_over_and_announced_once_and_a_stranger_starts_fresh(
    world: World,
) -> None:
    world.config("Old Name", "Leaver", "Stays")
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
    world.config("New Name", "Stranger", "Stays")
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
    posted = world.posted()
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
    world.config("Was Here")
    world.hiscores.set_player("Was Here", stats(70))
    assert world.cli("poll").returncode == 0
    world.hiscores.set_status("Was Here", 404)
    missing = world.cli("poll")  # missing_after = 1: reported missing now
    assert "Missing" in world.posted() or "missing" in world.posted(), missing.stdout

    world.hiscores.set_player("Is Here", stats(70))
    world.config("Was Here", "Is Here")
    out = world.cli("poll")
    assert out.returncode == 0, out.stderr
    assert "Renamed: Was Here → Is Here" in out.stdout, out.stdout
    assert world.posted().lower().count("renamed from was here") == 1
    # The old name, still in the config, follows the rename: polled once, as the new name.
    requests = len(world.hiscores.requests)
    world.cli("poll")
    asked = [name for _, name in world.hiscores.requests[requests:]]
    assert asked == ["Is Here"], asked
