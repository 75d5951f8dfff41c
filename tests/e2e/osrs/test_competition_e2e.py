"""A week-long skill of the week with the installed `osrs-notify`: cron polls through the
week (the clock set per run with OSRS_NOTIFY_CLOCK), the loopback fake hiscores, and the strict
fake Discord recording what the clan's channel shows: one upcoming notice, one "started", the
standings message edited in place, two reminders, one final podium in the right order — and a
second process on the same database sending nothing twice."""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fake_discord import PNG_MAGIC, FakeDiscord
from fake_hiscores import FakeHiscores, FakeServer, hiscores_body

from support import osrs_notify_command, xp

TOKEN = "e2e-competition-not-a-real-token"
CONFIG = """
database = "sqlite:///state.db"
timezone = "UTC"

[poll]
rate_limit = 6000
cache_ttl = 0
retries = 0

[webhooks.clan]
url = "${CLAN_WEBHOOK_URL}"

[[competition]]
name = "SOTW"
every = "week"
weekday = "monday"
at = "18:00"
metric = "fishing"
""" + "".join(f'\n[[players]]\nname = "{n}"\n' for n in ("Alice", "Bob", "Carol", "Dave"))

ROUND = datetime(2026, 12, 7, 18, tzinfo=timezone.utc)  # Monday 18:00


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[FakeHiscores, FakeDiscord, str, Path, dict]]:
    (tmp_path / "osrs-notify.toml").write_text(CONFIG)
    fake = FakeHiscores()
    with FakeServer(fake) as server, FakeDiscord() as discord:
        hook = discord.add_webhook("123456789012345679", TOKEN).id
        (tmp_path / ".env").write_text(f"CLAN_WEBHOOK_URL={discord.webhook_url(hook)}\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OSRS_", "DATABASE_"))}
        env |= {"OSRS_API_ENDPOINT": server.url, "DISCORD_API_BASE": discord.api_base,
                "OSRS_NOTIFY_CONFIG": str(tmp_path / "osrs-notify.toml")}
        yield fake, discord, hook, tmp_path, env


def poll(env: dict, cwd: Path, at: datetime) -> str:
    out = subprocess.run(
        [osrs_notify_command(), "poll"], cwd=cwd, capture_output=True, text=True, timeout=60,
        env={**env, "OSRS_NOTIFY_CLOCK": at.isoformat()},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Traceback" not in out.stderr and TOKEN not in out.stdout + out.stderr
    return out.stdout


def serve(fake: FakeHiscores, fishing: dict[str, int]) -> None:
    for name in ("Alice", "Bob", "Carol", "Dave"):
        fake.set_player(name, hiscores_body({"Attack": xp(60), "Fishing": fishing[name]}))


def titles(discord: FakeDiscord, hook: str) -> list[str]:
    return [m.body["embeds"][0]["title"] for m in discord.messages_for(hook)
            if m.body.get("embeds") and "SOTW" in m.body["embeds"][0].get("title", "")]


def test_a_week_of_skill_of_the_week(world) -> None:
    fake, discord, hook, home, env = world
    fishing = {"Alice": xp(70), "Bob": xp(70), "Carol": xp(70), "Dave": xp(70)}
    serve(fake, fishing)
    poll(env, home, ROUND - timedelta(days=1, hours=6))  # Sunday noon: first seen
    assert titles(discord, hook) == []
    poll(env, home, ROUND - timedelta(hours=23))  # Sunday 19:00: the upcoming notice
    # Before the start someone fishes: it must not count.
    fishing["Dave"] += 900_000
    serve(fake, fishing)
    out = poll(env, home, ROUND + timedelta(minutes=5))  # the start poll
    assert "competition SOTW (week of 2026-12-07): started queued" in out
    gains = {"Alice": 40_000, "Bob": 90_000, "Carol": 15_000, "Dave": 0}
    for day in range(1, 7):
        for name, amount in gains.items():
            fishing[name] += amount
        serve(fake, fishing)
        poll(env, home, ROUND + timedelta(days=day, hours=3))
    poll(env, home, ROUND + timedelta(days=6, hours=1))  # reminder 24 h before the end
    # The last hour: Alice overtakes Bob just before the end; after the end nothing counts.
    fishing["Alice"] += 400_000
    serve(fake, fishing)
    poll(env, home, ROUND + timedelta(days=7, minutes=-55))  # reminder 1 h before the end
    fishing["Carol"] += 5_000_000
    serve(fake, fishing)
    out = poll(env, home, ROUND + timedelta(days=7, minutes=5))  # the end
    assert "competition SOTW (week of 2026-12-07): final queued" in out
    poll(env, home, ROUND + timedelta(days=7, minutes=10))  # another run: nothing twice

    shown = titles(discord, hook)
    first = [t for t in shown if "week of 2026-12-07" in t]
    assert Counter(t.split(" — ")[0] for t in first) == {
        "📅 Coming up": 1, "🏁 Started": 1, "📊 SOTW: Fishing (week of 2026-12-07)": 1,
        "⏰ 24 hours left": 1, "⏰ 1 hour left": 1, "🏆 SOTW: Fishing (week of 2026-12-07)": 1,
    }
    podium = next(m for m in discord.messages_for(hook)
                  if m.body["embeds"][0]["title"].startswith("🏆"))
    lines = podium.body["embeds"][0]["fields"][0]["value"].splitlines()
    assert lines == ["🥇 **Alice** +640K xp", "🥈 **Bob** +540K xp", "🥉 **Carol** +90K xp"]
    assert podium.body["embeds"][0]["description"].startswith("**Alice** won with +640K xp!")
    record = podium.body["embeds"][0]["fields"][1]
    assert record["name"] == "All-time" and record["value"].startswith("**Alice**: 1 win, 1 podium")
    [chart] = podium.files
    assert chart.data.startswith(PNG_MAGIC)
    # The standings message was edited in place as the week went on, and ends final.
    standings = next(m for m in discord.messages_for(hook)
                     if m.body["embeds"][0]["title"].startswith("📊"))
    edits = [e for e in discord.edits if e.message_id == standings.message_id]
    assert len(edits) >= 6
    final = discord.message(standings.message_id).body["embeds"][0]
    assert final["title"].endswith("final standings")
    assert final["description"].splitlines()[0] == "🥇 **Alice** +640K xp"
    # The next round started at the same moment, with its own messages.
    assert any(t.startswith("🏁 Started") and "week of 2026-12-14" in t for t in shown)

    # The results are kept: `competition show` prints the final standings and the record.
    show = subprocess.run(
        [osrs_notify_command(), "competition", "show", "sotw", "--json"], cwd=home,
        capture_output=True, text=True, timeout=60,
        env={**env, "OSRS_NOTIFY_CLOCK": (ROUND + timedelta(days=8)).isoformat()},
    )
    assert show.returncode == 0, show.stderr
    import json

    shown_json = json.loads(show.stdout)
    last = shown_json["last"]
    assert last["final"] and last["label"] == "week of 2026-12-07"
    assert [(s["player"], s["gained"]) for s in last["standings"]] == [
        ("Alice", 640_000), ("Bob", 540_000), ("Carol", 90_000)]
    assert shown_json["record"][0] == {"player": "Alice", "wins": 1, "podiums": 1}
    assert shown_json["current"]["state"] == "running"
