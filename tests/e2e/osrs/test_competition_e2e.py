"""A week-long skill of the week with the installed `osrs-notify`: cron polls through the
week (the clock set per run with OSRS_NOTIFY_CLOCK), the loopback fake hiscores, and the strict
fake Discord recording what the clan's channel shows: one upcoming notice, one "started", the
standings message edited in place, two reminders, one final podium in the right order — and a
second process on the same database sending nothing twice."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fake_discord import PNG_MAGIC
from fake_hiscores import FakeHiscores, hiscores_body
from world import BASE_CONFIG, World, players_toml, world_at

from support import xp

CONFIG = 'timezone = "UTC"\n' + BASE_CONFIG + """
[[competition]]
name = "SOTW"
every = "week"
weekday = "monday"
at = "18:00"
metric = "fishing"
""" + players_toml("Alice", "Bob", "Carol", "Dave")

ROUND = datetime(2026, 12, 7, 18, tzinfo=timezone.utc)  # Monday 18:00


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with world_at(tmp_path, CONFIG) as w:
        yield w


def poll(world: World, at: datetime) -> str:
    return world.cli("poll", at=at, code=0).stdout


def serve(fake: FakeHiscores, fishing: dict[str, int]) -> None:
    for name in ("Alice", "Bob", "Carol", "Dave"):
        fake.set_player(name, hiscores_body({"Attack": xp(60), "Fishing": fishing[name]}))


def titles(world: World) -> list[str]:
    return [m.body["embeds"][0]["title"] for m in world.messages()
            if m.body.get("embeds") and "SOTW" in m.body["embeds"][0].get("title", "")]


def test_a_week_of_skill_of_the_week(world) -> None:
    fake, discord = world.hiscores, world.discord
    fishing = {"Alice": xp(70), "Bob": xp(70), "Carol": xp(70), "Dave": xp(70)}
    serve(fake, fishing)
    poll(world, ROUND - timedelta(days=1, hours=6))  # Sunday noon: first seen
    assert titles(world) == []
    poll(world, ROUND - timedelta(hours=23))  # Sunday 19:00: the upcoming notice
    # Before the start someone fishes: it must not count.
    fishing["Dave"] += 900_000
    serve(fake, fishing)
    out = poll(world, ROUND + timedelta(minutes=5))  # the start poll
    assert "competition SOTW (week of 2026-12-07): started queued" in out
    gains = {"Alice": 40_000, "Bob": 90_000, "Carol": 15_000, "Dave": 0}
    for day in (2, 4, 6):  # the last of these polls is past the 24-hour reminder's time
        for name, amount in gains.items():
            fishing[name] += 2 * amount
        serve(fake, fishing)
        poll(world, ROUND + timedelta(days=day, hours=1))
    # The last hour: Alice overtakes Bob just before the end; after the end nothing counts.
    fishing["Alice"] += 400_000
    serve(fake, fishing)
    poll(world, ROUND + timedelta(days=7, minutes=-55))  # reminder 1 h before the end
    fishing["Carol"] += 5_000_000
    serve(fake, fishing)
    out = poll(world, ROUND + timedelta(days=7, minutes=5))  # the end
    assert "competition SOTW (week of 2026-12-07): final queued" in out
    poll(world, ROUND + timedelta(days=7, minutes=10))  # another run: nothing twice

    shown = titles(world)
    first = [t for t in shown if "week of 2026-12-07" in t]
    assert Counter(t.split(" — ")[0] for t in first) == {
        "📅 Coming up": 1, "🏁 Started": 1, "📊 SOTW: Fishing (week of 2026-12-07)": 1,
        "⏰ 24 hours left": 1, "⏰ 1 hour left": 1, "🏆 SOTW: Fishing (week of 2026-12-07)": 1,
    }
    podium = next(m for m in world.messages()
                  if m.body["embeds"][0]["title"].startswith("🏆"))
    lines = podium.body["embeds"][0]["fields"][0]["value"].splitlines()
    assert lines == ["🥇 **Alice** +640K xp", "🥈 **Bob** +540K xp", "🥉 **Carol** +90K xp"]
    assert podium.body["embeds"][0]["description"].startswith("**Alice** won with +640K xp!")
    record = podium.body["embeds"][0]["fields"][1]
    assert record["name"] == "All-time" and record["value"].startswith("**Alice**: 1 win, 1 podium")
    [chart] = podium.files
    assert chart.data.startswith(PNG_MAGIC)
    # The standings message was edited in place as the week went on, and ends final.
    standings = next(m for m in world.messages()
                     if m.body["embeds"][0]["title"].startswith("📊"))
    edits = [e for e in discord.edits if e.message_id == standings.message_id]
    assert len(edits) >= 3
    final = discord.message(standings.message_id).body["embeds"][0]
    assert final["title"].endswith("final standings")
    assert final["description"].splitlines()[0] == "🥇 **Alice** +640K xp"
    # The next round started at the same moment, with its own messages.
    assert any(t.startswith("🏁 Started") and "week of 2026-12-14" in t for t in shown)

    # The results are kept: `competition show` prints the final standings and the record.
    show = world.cli("competition", "show", "sotw", "--json", at=ROUND + timedelta(days=8),
                     code=0)
    shown_json = json.loads(show.stdout)
    last = shown_json["last"]
    assert last["final"] and last["label"] == "week of 2026-12-07"
    assert [(s["player"], s["gained"]) for s in last["standings"]] == [
        ("Alice", 640_000), ("Bob", 540_000), ("Carol", 90_000)]
    assert shown_json["record"][0] == {"player": "Alice", "wins": 1, "podiums": 1}
    assert shown_json["current"]["state"] == "running"
