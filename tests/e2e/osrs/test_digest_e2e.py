"""A simulated week with the installed `osrs-notify`: a cron `poll` every day against the
loopback fake hiscores, the clock set per run with OSRS_NOTIFY_CLOCK (no waiting), and the
strict fake Discord recording what the clan's channel shows.

The week (Sunday 20:00 to Sunday 20:00, UTC) gets exactly one digest, posted by the first
poll after it ends, with the right top three and the chart attached; a second process on the
same database posts nothing more; `digest weekly --now` posts the new week so far from cron.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fake_discord import PNG_MAGIC
from fake_hiscores import FakeHiscores, hiscores_body
from world import BASE_CONFIG, World, players_toml, world_at

from support import xp

CONFIG = 'timezone = "UTC"\n' + BASE_CONFIG + """
[[digest]]
name = "weekly"
every = "week"
weekday = "sunday"
at = "20:00"
metrics = ["overall", "vorkath"]
top = 3
""" + players_toml("Alice", "Bob", "Carol", "Dave")

WEEK = datetime(2026, 11, 29, 20, tzinfo=timezone.utc)  # a Sunday, 20:00


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with world_at(tmp_path, CONFIG) as w:
        yield w


def serve(fake: FakeHiscores, day: int) -> None:
    """Day ``day`` of play: Bob gains most, then Alice, then Carol; Dave is idle. Bob's first
    Vorkath kills appear on day 3 (at 20, ranked from 5: a gain of 16, not 20)."""
    fake.set_player("Alice", hiscores_body({"Attack": xp(60) + 50_000 * day},
                                           {"Vorkath": 100 + 5 * day}))
    fake.set_player("Bob", hiscores_body({"Attack": xp(70) + 90_000 * day},
                                         {"Vorkath": 20} if day >= 3 else {}))
    fake.set_player("Carol", hiscores_body({"Attack": xp(50) + 10_000 * day}))
    fake.set_player("Dave", hiscores_body({"Attack": xp(80)}))


def digests(world: World) -> list:
    return [m for m in world.messages()
            if m.body.get("embeds") and "gains" in m.body["embeds"][0].get("title", "")]


def test_a_simulated_week_gets_one_digest(world) -> None:
    fake = world.hiscores
    # Polls through the week (day 0, Monday morning, is the baseline).
    for day in (0, 2, 4, 6):
        serve(fake, day)
        world.cli("poll", at=WEEK + timedelta(days=day, hours=14), code=0)
    assert digests(world) == []  # the week is not over

    serve(fake, 7)
    out = world.cli("poll", at=WEEK + timedelta(days=7, minutes=5), code=0)
    assert "digest weekly: week of 2026-11-29 queued" in out.stdout
    [digest] = digests(world)
    embed = digest.body["embeds"][0]
    assert embed["title"] == "Weekly gains — week of 2026-11-29"
    overall, vorkath = embed["fields"][:2]
    # The week's end is the last poll before Sunday 20:00 (day 6): six days of play each.
    top = [line.split(" (")[0] for line in overall["value"].splitlines()[:3]]
    assert top == ["🥇 **Bob** +540K xp", "🥈 **Alice** +300K xp", "🥉 **Carol** +60K xp"]
    assert overall["value"].splitlines()[-1].startswith("Clan: +900K xp, +")
    assert overall["value"].endswith(" · 3 gained, 1 did not")
    assert vorkath["value"].splitlines()[:2] == ["🥇 **Alice** +30 kills", "🥈 **Bob** +16 kills"]
    [chart] = digest.files
    assert embed["image"]["url"] == f"attachment://{chart.filename}"
    assert chart.data.startswith(PNG_MAGIC) and len(chart.data) < 1_000_000

    # Another process on the same database, later the same evening: nothing more.
    again = world.cli("poll", at=WEEK + timedelta(days=7, minutes=40), code=0)
    assert "digest" not in again.stdout
    asked = world.cli("digest", "weekly", at=WEEK + timedelta(days=7, hours=1), code=0)
    assert "week of 2026-11-29 was already posted" in asked.stdout
    assert len(digests(world)) == 1

    # From cron, the new week so far, on demand.
    serve(fake, 8)
    world.cli("poll", at=WEEK + timedelta(days=8), code=0)
    now = world.cli("digest", "weekly", "--now", at=WEEK + timedelta(days=8, minutes=1), code=0)
    assert "posts: 1 sent" in now.stdout
    latest = digests(world)[-1].body["embeds"][0]
    assert latest["title"] == "Weekly gains — week of 2026-12-06 (so far)"
    # From the state in force at 20:00 (day 6's poll) to day 8's: two days of play.
    assert latest["fields"][0]["value"].startswith("🥇 **Bob** +180K xp")
    assert len(digests(world)) == 2
