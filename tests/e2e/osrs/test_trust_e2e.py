"""The installed `osrs-notify` against bad hiscores data: what a clan must never see.

Three players whose answers are garbage (impossible xp, a negative level, an array nested
100,000 deep) poll beside two healthy players who level up: the healthy level-ups reach Discord
in the same polls, nothing is said of the garbage ones, and no traceback is printed. And a
hiscores layout that gains two rows while a player levels up announces only the level.
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

from poller import game

from support import osrs_notify_command, xp

HEALTHY = ("Alpha", "Beta")
GARBAGE = ("Huge Xp", "Neg Level", "Deep Nest")


@dataclass
class World:
    home: Path
    hiscores: FakeHiscores
    discord: FakeDiscord
    hook: str
    env: dict[str, str]

    def poll(self) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            [osrs_notify_command(), "poll"], cwd=self.home, env=self.env, capture_output=True,
            text=True, timeout=120,
        )
        assert "Traceback" not in out.stdout + out.stderr, out.stderr
        assert self.discord.token(self.hook) not in out.stdout + out.stderr
        return out

    def posted(self) -> list[str]:
        """Every message body Discord accepted, as JSON text."""
        messages = self.discord.messages_for(self.hook)
        return [json.dumps(m.body, ensure_ascii=False) for m in messages]


def write_config(home: Path, names: tuple[str, ...]) -> None:
    (home / "osrs-notify.toml").write_text(
        'database = "sqlite:///state.db"\n'
        "[poll]\nconcurrency = 2\nrate_limit = 6000\ncache_ttl = 0\nretries = 0\n"
        '[webhooks.clan]\nurl = "${CLAN_URL}"\n'
        "[rules]\nlevels = { every = 1 }\n"
        + "".join(f'\n[[players]]\nname = "{n}"\n' for n in names)
    )


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
    write_config(world.home, (*HEALTHY, *GARBAGE))
    # The garbage players were fine once, so a corrupt answer later has a baseline to spoil.
    for name in (*HEALTHY, *GARBAGE):
        world.hiscores.set_player(name, healthy(80))
    first = world.poll()
    assert first.returncode == 0, first.stderr

    serve_garbage(world.hiscores)
    for level in (81, 82):
        for name in HEALTHY:
            world.hiscores.set_player(name, healthy(level))
        out = world.poll()
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
    check = subprocess.run(
        [osrs_notify_command(), "players", "list", "--json"], cwd=world.home, env=world.env,
        capture_output=True, text=True, timeout=60,
    )
    rows = {r["name"]: r for r in json.loads(check.stdout)["players"]}
    assert all(rows[name]["status"] == "ok" for name in GARBAGE), rows


def test_a_layout_gaining_two_rows_while_a_player_levels_up_announces_only_the_level(
    world: World,
) -> None:
    write_config(world.home, ("Gamma",))
    new_rows = ("Brutus", "Mad Angel")
    kills = {"Vorkath": 600, "Brutus": 750, "Mad Angel": 1_200}

    old_layout = hiscores_body({"Cooking": xp(80)}, kills)
    old_layout["activities"] = [  # type: ignore[index]
        row for row in old_layout["activities"] if row["name"] not in new_rows  # type: ignore[index]
    ]
    world.hiscores.set_player("Gamma", old_layout)
    assert world.poll().returncode == 0

    world.hiscores.set_player("Gamma", hiscores_body({"Cooking": xp(81)}, kills))
    out = world.poll()
    assert out.returncode == 0, out.stderr
    posted = "\n".join(world.posted())
    assert "80 → 81" in posted
    assert not any(row in posted for row in new_rows), posted
    assert "Vorkath" not in posted
    assert set(game.ACTIVITIES) >= set(new_rows)  # the rows this release knows
