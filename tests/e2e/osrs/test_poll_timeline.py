"""The installed `osrs-notify` against a fake hiscores server on 127.0.0.1, through a timeline.

Each step changes what the fake serves, runs `osrs-notify poll` as a subprocess, and asserts the
exact events queued in the outbox afterwards (each delivered to a fake Discord) — the contract a
clan sees.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from fake_discord import FakeDiscord
from fake_hiscores import FakeHiscores, FakeServer, hiscores_body

from poller import game
from poller.store import open_store

from support import osrs_notify_command, xp

FAKE_TOKEN = "e2e-not-a-real-token"
CONFIG = """
database = "sqlite:///state.db"

[poll]
concurrency = 2
rate_limit = 6000
cache_ttl = 0
retries = 0
missing_after = 3

[webhooks.clan]
url = "${CLAN_WEBHOOK_URL}"

[webhooks.bosses]
url = "${CLAN_WEBHOOK_URL}"
events = ["boss"]
players = ["Lynx Titan"]

[rules]
levels = { every = 5, every_from = 90 }
bosses = { every = 50 }

[[players]]
name = "Zezima"

[[players]]
name = "Lynx Titan"

[[players]]
name = "Hey_Jase"
"""


ZEZIMA = {"Attack": xp(68), "Strength": xp(98), "Hitpoints": xp(80), "Defence": xp(60)}
LYNX = {skill: 200_000_000 for skill in game.SKILLS if skill != "Sailing"}
JASE = {"Attack": xp(50), "Hitpoints": xp(50), "Fishing": xp(77)}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[FakeHiscores, Path, dict[str, str]]]:
    (tmp_path / "osrs-notify.toml").write_text(CONFIG)
    fake = FakeHiscores()
    with FakeServer(fake) as server, FakeDiscord() as discord:
        hook = discord.add_webhook("123456789012345678", FAKE_TOKEN).id
        (tmp_path / ".env").write_text(f"CLAN_WEBHOOK_URL={discord.webhook_url(hook)}\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OSRS_", "DATABASE_"))}
        env["OSRS_API_ENDPOINT"] = server.url
        env["OSRS_NOTIFY_CONFIG"] = str(tmp_path / "osrs-notify.toml")
        env["DISCORD_API_BASE"] = discord.api_base
        yield fake, tmp_path, env


def poll(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [osrs_notify_command(), "poll", *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=60,
    )


def outbox(db: Path) -> list[tuple[object, ...]]:
    """Every delivery ever queued, in order, as
    (webhook, player, kind, metric, old, new, threshold, first, milestone) — and none of them
    may still be pending: each step's poll ends by delivering to the fake Discord."""
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT d.webhook, d.status, e.payload FROM delivery d "
            "JOIN event e ON e.id = d.event_id ORDER BY d.id"
        ).fetchall()
    assert all(status == "sent" for _, status, _ in rows), [r[:2] for r in rows]
    out = []
    for webhook, _, raw in rows:
        p = json.loads(raw)
        out.append((webhook, p["player"], p["kind"], p["metric"], p["old"], p["new"],
                    p["threshold"], p["first"], p["milestone"]))
    return out


def counts(db: Path) -> dict[str, int]:
    store = open_store(f"sqlite:///{db}")
    try:
        return dict(store.counts())
    finally:
        store.close()


def combat(levels: dict[str, int]) -> int:
    return game.combat_level(levels)


def test_timeline(world: tuple[FakeHiscores, Path, dict[str, str]]) -> None:
    fake, home, env = world
    db = home / "state.db"

    def serve(
        zezima: dict[str, int], lynx_acts: dict[str, int], jase: dict[str, int] | None
    ) -> None:
        fake.set_player("Zezima", hiscores_body(zezima))
        fake.set_player("Lynx Titan", hiscores_body(LYNX, lynx_acts))
        if jase is None:
            fake.set_status("Hey_Jase", 404)
        else:
            fake.set_player("Hey_Jase", hiscores_body(jase))

    def step(expect_exit: int = 0) -> subprocess.CompletedProcess[str]:
        out = poll(env, home)
        assert out.returncode == expect_exit, out.stdout + out.stderr
        assert "Traceback" not in out.stderr
        assert FAKE_TOKEN not in out.stdout + out.stderr
        return out

    # 1. Baseline: three new players, nothing announced.
    serve(ZEZIMA, {"Zulrah": 600}, JASE)
    out = step()
    assert "3 baseline" in out.stdout
    assert outbox(db) == []
    baseline_counts = counts(db)
    assert baseline_counts["snapshot"] == 3

    # 2. Level-ups across several skills; a dry run first shows them and changes nothing.
    z2 = {**ZEZIMA, "Attack": xp(71), "Strength": xp(99)}
    serve(z2, {"Zulrah": 600}, JASE)
    dry = poll(env, home, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "Zezima — Attack 68 → 71" in dry.stdout
    assert "Zezima — Strength 98 → 99" in dry.stdout
    assert counts(db) == baseline_counts
    assert outbox(db) == []

    step()
    c_before = combat({"Attack": 68, "Strength": 98, "Hitpoints": 80, "Defence": 60})
    c_after = combat({"Attack": 71, "Strength": 99, "Hitpoints": 80, "Defence": 60})
    expected = [
        ("clan", "Zezima", "levelup", "Attack", 68, 71, 70, False, False),
        ("clan", "Zezima", "levelup", "Strength", 98, 99, 99, False, True),
        ("clan", "Zezima", "combat", "Combat", c_before, c_after, None, False, False),
        ("clan", "Zezima", "achievement", "99 Strength", None, 99, None, False, True),
    ]
    assert outbox(db) == expected

    # 3. A boss first appearing on the hiscores: "now at 12", routed to both webhooks.
    serve(z2, {"Zulrah": 600, "Vorkath": 12}, JASE)
    step()
    boss = ("Lynx Titan", "boss", "Vorkath", None, 12, None, True, False)
    expected += [("clan", *boss), ("bosses", *boss)]
    assert outbox(db) == expected

    # 4. A rollback: Attack drops while Hitpoints rises. Nothing derived; an anomaly recorded.
    z4 = {**z2, "Attack": xp(69), "Hitpoints": xp(82)}
    serve(z4, {"Zulrah": 600, "Vorkath": 12}, JASE)
    out = step()
    assert "went down" in out.stderr
    assert outbox(db) == expected
    store = open_store(f"sqlite:///{db}")
    try:
        anomalies = [(a.metric, a.old, a.new) for a in store.anomalies("Zezima")]
    finally:
        store.close()
    assert ("Attack", xp(71), xp(69)) in anomalies
    assert all(metric != "Hitpoints" for metric, _, _ in anomalies)

    # 5. A 404 streak: two polls are not enough; the third calls Hey_Jase missing, once.
    for _ in range(2):
        serve(z4, {"Zulrah": 600, "Vorkath": 12}, None)
        step()
        assert outbox(db) == expected
    step()
    expected += [("clan", "Hey_Jase", "player", "missing", None, 3, None, False, False)]
    assert outbox(db) == expected
    step()  # a fourth 404 says nothing new
    assert outbox(db) == expected

    # 6. An HTML maintenance page for everyone: exit 1, nothing derived, nothing stored.
    before = counts(db)
    fake.outage()
    out = step(expect_exit=1)
    assert "unavailable" in out.stdout
    assert outbox(db) == expected
    assert counts(db)["snapshot"] == before["snapshot"]
    fake.recover()

    # 7. Recovery: Hey_Jase is back (announced once); Zezima re-earns the rolled-back Attack
    #    levels up to the old high-water mark, which must not be announced again.
    serve({**z4, "Attack": xp(71)}, {"Zulrah": 600, "Vorkath": 12}, JASE)
    step()
    expected += [("clan", "Hey_Jase", "player", "back", None, None, None, False, False)]
    assert outbox(db) == expected

    # 8. Beyond the high-water mark, progress is news again.
    serve({**z4, "Attack": xp(75)}, {"Zulrah": 650, "Vorkath": 12}, JASE)
    step()
    # HP 82 came in with the rolled-back snapshot: it counts, but was never announced.
    c_75 = combat({"Attack": 75, "Strength": 99, "Hitpoints": 82, "Defence": 60})
    c_71 = combat({"Attack": 71, "Strength": 99, "Hitpoints": 82, "Defence": 60})
    expected += [  # players are polled in name order
        ("clan", "Lynx Titan", "boss", "Zulrah", 600, 650, 650, False, False),
        ("bosses", "Lynx Titan", "boss", "Zulrah", 600, 650, 650, False, False),
        ("clan", "Zezima", "levelup", "Attack", 71, 75, 75, False, False),
        ("clan", "Zezima", "combat", "Combat", c_71, c_75, None, False, False),
    ]
    assert outbox(db) == expected
