"""Digest schedules (pure, table-tested), the [[digest]] config, and the message's wording."""

from __future__ import annotations

from datetime import datetime, time, timezone
from pathlib import Path

import pytest

from notifier.limits import discord_limits_problems
from poller.config import load_settings
from poller.digest_message import as_text, render
from poller.digests import DigestData, Milestone, digest_period, due_period, period_key
from poller.gains import ClanGains, Gain, Gainer, find_metric
from poller.periods import Period
from poller.settings import ConfigError, DigestSettings

UTC = timezone.utc
LONDON = "Europe/London"
WEEKLY = DigestSettings(name="weekly", every="week", weekday="sunday", at=time(20))
DAILY = DigestSettings(name="daily", every="day", at=time(6, 30))
MONTHLY = DigestSettings(name="monthly", every="month")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(("digest", "now", "tz", "start", "end"), [
    # Sunday 20:00 London (GMT in December): the week that ended at 20:00 today.
    (WEEKLY, utc(2026, 12, 6, 20, 1), LONDON, utc(2026, 11, 29, 20), utc(2026, 12, 6, 20)),
    # A minute before the turn-over, the last ended week is the one before.
    (WEEKLY, utc(2026, 12, 6, 19, 59), LONDON, utc(2026, 11, 22, 20), utc(2026, 11, 29, 20)),
    # Across the clocks going back (25 Oct): 20:00 BST is 19:00 UTC, 20:00 GMT is 20:00 UTC,
    # so that week is an hour longer than 7 days.
    (WEEKLY, utc(2026, 10, 25, 21), LONDON, utc(2026, 10, 18, 19), utc(2026, 10, 25, 20)),
    # Daily at 06:30 in New York: yesterday 06:30 → today 06:30 (EST = UTC-5).
    (DAILY, utc(2026, 12, 3, 12), "America/New_York", utc(2026, 12, 2, 11, 30),
     utc(2026, 12, 3, 11, 30)),
    # Before today's 06:30, the last ended day is the one before yesterday's turn-over.
    (DAILY, utc(2026, 12, 3, 11), "America/New_York", utc(2026, 12, 1, 11, 30),
     utc(2026, 12, 2, 11, 30)),
    (MONTHLY, utc(2026, 12, 1, 0, 5), "UTC", utc(2026, 11, 1), utc(2026, 12, 1)),
])
def test_the_ended_period(digest: DigestSettings, now: datetime, tz: str, start: datetime,
                          end: datetime) -> None:
    ended = digest_period(digest, now, tz, offset=-1)
    assert (ended.start, ended.end) == (start, end)


@pytest.mark.parametrize(("now", "since", "due_start"), [
    # First seen during the week of 29 Nov: nothing before it is due...
    (utc(2026, 12, 2), "2026-11-29T20:00:00Z", None),
    # ...and that week is, once it ended.
    (utc(2026, 12, 6, 20, 5), "2026-11-29T20:00:00Z", utc(2026, 11, 29, 20)),
    # Down for three weeks: only the latest ended week, never the missed ones one by one.
    (utc(2026, 12, 27, 21), "2026-11-29T20:00:00Z", utc(2026, 12, 20, 20)),
])
def test_what_is_due(now: datetime, since: str, due_start: datetime | None) -> None:
    due = due_period(WEEKLY, now, "UTC", since)
    assert (due.start if due else None) == due_start


def test_period_keys_sort_like_time() -> None:
    keys = [period_key(Period(utc(2026, m, d), utc(2026, m, d))) for m, d in
            ((9, 30), (10, 1), (12, 31))]
    assert keys == sorted(keys) and keys[0] == "2026-09-30T00:00:00Z"


# -- config ----------------------------------------------------------------------------------

HEAD = '[webhooks.clan]\nurl = ""\n[webhooks.prices]\nurl = ""\nevents = ["price"]\n' \
       '[[players]]\nname = "Zezima"\n'


def load(tmp_path: Path, body: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "osrs-notify.toml"
    path.write_text(HEAD + body)
    return load_settings(path, environ={})


def test_defaults(tmp_path: Path) -> None:
    [d] = load(tmp_path, '[[digest]]\nname = "weekly"\n').digests
    assert (d.every, d.at, d.weekday, d.metrics, d.top, d.webhooks, d.chart, d.live) == \
        ("week", time(0), "monday", ("overall", "bosses"), 10, ("clan",), True, False)


@pytest.mark.parametrize(("body", "message"), [
    ('[[digest]]\nevery = "week"\n', "digest[0].name: missing"),
    ('[[digest]]\nname = "w"\nmetrics = ["vorkth"]\n',
     "digest[0].metrics[0]: unknown metric 'vorkth'; did you mean vorkath?"),
    ('[[digest]]\nname = "w"\nevery = "day"\nweekday = "sunday"\n',
     "digest[0].weekday: digest 'w': weekday is for every = \"week\""),
    ('[[digest]]\nname = "w"\nat = "25:00"\n', "digest[0].at: expected a local time"),
    ('[[digest]]\nname = "w"\nwebhooks = ["clna"]\n', "digest[0].webhooks[0]: digest 'w': "
     "no webhook named 'clna'"),
    ('[[digest]]\nname = "w"\nevery = "fortnight"\n', "digest[0].every"),
    ('[[digest]]\nname = "w"\ntop = 0\n', "digest[0].top"),
    ('[[digest]]\nname = "w"\n[[digest]]\nname = "W"\n', "digest[1].name: a second digest"),
    ('[[digest]]\nname = "w"\ncolour = "red"\n', "digest[0].colour: unknown key"),
])
def test_config_errors_name_the_table(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load(tmp_path, body)
    assert message in str(error.value)


def test_a_digest_needs_somewhere_to_post(tmp_path: Path) -> None:
    path = tmp_path / "osrs-notify.toml"
    path.write_text('[webhooks.prices]\nurl = ""\nevents = ["price"]\n'
                    '[[digest]]\nname = "w"\n')
    with pytest.raises(ConfigError, match="no webhook takes player events"):
        load_settings(path, environ={})


def test_at_takes_toml_times_and_strings(tmp_path: Path) -> None:
    [a, b] = load(tmp_path, '[[digest]]\nname = "a"\nat = 18:30:00\n'
                            '[[digest]]\nname = "b"\nat = "7:05"\n').digests
    assert (a.at, b.at) == (time(18, 30), time(7, 5))


# -- the message -------------------------------------------------------------------------------


def table(metric: str, gains: list[tuple[str, int]], idle: int = 0) -> ClanGains:
    period = Period(utc(2026, 11, 29, 20), utc(2026, 12, 6, 20), "week of 2026-11-29")
    gainers = tuple(Gainer(name, i + 1, Gain(value, None, period.start, period.end))
                    for i, (name, value) in enumerate(gains))
    return ClanGains(find_metric(metric), period, gainers,
                     tuple(f"Idle{i}" for i in range(idle)), sum(v for _, v in gains), None)


def test_a_digest_of_a_big_clan_stays_within_discords_limits() -> None:
    names = [f"Player_{i:03d}*" for i in range(500)]  # markdown in names is escaped
    data = DigestData(
        period=Period(utc(2026, 11, 29, 20), utc(2026, 12, 6, 20), "week of 2026-11-29"),
        tables=tuple(table(m, [(n, 10_000_000 - i) for i, n in enumerate(names)], idle=40)
                     for m in ("overall", "bosses", "clues", "attack", "vorkath")),
        nineties=tuple(Milestone(n, "Attack") for n in names[:30]),
        achievements=77, players=540,
    )
    digest = DigestSettings(name="weekly", top=25, chart=False)
    content = render(digest, data, "UTC", final=True, now=data.period.end)
    assert discord_limits_problems(content.body) == []
    text = "\n".join(as_text(content))
    assert "🥇 **Player\\_000\\*** +10M xp" in text
    assert "🎉 30 × 99:" in text and "and 20 more" in text and "🏅 77 achievements" in text
    assert content.chart is None


def test_standings_hash_ignores_the_update_time() -> None:
    data = DigestData(Period(utc(2026, 12, 1), utc(2026, 12, 2), "x"),
                      (table("overall", [("A", 5)]),), (), 0, 1)
    digest = DigestSettings(name="d", chart=False)
    one = render(digest, data, "UTC", final=False, now=utc(2026, 12, 2))
    two = render(digest, data, "UTC", final=False, now=utc(2026, 12, 2, 1))
    assert one.body != two.body and one.content_hash == two.content_hash


def test_without_matplotlib_a_digest_is_text_only_and_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib...` raises
    data = DigestData(Period(utc(2026, 12, 1), utc(2026, 12, 2), "2026-12-01"),
                      (table("overall", [("A", 5)]),), (), 0, 1)
    content = render(DigestSettings(name="d"), data, "UTC", final=True, now=utc(2026, 12, 2))
    embed = content.body["embeds"][0]
    assert content.chart is None and "image" not in embed
    assert "text only: matplotlib is not installed" in embed["footer"]["text"]
