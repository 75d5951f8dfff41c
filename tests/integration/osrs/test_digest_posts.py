"""Digests end to end inside one process: back-dated snapshots in a real SQLite (and, when
configured, PostgreSQL) store, the digest step of a pass, and the real WebhookSender against
the strict loopback fake Discord (multipart, edits, deletions, 429s). Time is a parameter."""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from notifier.sender import WebhookSender
from poller.config import load_settings
from poller.digest_step import queue_digests
from poller.game import OVERALL, xp_for_level
from poller.posting import PostReport, send_posts
from poller.settings import Settings
from poller.snapshot import Snapshot
from poller.store import OutboxEntry, PollRecord, Store, open_store

from support import FakeClock, fake_discord, pg_schema

# Sunday 29 Nov 2026 20:00 UTC starts the digest week; the next starts 6 Dec 20:00.
WEEK_START = datetime(2026, 11, 29, 20, tzinfo=timezone.utc)
DIGEST = """
[[digest]]
name = "weekly"
every = "week"
weekday = "sunday"
at = "20:00"
metrics = ["overall", "vorkath"]
top = 5
live = {live}
"""


def snap(overall: int, vorkath: int | None = None) -> Snapshot:
    acts = {} if vorkath is None else {"Vorkath": vorkath}
    return Snapshot(skills={"Attack": xp_for_level(60), OVERALL: overall},
                    activities=acts, overall_level=60)


@pytest.fixture
def discord() -> Iterator[fake_discord.FakeDiscord]:
    with fake_discord.FakeDiscord() as fake:
        yield fake


class Clan:
    """A config, a store and a sender on the fake; ``seed`` writes polls at given times."""

    def __init__(self, tmp_path: Path, discord: fake_discord.FakeDiscord, *, live: bool,
                 database: str | None = None) -> None:
        hook = discord.add_webhook()
        self.hook_id = hook.id
        db = database or f"sqlite:///{tmp_path / 'digest.db'}"
        (tmp_path / "osrs-notify.toml").write_text(
            f'database = "{db}"\ntimezone = "UTC"\n'
            '[webhooks.clan]\nurl = "${CLAN_URL}"\n'
            + "".join(f'[[players]]\nname = "{n}"\n' for n in ("Alice", "Bob", "Carol", "Dave"))
            + DIGEST.format(live=str(live).lower())
        )
        self.settings: Settings = load_settings(
            tmp_path / "osrs-notify.toml",
            environ={"CLAN_URL": discord.webhook_url(hook.id),
                     "DISCORD_API_BASE": discord.api_base},
        )
        self.discord = discord
        self.clock = FakeClock()
        self.store: Store = open_store(self.settings.database_url)
        self.store.sync_players([(p.name, "regular") for p in self.settings.players],
                                WEEK_START - timedelta(days=30))
        self.ids = {p.name: p.id for p in self.store.active_players()}

    def seed(self, polls: Mapping[str, list[tuple[datetime, Snapshot]]],
             events: Mapping[tuple[str, datetime], list[OutboxEntry]] | None = None) -> None:
        for name, points in polls.items():
            for at, snapshot in points:
                self.store.record_poll([PollRecord(
                    self.ids[name], at, snapshot, outbox=(events or {}).get((name, at), ()))])

    def step(self, now: datetime, store: Store | None = None) -> PostReport:
        report = PostReport()
        store = store or self.store
        sender = WebhookSender(self.discord.api_base, timeout=5, clock=self.clock,
                               sleep=self.clock.sleep)
        queue_digests(self.settings, store, now, report)
        send_posts(self.settings, store, lambda: sender, now, "test-owner", report)
        return report


def week_of_play(clan: Clan) -> None:
    before = WEEK_START - timedelta(days=1)
    mid = WEEK_START + timedelta(days=3)
    clan.seed({
        "Alice": [(before, snap(1_000_000, 100)), (mid, snap(1_400_000, 130))],
        "Bob": [(before, snap(2_000_000)), (mid, snap(2_900_000, 20))],
        "Carol": [(before, snap(500_000, 10)), (mid, snap(550_000, 12))],
        "Dave": [(before, snap(3_000_000))],  # idle all week
    }, events={("Bob", mid): [OutboxEntry("levelup", {"metric": "Attack", "old": 98,
                                                       "new": 99, "milestone": True})]})


def test_one_weekly_digest_with_medals_totals_and_a_chart(tmp_path, discord) -> None:
    clan = Clan(tmp_path, discord, live=False)
    # First seen during the week: the week before is not posted (nothing was watched then).
    assert clan.step(WEEK_START + timedelta(hours=1)).queued == []
    week_of_play(clan)
    assert clan.step(WEEK_START + timedelta(days=6)).queued == []  # not over yet
    after = WEEK_START + timedelta(days=7, minutes=5)
    report = clan.step(after)
    assert report.queued == ["digest weekly: week of 2026-11-29"] and report.sent == 1
    [message] = discord.messages_for(clan.hook_id)
    embed = message.body["embeds"][0]
    assert embed["title"] == "Weekly gains — week of 2026-11-29"
    overall, vorkath, milestones = embed["fields"]
    assert overall["value"].splitlines()[:3] == [
        "🥇 **Bob** +900K xp", "🥈 **Alice** +400K xp", "🥉 **Carol** +50K xp",
    ]
    assert overall["value"].splitlines()[-1] == "Clan: +1.35M xp · 3 gained, 1 did not"
    # Bob appeared at 20 kills: counted from the hiscores minimum (5), not from 0.
    assert vorkath["value"].splitlines()[:2] == ["🥇 **Alice** +30 kills", "🥈 **Bob** +16 kills"]
    assert milestones["value"] == "🎉 1 × 99: Bob (Attack)"
    # The chart: a real PNG under 1 MB, uploaded as files[0] and shown by the embed.
    [chart] = message.files
    assert embed["image"] == {"url": f"attachment://{chart.filename}"}
    assert chart.data.startswith(fake_discord.PNG_MAGIC) and len(chart.data) < 1_000_000
    from PIL import Image

    with Image.open(io.BytesIO(chart.data)) as image:
        assert image.format == "PNG" and image.size[0] == 800
    # Later passes of the same week, and a second process on the same database: nothing.
    assert clan.step(after + timedelta(hours=1)).queued == []
    other = open_store(clan.settings.database_url)
    try:
        assert clan.step(after + timedelta(hours=2), store=other).queued == []
    finally:
        other.close()
    assert len(discord.messages_for(clan.hook_id)) == 1


def test_after_downtime_only_the_latest_period_is_posted_once(tmp_path, discord) -> None:
    clan = Clan(tmp_path, discord, live=False)
    clan.step(WEEK_START + timedelta(hours=1))
    week_of_play(clan)
    back = WEEK_START + timedelta(days=7 * 3 + 2)  # three weeks down
    report = clan.step(back)
    assert report.queued == ["digest weekly: week of 2026-12-13"]
    assert clan.step(back + timedelta(hours=1)).queued == []
    assert len(discord.messages_for(clan.hook_id)) == 1


def test_a_failed_send_is_retried_not_repeated(tmp_path, discord) -> None:
    clan = Clan(tmp_path, discord, live=False)
    clan.step(WEEK_START + timedelta(hours=1))
    week_of_play(clan)
    after = WEEK_START + timedelta(days=7, minutes=5)
    discord.fail_next(1, status=503)
    report = clan.step(after)
    assert report.queued and report.sent == 0 and report.waiting == 1
    assert discord.messages_for(clan.hook_id) == []
    later = clan.step(after + timedelta(hours=2))  # past any back-off
    assert later.queued == [] and later.sent == 1
    assert len(discord.messages_for(clan.hook_id)) == 1


def test_live_message_is_edited_then_finalised_and_reposted_when_deleted(
    tmp_path, discord
) -> None:
    clan = Clan(tmp_path, discord, live=True)
    start = WEEK_START + timedelta(hours=1)
    clan.seed({"Alice": [(WEEK_START - timedelta(days=1), snap(1_000_000))]})
    first = clan.step(start)
    assert first.live_updated == ["digest weekly: week of 2026-11-29"] and first.sent == 1
    [posted] = discord.messages_for(clan.hook_id)
    assert posted.body["embeds"][0]["title"].endswith("(so far)")
    # Unchanged standings: no edit.
    assert clan.step(start + timedelta(hours=1)).edited == 0
    clan.seed({"Alice": [(start + timedelta(hours=2), snap(1_200_000))]})
    edited = clan.step(start + timedelta(hours=2))
    assert edited.edited == 1 and len(discord.messages) == 1
    now = discord.message(posted.message_id)
    assert "**Alice** +200K xp" in now.body["embeds"][0]["fields"][0]["value"]
    assert len(now.files) == 1  # the chart replaced, not added
    # Someone deleted it: the next change posts it afresh.
    discord.delete_message(posted.message_id)
    clan.seed({"Alice": [(start + timedelta(hours=3), snap(1_300_000))]})
    again = clan.step(start + timedelta(hours=3))
    assert again.sent == 1 and len(discord.messages) == 2
    fresh = discord.messages[-1]
    # A 429 on the edit: retried on a later pass, nothing lost.
    clan.seed({"Alice": [(start + timedelta(hours=4), snap(1_400_000))]})
    discord.throttle_next(3, retry_after=0.2)
    throttled = clan.step(start + timedelta(hours=4))
    assert throttled.edited == 0 and throttled.waiting == 1
    retried = clan.step(start + timedelta(hours=5))
    assert retried.edited == 1
    assert "+400K xp" in discord.message(fresh.message_id).body["embeds"][0]["fields"][0]["value"]
    # The week ends: the live message becomes the final digest (edited once), and a new
    # live message starts for the new week.
    end = WEEK_START + timedelta(days=7, minutes=1)
    final = clan.step(end)
    assert final.queued == ["digest weekly: week of 2026-11-29"]
    assert final.edited == 1 and final.sent == 1
    assert discord.message(fresh.message_id).body["embeds"][0]["title"] == \
        "Weekly gains — week of 2026-11-29"
    assert discord.messages[-1].body["embeds"][0]["title"] == \
        "Weekly gains — week of 2026-12-06 (so far)"
    assert clan.step(end + timedelta(hours=1)).queued == []


@pytest.mark.postgres
def test_two_processes_on_postgresql_post_a_period_once(tmp_path, discord, postgres_url) -> None:
    with pg_schema(postgres_url) as url:
        clan = Clan(tmp_path, discord, live=False, database=url)
        try:
            two_processes(clan)
        finally:
            clan.store.close()


def two_processes(clan: Clan) -> None:
    clan.step(WEEK_START + timedelta(hours=1))
    week_of_play(clan)
    after = WEEK_START + timedelta(days=7, minutes=5)
    other = open_store(clan.settings.database_url)
    try:
        reports = [clan.step(after), clan.step(after, store=other)]
    finally:
        other.close()
    assert [len(r.queued) for r in reports] == [1, 0]
    assert len(clan.discord.messages_for(clan.hook_id)) == 1
