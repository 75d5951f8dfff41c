"""The installed CLI delivering to a strict fake Discord on 127.0.0.1.

The fake enforces Discord's message limits and a 5-requests-per-2-seconds bucket per webhook with
real rate-limit headers; these tests count what arrives to prove "every message exactly once".
"""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fake_discord import FakeDiscord
from fake_hiscores import FakeHiscores, FakeServer, hiscores_body

from support import osrs_notify_command, xp

PLAYERS = [f"Player {i:02d}" for i in range(1, 51)]


def stats(level: int, zulrah: int) -> tuple[dict[str, int], dict[str, int]]:
    # Non-combat skills, so every player's change is exactly four events (no combat event).
    return {"Cooking": xp(level), "Fishing": xp(level), "Mining": xp(level)}, {"Zulrah": zulrah}


@dataclass
class World:
    home: Path
    hiscores: FakeHiscores
    discord: FakeDiscord
    env: dict[str, str]
    clan: str
    bosses: str
    tokens: tuple[str, ...]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            [osrs_notify_command(), *args], cwd=self.home, env=self.env,
            capture_output=True, text=True,
            timeout=240,
        )
        for token in self.tokens:
            assert token not in out.stdout + out.stderr
        assert "Traceback" not in out.stderr
        return out

    def set_levels(self, names: list[str], level: int, zulrah: int) -> None:
        for name in names:
            skills, acts = stats(level, zulrah)
            self.hiscores.set_player(name, hiscores_body(skills, acts))

    def lines(self, webhook_id: str) -> Counter[str]:
        """Every event line Discord showed in this webhook's channel, counted."""
        seen: Counter[str] = Counter()
        for message in self.discord.messages_for(webhook_id):
            for embed in message.body.get("embeds", []):
                author = embed.get("author", {}).get("name", "")
                for line in embed.get("description", "").splitlines():
                    seen[f"{author}: {line}"] += 1
        return seen


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    hiscores = FakeHiscores()
    with FakeServer(hiscores) as server, FakeDiscord() as discord:
        clan = discord.add_webhook(name="clan").id
        bosses = discord.add_webhook(name="bosses").id
        names = "".join(f'\n[[players]]\nname = "{n}"\n' for n in PLAYERS)
        (tmp_path / "osrs-notify.toml").write_text(
            'database = "sqlite:///state.db"\n'
            "[poll]\nconcurrency = 4\nrate_limit = 6000\ncache_ttl = 0\nretries = 0\n"
            '[webhooks.clan]\nurl = "${CLAN_URL}"\n'
            '[webhooks.bosses]\nurl = "${BOSSES_URL}"\nevents = ["boss"]\n'
            "[rules]\nlevels = { every = 1 }\nbosses = { every = 50 }\n" + names
        )
        (tmp_path / ".env").write_text(
            f"CLAN_URL={discord.webhook_url(clan)}\nBOSSES_URL={discord.webhook_url(bosses)}\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OSRS_", "DATABASE_"))}
        env.update(
            OSRS_API_ENDPOINT=server.url,
            OSRS_NOTIFY_CONFIG=str(tmp_path / "osrs-notify.toml"),
            DISCORD_API_BASE=discord.api_base,
        )
        tokens = (discord.token(clan), discord.token(bosses))
        yield World(tmp_path, hiscores, discord, env, clan, bosses, tokens)


def expected_lines(names: list[str], old: int, new: int, kills: int) -> Counter[str]:
    want: Counter[str] = Counter()
    for name in names:
        for skill in ("Cooking", "Fishing", "Mining"):
            want[f"{name}: {skill} {old} → {new}"] += 1
    del kills
    return want


def boss_mentions(world: World, webhook_id: str) -> int:
    """Event lines about Zulrah shown in this webhook's channel."""
    return sum(n for line, n in world.lines(webhook_id).items() if "Zulrah" in line)


def test_fifty_players_two_hundred_events_delivered_without_a_400_or_a_blind_429(
    world: World,
) -> None:
    world.set_levels(PLAYERS, 60, 40)
    assert world.run("poll").returncode == 0  # baseline: nothing to send
    assert world.discord.messages == []

    world.set_levels(PLAYERS, 61, 55)  # 3 level-ups + a boss milestone each: 200 events
    out = world.run("poll")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "200 event(s) stored" in out.stdout

    statuses = Counter(r.status for r in world.discord.requests)
    assert statuses[400] == 0 and statuses[429] == 0, statuses
    assert world.discord.rate_limited == 0
    # Every level-up line arrived exactly once in the clan channel ...
    clan_lines = world.lines(world.clan)
    assert {k: v for k, v in clan_lines.items() if "→" in k} == expected_lines(PLAYERS, 60, 61, 55)
    # ... and every boss event reached both channels that take it.
    assert boss_mentions(world, world.clan) == 50 and boss_mentions(world, world.bosses) == 50
    # Packed, not one message per event: Discord's 10 embeds per message.
    assert len(world.discord.messages_for(world.clan)) <= 20
    assert "Nothing pending" in world.run("deliver").stdout


def test_outage_over_two_polls_then_every_message_exactly_once(world: World) -> None:
    names = PLAYERS[:12]
    world.set_levels(PLAYERS, 60, 40)
    assert world.run("poll").returncode == 0

    # Discord goes down for two polls, each of which derives new events.
    world.discord.outage(True)
    world.set_levels(names, 61, 40)
    first = world.run("poll")
    assert first.returncode == 1 and "kept for retry" in first.stderr
    world.set_levels(names, 62, 40)
    second = world.run("poll")
    assert second.returncode == 1
    world.discord.outage(False)
    assert world.discord.messages == []

    # Recovery, with a server error and a real 429 thrown in.
    world.discord.fail_next(1, status=500)
    world.discord.throttle_next(1, retry_after=0.4)
    for _ in range(6):
        out = world.run("deliver", "--now")
        if "Nothing pending" in out.stdout:
            break
    else:
        pytest.fail("messages still pending after six delivery runs")

    clan = world.lines(world.clan)
    want = expected_lines(names, 60, 61, 0) + expected_lines(names, 61, 62, 0)
    assert {k: v for k, v in clan.items() if "→" in k} == want
    assert world.discord.injected_429 == 1 and world.discord.rate_limited == 0
    assert Counter(r.status for r in world.discord.requests)[400] == 0


def test_a_deleted_webhook_is_disabled_while_the_others_keep_working(world: World) -> None:
    world.set_levels(PLAYERS, 60, 40)
    assert world.run("poll").returncode == 0
    world.discord.delete(world.bosses)  # the server owner deleted the #bosses webhook

    world.set_levels(PLAYERS[:5], 61, 55)
    out = world.run("poll")
    assert out.returncode == 1
    assert "'bosses' is DISABLED" in out.stderr
    assert len(world.lines(world.clan)) > 0  # clan got its messages regardless

    # Disabled is sticky: the next poll queues for it but does not knock on the dead URL again.
    requests_before = len(world.discord.requests)
    world.set_levels(PLAYERS[:5], 62, 105)
    again = world.run("poll")
    assert again.returncode == 1 and "'bosses' is DISABLED" in again.stderr
    dead = [r for r in world.discord.requests[requests_before:] if r.webhook_id == world.bosses]
    assert dead == []
    check = world.run("check", "--offline")
    assert check.returncode == 1 and "'bosses' is disabled" in check.stderr
    assert "10 message(s) kept" in check.stderr
    listing = world.run("players", "list")
    assert "'bosses' is disabled" in listing.stderr

    # The owner makes a new webhook and pastes its URL: the kept messages go out, once.
    fresh = world.discord.add_webhook(name="bosses again").id
    env_file = world.home / ".env"
    env_file.write_text(
        env_file.read_text().splitlines()[0] + f"\nBOSSES_URL={world.discord.webhook_url(fresh)}\n"
    )
    out = world.run("deliver")
    assert out.returncode == 0, out.stdout + out.stderr
    assert boss_mentions(world, fresh) == 10
    assert "Nothing pending" in world.run("deliver").stdout
