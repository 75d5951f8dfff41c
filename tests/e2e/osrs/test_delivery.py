"""The installed CLI delivering to a strict fake Discord on 127.0.0.1.

The fake enforces Discord's message limits and a 5-requests-per-2-seconds bucket per webhook with
real rate-limit headers; these tests count what arrives to prove "every message exactly once".
"""

from __future__ import annotations

import json
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


# -- held, paused, leased, failed: every run tells the truth, nothing is lost ----------------------


def clan_lines(world: World) -> Counter[str]:
    return Counter({k: v for k, v in world.lines(world.clan).items() if "→" in k})


def test_a_forgotten_env_holds_the_level_ups_and_they_go_out_once_it_is_back(
    world: World,
) -> None:
    names = PLAYERS[:3]
    world.set_levels(PLAYERS, 60, 40)
    assert world.run("poll").returncode == 0
    env_file = world.home / ".env"
    saved = env_file.read_text()
    env_file.unlink()  # a redeploy without the .env

    world.set_levels(names, 61, 40)
    out = world.run("poll")
    assert out.returncode == 0, out.stdout + out.stderr  # held, not failed
    assert "9 event(s) stored, 9 webhook deliveries queued." in out.stdout
    held = "Webhook 'clan' has no URL (${CLAN_URL} is not set): 9 message(s) held; they will be " \
        "sent once it is set."
    assert held in out.stderr
    assert world.discord.messages == []

    # Every run says so, even with nothing new: never "Nothing pending".
    again = world.run("deliver")
    assert again.returncode == 0 and held in again.stderr
    assert "Nothing pending" not in again.stdout
    check = world.run("check", "--offline")
    assert check.returncode == 1
    assert "webhook 'clan' has no URL (${CLAN_URL} is not set): 9 message(s) held since" in (
        check.stderr)

    env_file.write_text(saved)  # the .env is back
    out = world.run("deliver")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Webhook 'clan': 9 event(s) delivered" in out.stdout
    assert clan_lines(world) == expected_lines(names, 60, 61, 0)  # each exactly once
    assert "Nothing pending" in world.run("deliver").stdout
    assert world.run("poll").returncode == 0
    assert clan_lines(world) == expected_lines(names, 60, 61, 0)


def test_deliver_says_what_a_killed_poll_left_leased_and_now_takes_it_over(
    world: World,
) -> None:
    import signal
    import socket
    import sqlite3
    import time

    names = PLAYERS[:4]
    world.set_levels(PLAYERS, 60, 40)
    assert world.run("poll").returncode == 0
    world.set_levels(names, 61, 40)
    world.discord.delay(2.0)  # the poll hangs in its first send ...
    proc = subprocess.Popen(
        [osrs_notify_command(), "poll"], cwd=world.home, env=world.env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    db = world.home / "state.db"
    deadline = time.monotonic() + 60
    leased = 0
    while not leased and time.monotonic() < deadline:
        try:
            with sqlite3.connect(db, timeout=5) as con:
                leased = con.execute(
                    "SELECT count(*) FROM delivery WHERE lease_owner IS NOT NULL").fetchone()[0]
        except sqlite3.Error:
            pass
        time.sleep(0.05)
    assert leased == 12
    proc.send_signal(signal.SIGKILL)  # ... and is killed there
    proc.wait()
    world.discord.outage(True)  # the request in flight never becomes a message
    while not world.discord.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    world.discord.outage(False)
    world.discord.delay(0.0)
    assert world.discord.messages == []

    out = world.run("deliver")
    assert out.returncode == 0
    assert "Nothing pending" not in out.stdout
    owner = f"cron:{socket.gethostname()}:{proc.pid}"
    assert (
        "Webhook 'clan': 12 message(s) are leased until " in out.stderr
        and f"by {owner}, which is no longer running; `osrs-notify deliver --now` sends them "
        "now, else they go out after that." in out.stderr
    ), out.stderr
    assert world.discord.messages == []

    now = world.run("deliver", "--now")
    assert now.returncode == 0, now.stdout + now.stderr
    assert f"Took over 12 message(s) leased by {owner}, which is no longer running." in now.stdout
    assert clan_lines(world) == expected_lines(names, 60, 61, 0)
    assert "Nothing pending" in world.run("deliver").stdout


def test_an_edge_ban_is_exit_1_everywhere_and_check_shows_its_end(world: World) -> None:
    import sqlite3

    names = PLAYERS[:2]
    world.set_levels(PLAYERS, 60, 40)
    assert world.run("poll").returncode == 0
    world.discord.ban(True)  # Cloudflare's HTML 429: about an hour without Discord
    world.set_levels(names, 61, 40)

    out = world.run("poll")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Discord paused all sending until " in out.stderr
    assert "429 with a non-JSON body: Discord's edge (Cloudflare) has banned this IP" in out.stderr
    assert "6 message(s) wait and go out on the first run after that." in out.stderr
    tried = len(world.discord.requests)

    later = world.run("deliver")
    assert later.returncode == 1 and "Discord paused all sending until " in later.stderr
    assert len(world.discord.requests) == tried  # the pause is honoured across runs
    check = world.run("check", "--offline")
    assert check.returncode == 1 and "All good" not in check.stdout
    assert "Discord paused all sending until " in check.stderr and " UTC (in 59m" in check.stderr

    # An hour later (the stored end moved back), Discord answers again: each message once.
    world.discord.ban(False)
    with sqlite3.connect(world.home / "state.db") as con:
        con.execute("UPDATE meta SET value = '1' WHERE key = 'discord_paused_until'")
    out = world.run("deliver")
    assert out.returncode == 0, out.stdout + out.stderr
    assert clan_lines(world) == expected_lines(names, 60, 61, 0)
    assert world.run("check", "--offline").returncode == 0


def test_a_refused_event_is_shown_everywhere_and_retry_failed_sends_it_once(
    world: World,
) -> None:
    names = PLAYERS[:2]
    world.set_levels(PLAYERS, 60, 40)
    assert world.run("poll").returncode == 0
    world.discord.fail_next(3, status=400)  # three 400s: the split leaves one event failed
    world.set_levels(names, 61, 40)

    out = world.run("poll")
    assert out.returncode == 1
    assert "1 refused by Discord" in out.stderr
    assert "1 message(s) failed, refused by Discord (400 " in out.stderr
    assert "`osrs-notify deliver --retry-failed` sends them again." in out.stderr
    missing = expected_lines(names, 60, 61, 0) - clan_lines(world)
    assert sum(missing.values()) == 1
    (line,) = missing
    who = line.split(":")[0]

    problem = f"webhook 'clan': 1 message(s) for {who} failed, refused by Discord (400 "
    stats = world.run("stats")
    assert problem in stats.stdout
    data = json.loads(world.run("stats", "--json").stdout)
    assert [(f["webhook"], f["player"]) for f in data["failed"]] == [("clan", who)]
    assert data["failed"][0]["error"].startswith("400 ")
    listing = world.run("players", "list")
    assert problem in listing.stderr
    check = world.run("check", "--offline")
    assert check.returncode == 1 and problem in check.stderr
    assert "Nothing pending" in world.run("deliver", "--now").stdout  # not retried blindly
    assert clan_lines(world) == expected_lines(names, 60, 61, 0) - missing

    fixed = world.run("deliver", "--retry-failed")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "1 failed message(s) queued again." in fixed.stdout
    assert clan_lines(world) == expected_lines(names, 60, 61, 0)  # now each exactly once
    assert world.run("check", "--offline").returncode == 0


def test_the_example_config_on_a_fresh_machine_holds_and_exits_0_then_sends_once_set(
    tmp_path: Path,
) -> None:
    """The README's first command: the example config, no .env. Its webhooks have no URL, so
    a poll's news is held (exit 0, said on every run), and goes out once the URLs are set."""
    import shutil

    from fake_prices import FakePrices, FakePricesServer

    root = Path(__file__).resolve().parents[3]
    shutil.copy(root / "config" / "osrs-notify.example.toml", tmp_path / "osrs-notify.toml")
    hiscores, prices = FakeHiscores(), FakePrices()
    names = ("Lynx Titan", "Zezima", "B0aty")
    with FakeServer(hiscores) as jagex, FakePricesServer(prices) as wiki, \
            FakeDiscord() as discord:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OSRS_", "DATABASE_")) and not k.endswith("_WEBHOOK_URL")}
        env.update(OSRS_API_ENDPOINT=jagex.url, OSRS_PRICES_ENDPOINT=wiki.url,
                   DISCORD_API_BASE=discord.api_base, OSRS_RATE_LIMIT="6000")

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            out = subprocess.run([osrs_notify_command(), "--config", "osrs-notify.toml", *args],
                                 cwd=tmp_path, env=env, capture_output=True, text=True,
                                 timeout=120)
            assert "Traceback" not in out.stderr
            return out

        for name in names:
            hiscores.set_player(name, hiscores_body({"Cooking": xp(80)}))
        prices.set_price(20997, 1_505_000_000, 1_495_000_000)
        first = run("poll")
        assert first.returncode == 0, first.stdout + first.stderr

        hiscores.set_player("Zezima", hiscores_body({"Cooking": xp(81)}))
        prices.set_price(20997, 1_655_000_000, 1_645_000_000)  # over `above`
        out = run("poll")
        assert out.returncode == 0, out.stdout + out.stderr  # held, not failed
        assert "Zezima: Cooking 80 → 81" in out.stdout
        assert "Webhook 'clan' has no URL (${CLAN_WEBHOOK_URL} is not set): 1 message(s) " \
            "held; they will be sent once it is set." in out.stderr
        assert "Webhook 'market' has no URL (${MARKET_WEBHOOK_URL} is not set): 1 message(s) " \
            "held" in out.stderr
        assert discord.requests == []

        clan, market = discord.add_webhook(name="clan").id, discord.add_webhook(name="mkt").id
        env.update(CLAN_WEBHOOK_URL=discord.webhook_url(clan),
                   MARKET_WEBHOOK_URL=discord.webhook_url(market))
        sent = run("deliver")
        assert sent.returncode == 0, sent.stdout + sent.stderr
        (level_up,) = discord.messages_for(clan)
        assert "Cooking 80 → 81" in json.dumps(level_up.body, ensure_ascii=False)
        (alert,) = discord.messages_for(market)
        assert "Twisted bow" in json.dumps(alert.body, ensure_ascii=False)
        assert "Nothing pending" in run("deliver").stdout
        assert len(discord.messages) == 2
