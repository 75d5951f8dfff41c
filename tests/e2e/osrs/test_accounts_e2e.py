"""The installed `osrs-notify` with ``mode = "auto"`` against loopback boards: a hardcore ironman
detected on the first poll, then dead (the hardcore board frozen, the ironman board going on);
`players refresh` re-checks at once and the death reaches Discord exactly once, whatever runs
after it.
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
from fake_hiscores import BOARDS, FakeHiscores, FakeServer, hiscores_body

from support import osrs_notify_command, xp

CONFIG = """
database = "sqlite:///state.db"
[poll]
concurrency = 2
rate_limit = 6000
cache_ttl = 0
retries = 0
[webhooks.clan]
url = "${CLAN_URL}"

[[players]]
name = "Hc Hank"

[[players]]
name = "Reggie"
"""


@dataclass
class World:
    home: Path
    hiscores: FakeHiscores
    discord: FakeDiscord
    hook: str
    env: dict[str, str]

    def run(self, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            [osrs_notify_command(), *args], cwd=self.home, env=self.env, capture_output=True,
            text=True, timeout=120,
        )
        assert out.returncode == code, out.stdout + out.stderr
        assert "Traceback" not in out.stdout + out.stderr, out.stderr
        assert self.discord.token(self.hook) not in out.stdout + out.stderr
        return out

    def posted(self) -> str:
        return "\n".join(
            json.dumps(m.body, ensure_ascii=False) for m in self.discord.messages_for(self.hook)
        )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    (tmp_path / "osrs-notify.toml").write_text(CONFIG)
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


def body(fishing: int) -> dict[str, object]:
    return hiscores_body({"Attack": xp(70), "Hitpoints": xp(70), "Fishing": xp(fishing)})


def test_a_hardcore_death_is_announced_once(world: World) -> None:
    world.hiscores.set_account("Hc Hank", body(80), "hardcore")
    world.hiscores.set_account("Reggie", body(60), "regular")
    world.run("poll")
    assert world.hiscores.asked("Hc Hank") == [BOARDS[b] for b in ("regular", "ironman",
                                                                   "hardcore")]
    assert world.hiscores.asked("Reggie") == [BOARDS["regular"], BOARDS["ironman"]]
    listed = json.loads(world.run("players", "list", "--json").stdout)["players"]
    assert {p["name"]: (p["mode"], p["account_type"]) for p in listed} == {
        "Hc Hank": ("auto", "hardcore"), "Reggie": ("auto", "regular")}
    assert world.discord.messages_for(world.hook) == []  # a first sight is no news

    # Dies at Fishing 82 and plays on to 83: the hardcore board stays at the death.
    world.hiscores.set_dead_hardcore("Hc Hank", body(83), at_death=body(82))
    world.hiscores.requests.clear()
    world.run("poll")  # the daily check is not due yet: the frozen board says nothing
    assert world.hiscores.asked("Hc Hank") == [BOARDS["hardcore"]]
    assert "Died as a" not in world.posted()

    refreshed = world.run("players", "refresh")
    assert "Hc Hank: hardcore → ironman" in refreshed.stdout
    assert "Reggie: regular" in refreshed.stdout
    posted = world.posted()
    assert posted.count("Died as a Hardcore Ironman") == 1
    at_death = f"Total level {70 + 70 + 82 + 21:,}"  # the 21 unranked skills count 1 each
    assert at_death in posted

    world.run("poll")
    world.run("players", "refresh", "Hc Hank")
    world.run("poll")
    assert world.posted().count("Died as a Hardcore Ironman") == 1
    out = world.run("lookup", "Hc Hank")
    assert out.stdout.startswith("Hc Hank (ironman, detected)")


def test_refresh_refuses_a_player_with_an_explicit_mode(world: World) -> None:
    (world.home / "osrs-notify.toml").write_text(
        CONFIG.replace('name = "Reggie"\n', 'name = "Reggie"\nmode = "regular"\n')
    )
    out = world.run("players", "refresh", "Reggie", code=2)
    assert "explicit mode" in out.stderr
    out = world.run("players", "refresh", "Nobody", code=2)
    assert "not a player" in out.stderr
