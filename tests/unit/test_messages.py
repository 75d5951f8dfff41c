"""notifier.messages: outbox payloads → Discord webhook bodies.

Golden files in tests/unit/golden/ pin whole bodies; rewrite them after an intended change with
``OSRS_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_messages.py`` and review the
diff like code.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

import pytest

from notifier.embeds import COLOR_BOSS, COLOR_LEVELUP, COLOR_MILESTONE, COLOR_PLAYER
from notifier.limits import discord_limits_problems, sanitize_username
from notifier.markdown import escape_markdown
from notifier.messages import Message, Style, build_messages, sample_message, text_line
from notifier.text import event_line, render_template, render_text, validate_template
from poller.hiscores import profile_url

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("OSRS_UPDATE_GOLDEN") == "1"

T1 = "2026-07-01T12:00:00+00:00"
T2 = "2026-07-01T13:00:00+00:00"


def ev(kind: str, metric: str, player: str | None = "Zezima", **kw: object) -> dict[str, object]:
    """A payload as poller.pipeline.event_payload writes it."""
    p: dict[str, object] = {
        "kind": kind,
        "metric": metric,
        "old": None,
        "new": None,
        "threshold": None,
        "milestone": False,
        "first": False,
        "player": player,
        "mode": "regular",
        "taken_at": T1,
        "combat": 126,
        "total_level": 2277,
        "overall_xp": 1_000_000_000,
    }
    p.update(kw)
    if player is not None and "profile_url" not in kw:
        p["profile_url"] = profile_url(player, str(p["mode"]))
    return p


def numbered(*payloads: Mapping[str, object], start: int = 101) -> list[tuple[int, Mapping]]:
    return [(start + n, p) for n, p in enumerate(payloads)]


def as_json(messages: list[Message]) -> list[dict[str, object]]:
    return [{"delivery_ids": list(m.delivery_ids), "body": m.body} for m in messages]


def check_golden(name: str, messages: list[Message]) -> None:
    path = GOLDEN / f"{name}.json"
    actual = as_json(messages)
    if UPDATE or not path.exists():
        if not UPDATE:
            pytest.fail(f"{path} is missing: run with OSRS_UPDATE_GOLDEN=1 to write it")
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert json.loads(json.dumps(actual)) == expected, f"{name}: differs from {path}"
    for m in messages:
        assert discord_limits_problems(m.body) == []


def all_ids(messages: list[Message]) -> list[int]:
    return [i for m in messages for i in m.delivery_ids]


# -- golden files --------------------------------------------------------------------------


def test_golden_mixed_levelups() -> None:
    items = numbered(
        ev("levelup", "Attack", old=69, new=70, threshold=70),
        ev("levelup", "Strength", old=68, new=71, threshold=70),
        ev("xp", "Slayer", old=14_900_000, new=15_020_000, threshold=15_000_000),
        ev("combat", "Combat", old=125, new=126),
        ev("boss", "Vorkath", old=495, new=503, threshold=500),
        ev("clue", "Clue Scrolls (hard)", old=99, new=100, threshold=100),
    )
    check_golden("mixed_levelups", build_messages(items, Style()))


def test_golden_only_levelups_titled_levelled_up() -> None:
    items = numbered(
        ev("levelup", "Attack", old=69, new=70, threshold=70),
        ev("levelup", "Runecraft", old=76, new=77, threshold=77),
    )
    check_golden("levelups_only", build_messages(items, Style()))


def test_golden_99_and_achievements_highlighted() -> None:
    items = numbered(
        ev("levelup", "Attack", old=98, new=99, threshold=99, milestone=True),
        ev("levelup", "Strength", old=89, new=90, threshold=90),
        ev("xp", "Fishing", old=199_000_000, new=200_000_000, threshold=200_000_000,
           milestone=True),
        ev("achievement", "Base 70 Stats", new=70, milestone=True),
        ev("achievement", "99 Attack", new=99, milestone=True),
        ev("achievement", "200M Fishing", new=200_000_000, milestone=True),
        ev("achievement", "Maxed", new=99, milestone=True),
        ev("achievement", "500 Vorkath kills", new=500, milestone=True),
    )
    messages = build_messages(items, Style())
    check_golden("milestones", messages)
    (message,) = messages
    embeds = message.body["embeds"]
    assert isinstance(embeds, list)
    assert [e["color"] for e in embeds] == [COLOR_LEVELUP] + [COLOR_MILESTONE] * 5
    # "Attack 98 → 99" rides in the "99 Attack" embed rather than being said twice.
    assert embeds[0]["description"] == "Strength 89 → 90"
    assert "Attack 98 → 99" in embeds[2]["description"]
    assert embeds[2]["title"] == "🏆 99 Attack"


def test_golden_boss_first_appearance() -> None:
    items = numbered(ev("boss", "Kree'Arra", old=None, new=57, threshold=50, first=True))
    messages = build_messages(items, Style())
    check_golden("boss_first", messages)
    embed = messages[0].body["embeds"][0]  # type: ignore[index]
    assert embed["title"] == "Zezima is now on the Kree'Arra hiscores"
    assert embed["thumbnail"]["url"] == "https://oldschool.runescape.wiki/images/Kree%27Arra.png"


def test_golden_missing_and_back() -> None:
    items = numbered(
        ev("player", "missing", player="Lynx Titan", new=5),
        ev("player", "back", player="_Iron_Man_", mode="ironman", taken_at=T2),
        ev("player", "renamed", player="New Name", old_name="Old_Name"),
    )
    messages = build_messages(items, Style())
    check_golden("missing_back", messages)
    embeds = messages[0].body["embeds"]  # type: ignore[index]
    assert [e["color"] for e in embeds] == [COLOR_PLAYER] * 3
    assert embeds[1]["author"]["url"] == (
        "https://secure.runescape.com/m=hiscore_oldschool_ironman/hiscorepersonal?user1=_Iron_Man_"
    )
    assert embeds[1]["title"] == r"\_Iron\_Man\_ is back on the hiscores"


def test_golden_text_templates() -> None:
    style = Style(
        format="text",
        templates={
            "levelup": "🎉 {player} reached level {level} {skill} (was {old_level})",
            "boss": "{player} has killed {boss} {count} times — combat {combat}, total "
            "{total_level}",
            "achievement": "**{player}**: {achievement}!",
        },
    )
    items = numbered(
        ev("levelup", "Attack", player="a*b", old=69, new=70, threshold=70),
        ev("boss", "Vorkath", player="a*b", old=495, new=503, threshold=500),
        ev("clue", "Clue Scrolls (all)", player="a*b", old=499, new=500, threshold=500),
        ev("achievement", "Base 90 Stats", player="a*b", new=90, milestone=True),
        ev("xp", "Slayer", player="a*b", old=9, new=15_000_000, threshold=15_000_000),
    )
    messages = build_messages(items, style)
    check_golden("text_templates", messages)
    content = str(messages[0].body["content"])
    assert content.splitlines()[0] == r"🎉 a\*b reached level 70 Attack (was 69)"
    assert r"**a\*b** — Clue Scrolls (all): 500 completed" in content


def test_golden_username_avatar_and_price() -> None:
    style = Style(username="Clan Discord Bot", avatar_url="https://example.org/clan.png")
    items = numbered(
        ev("levelup", "Sailing", old=1, new=10, threshold=10),
        ev("price", "Twisted bow", player=None, old=1_600_000_000, new=1_500_000_000,
           threshold=1_550_000_000, item_id=20997),
    )
    messages = build_messages(items, style)
    check_golden("username_avatar_price", messages)
    body = messages[0].body
    assert body["username"] == "Clan Disc\u043erd Bot"  # Cyrillic о: Discord refuses "discord"
    assert body["avatar_url"] == "https://example.org/clan.png"


# -- escaping --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("_Zezima_", r"\_Zezima\_"),
        ("a*b", r"a\*b"),
        ("~~x~~ `y` |z| > q", r"\~\~x\~\~ \`y\` \|z\| \> q"),
        ("back\\slash", "back\\\\slash"),
        ("[link](https://x)", r"\[link\](https://x)"),
        ("# big", r"\# big"),
        ("- item", r"\- item"),
        ("two\nlines", "two lines"),
        ("@everyone hi @here", "@\u200beveryone hi @\u200bhere"),
        ("Lynx Titan", "Lynx Titan"),
    ],
)
def test_escape_markdown(raw: str, escaped: str) -> None:
    assert escape_markdown(raw) == escaped


def test_names_escaped_in_titles_and_descriptions_not_in_author() -> None:
    items = numbered(
        ev("levelup", "Attack", player="_Zezima_", old=1, new=2),
        ev("achievement", "Base 60 Stats", player="_Zezima_", new=60, milestone=True),
    )
    embeds = build_messages(items, Style())[0].body["embeds"]
    assert embeds[0]["title"] == r"\_Zezima\_ levelled up"  # type: ignore[index]
    assert embeds[1]["description"] == r"Congratulations, **\_Zezima\_**!"  # type: ignore[index]
    # Author names are not markdown in Discord: escaping would show the backslashes.
    assert embeds[0]["author"]["name"] == "_Zezima_"  # type: ignore[index]


def test_everyone_neutralised_everywhere() -> None:
    p = ev("levelup", "@everyone", player="@here", old=1, new=2)
    for style in (Style(), Style(format="text"), Style(format="text", templates={
        "levelup": "@everyone {player} {skill}"
    })):
        (message,) = build_messages([(1, p)], style)
        text = json.dumps(message.body, ensure_ascii=False)
        assert "@everyone" not in text and "@here" not in text
        assert message.body["allowed_mentions"] == {"parse": []}


def test_metric_text_escaped() -> None:
    p = ev("boss", "*Bold* _boss_", old=1, new=50, threshold=50)
    embed = build_messages([(1, p)], Style())[0].body["embeds"][0]  # type: ignore[index]
    assert embed["description"] == r"\*Bold\* \_boss\_: 50 kills"


# -- bodies ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["embed", "text"])
def test_allowed_mentions_always_and_nothing_for_nothing(fmt: str) -> None:
    assert build_messages([], Style(format=fmt)) == []  # type: ignore[arg-type]
    items = numbered(*(ev("levelup", "Attack", player=f"P{n}", old=1, new=2) for n in range(30)))
    messages = build_messages(items, Style(format=fmt))  # type: ignore[arg-type]
    assert messages
    for m in messages:
        assert m.body["allowed_mentions"] == {"parse": []}
        assert "username" not in m.body and "avatar_url" not in m.body


def test_delivery_ids_each_carried_once_in_outbox_order() -> None:
    payloads = []
    for n in range(25):
        payloads.append(ev("levelup", "Attack", player=f"P{n % 7}", taken_at=T1, old=1, new=2))
        payloads.append(ev("achievement", "99 Attack", player=f"P{n % 7}", milestone=True))
    items = [(1000 - n, p) for n, p in enumerate(payloads)]  # ids need not be ascending
    for style in (Style(), Style(format="text")):
        messages = build_messages(items, style)
        ids = all_ids(messages)
        assert Counter(ids) == Counter(i for i, _ in items)
        position = {i: n for n, (i, _) in enumerate(items)}
        for m in messages:
            assert list(m.delivery_ids) == sorted(m.delivery_ids, key=position.__getitem__)


def test_grouped_by_player_and_poll() -> None:
    items = numbered(
        ev("levelup", "Attack", player="A", old=1, new=2),
        ev("levelup", "Attack", player="B", old=1, new=2),
        ev("levelup", "Defence", player="A", old=1, new=2),  # same poll as the first
        ev("levelup", "Magic", player="A", old=1, new=2, taken_at=T2),  # a later poll
        ev("boss", "Zulrah", player="B", old=50, new=100, threshold=100),
    )
    (message,) = build_messages(items, Style())
    embeds = message.body["embeds"]
    assert [(e["author"]["name"], e["description"]) for e in embeds] == [  # type: ignore[index]
        ("A", "Attack 1 → 2\nDefence 1 → 2"),
        ("B", "Attack 1 → 2\nZulrah: 100 kills"),
        ("A", "Magic 1 → 2"),
    ]
    assert [e["timestamp"] for e in embeds] == [T1, T1, T2]  # type: ignore[index]
    assert embeds[1]["title"] == "B: 2 updates"  # type: ignore[index]
    assert message.delivery_ids == (101, 102, 103, 104, 105)


def test_ordering_is_stable() -> None:
    items = numbered(
        *(ev("levelup", s, player=p, old=1, new=2) for p in ("C", "A", "B") for s in ("Attack",
          "Magic"))
    )
    first = build_messages(items, Style())
    assert build_messages(items, Style()) == first
    names = [e["author"]["name"] for e in first[0].body["embeds"]]  # type: ignore[index]
    assert names == ["C", "A", "B"]  # first appearance, not alphabetical


def test_embed_parts() -> None:
    (message,) = build_messages(numbered(ev("levelup", "Attack", old=69, new=70)), Style())
    (embed,) = message.body["embeds"]  # type: ignore[misc]
    assert embed["author"] == {
        "name": "Zezima",
        "url": "https://secure.runescape.com/m=hiscore_oldschool/hiscorepersonal?user1=Zezima",
    }
    assert embed["title"] == "Zezima levelled up"
    assert embed["description"] == "Attack 69 → 70"
    assert embed["thumbnail"] == {"url": "https://oldschool.runescape.wiki/images/Attack_icon.png"}
    assert embed["footer"] == {"text": "Combat 126 · Total 2,277"}
    assert embed["timestamp"] == T1


def test_author_links_the_page_the_poller_named_and_nothing_else() -> None:
    linked = build_messages(numbered(ev("levelup", "Attack", old=1, new=2,
                                        profile_url="https://example.org/p/Zezima")), Style())
    assert linked[0].body["embeds"][0]["author"]["url"] == "https://example.org/p/Zezima"
    for bad in (None, "javascript:alert(1)"):
        plain = build_messages(numbered(ev("levelup", "Attack", old=1, new=2, profile_url=bad)),
                               Style())
        assert "url" not in plain[0].body["embeds"][0]["author"]


def test_footer_and_timestamp_absent_when_unknown() -> None:
    p = ev("player", "missing", new=3, combat=None, total_level=None, taken_at="not a time")
    embed = build_messages([(1, p)], Style())[0].body["embeds"][0]  # type: ignore[index]
    assert "footer" not in embed and "timestamp" not in embed
    naive = ev("levelup", "Attack", old=1, new=2, taken_at="2026-07-01T12:00:00")
    embed = build_messages([(1, naive)], Style())[0].body["embeds"][0]  # type: ignore[index]
    assert embed["timestamp"] == "2026-07-01T12:00:00+00:00"


def test_price_embed_links_item_page() -> None:
    p = {"kind": "price", "metric": "Abyssal whip", "old": 2_000_000, "new": 2_100_000,
         "item_id": 4151, "taken_at": T1}
    embed = build_messages([(7, p)], Style())[0].body["embeds"][0]  # type: ignore[index]
    assert embed["url"] == "https://prices.runescape.wiki/osrs/item/4151"
    assert embed["description"] == "Price: 2,100,000 gp\nWas: 2,000,000 gp (+5.0%)"
    assert "author" not in embed
    with_url = {**p, "url": "https://example.org/whip", "icon_url": "https://example.org/i.png"}
    embed = build_messages([(7, with_url)], Style())[0].body["embeds"][0]  # type: ignore[index]
    assert embed["url"] == "https://example.org/whip"
    assert embed["thumbnail"] == {"url": "https://example.org/i.png"}


def test_real_pipeline_payloads_render() -> None:
    # The payload shape is poller's: make sure what it writes is what we read.
    from poller.events import Event
    from poller.pipeline import event_payload

    when = datetime(2026, 7, 1, 12, tzinfo=timezone.utc)
    events = [
        Event("levelup", "Attack", 98, 99, 99, milestone=True),
        Event("boss", "Vorkath", None, 57, 50, first=True),
        Event("achievement", "99 Attack", new=99, milestone=True),
        Event("player", "back"),
    ]
    items = [
        (n, event_payload(e, player="Lynx Titan", mode="ironman", snapshot=None, taken_at=when))
        for n, e in enumerate(events)
    ]
    (message,) = build_messages(items, Style())
    assert discord_limits_problems(message.body) == []
    assert message.delivery_ids == (0, 1, 2, 3)
    titles = [e["title"] for e in message.body["embeds"]]  # type: ignore[index]
    assert titles == ["Lynx Titan: 2 updates", "🏆 99 Attack"]


# -- text format -----------------------------------------------------------------------------


def test_text_default_line_and_milestone_mark() -> None:
    assert text_line(ev("levelup", "Attack", player="_x_", old=1, new=2)) == (
        r"**\_x\_** — Attack 1 → 2"
    )
    assert text_line(ev("achievement", "Maxed", new=99, milestone=True)) == (
        "🏆 **Zezima** — Achievement: Maxed"
    )
    assert text_line(ev("price", "Twisted bow", player=None, new=5)) == "Twisted bow: 5 gp"


def test_text_packs_lines_under_2000() -> None:
    items = numbered(*(ev("levelup", "Attack", player=f"Player{n}", old=1, new=2)
                       for n in range(200)))
    messages = build_messages(items, Style(format="text"))
    assert len(messages) > 1
    for m in messages:
        assert len(str(m.body["content"])) <= 2000
        assert discord_limits_problems(m.body) == []
    lines = [line for m in messages for line in str(m.body["content"]).split("\n")]
    assert len(lines) == 200 and lines[0] == "**Player0** — Attack 1 → 2"
    assert all_ids(messages) == [i for i, _ in items]


def test_text_overlong_line_is_cut() -> None:
    style = Style(format="text", templates={"levelup": "x" * 5000 + " {player}"})
    (message,) = build_messages(numbered(ev("levelup", "Attack", old=1, new=2)), style)
    content = str(message.body["content"])
    assert len(content) == 2000 and content.endswith("…")


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ("{player} {skill} {level}", "Zezima Attack 70"),
        ("{{literal}} {player}", "{literal} Zezima"),
        ("{unknown} {player}", "{unknown} Zezima"),
        ("{boss} {player}", "{boss} Zezima"),  # another kind's placeholder: left as written
        ("{ {player} }", "{ Zezima }"),
        ("{player:>10}", "{player:>10}"),
        ("{combat}/{total_level} {xp}", "126/2,277 {xp}"),
        ("{line}", "Attack 69 → 70"),
        ("{text}", "Zezima — Attack 69 → 70"),
        ("at {time}", "at <t:1782907200:f>"),
    ],
)
def test_render_template_never_raises(template: str, rendered: str) -> None:
    p = ev("levelup", "Attack", old=69, new=70, threshold=70)
    assert render_template(template, p) == rendered


def test_template_values_per_kind() -> None:
    assert render_template("{skill} {xp}", ev("xp", "Slayer", new=15_020_000,
                                              threshold=15_000_000)) == "Slayer 15M"
    assert render_template("{clue}: {count}", ev("clue", "Clue Scrolls (all)", new=1000)) == (
        "Clue Scrolls (all): 1,000"
    )
    assert render_template("{item} {price} {old_price}", ev("price", "Bond", old=1, new=2)) == (
        "Bond 2 1"
    )
    assert render_template("{status} {old_name}", ev("player", "renamed", old_name="a_b")) == (
        r"renamed a\_b"
    )


@pytest.mark.parametrize(
    ("kind", "template", "problem"),
    [
        ("levelup", "{player} reached {level} {skill}", None),
        ("boss", "{player}: {boss} {count} {{kc}}", None),
        ("levelup", "{player} {boss}", "unknown placeholder {boss} for levelup events"),
        ("levelup", "{player", "stray '{'"),
        ("levelup", "player}", "stray '}'"),
        ("levelup", "   ", "empty template"),
        ("nonsense", "{player}", "unknown event kind 'nonsense'"),
    ],
)
def test_validate_template(kind: str, template: str, problem: str | None) -> None:
    found = validate_template(kind, template)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


# -- username, sample ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Clan Bot", "Clan Bot"),
        ("DISCORD hooks", "DISC\u041eRD hooks"),
        ("clyde", "clyd\u0435"),
        ("everyone", "\u0435veryone"),
        ("a@b#c:d```e", "a\uff20b\uff03c\uff1adˋˋˋe"),
        ("  spaced\n out  ", "spaced out"),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_sanitize_username(raw: str | None, clean: str | None) -> None:
    assert sanitize_username(raw) == clean
    if clean:
        assert discord_limits_problems({"username": clean, "content": "x",
                                        "allowed_mentions": {"parse": []}}) == []


def test_username_clipped_to_80() -> None:
    clean = sanitize_username("n" * 200)
    assert clean is not None and len(clean) == 80 and clean.endswith("…")


def test_invalid_avatar_url_left_out() -> None:
    (m,) = build_messages(numbered(ev("levelup", "Attack")), Style(avatar_url="ftp://x/y.png"))
    assert "avatar_url" not in m.body


@pytest.mark.parametrize("fmt", ["embed", "text"])
def test_sample_message(fmt: str) -> None:
    now = datetime(2026, 7, 1, 12, tzinfo=timezone.utc)
    style = Style(username="Clan", format=fmt, templates={"levelup": "{player} → {level}"})  # type: ignore[arg-type]
    m = sample_message(style, now=now)
    assert m.delivery_ids == ()
    assert discord_limits_problems(m.body) == []
    assert m.body["username"] == "Clan"
    assert "Test message from osrs-notify" in str(m.body["content"])
    if fmt == "text":
        assert str(m.body["content"]).endswith("\nZezima → 70")
    else:
        assert m.body["embeds"][0]["timestamp"] == now.isoformat()  # type: ignore[index]


# -- the plain-text renderer the dry run uses ------------------------------------------------


def test_event_line_and_render_text_unchanged() -> None:
    assert event_line(ev("levelup", "Attack", old=69, new=70)) == "Attack 69 → 70"
    assert event_line(ev("boss", "Vorkath", new=500)) == "Vorkath: 500 kills"
    assert event_line(ev("xp", "Slayer", threshold=25_000_000)) == "Slayer 25M XP"
    assert render_text(ev("combat", "Combat", player="Lynx Titan", old=1, new=2)) == (
        "Lynx Titan — Combat level 1 → 2"
    )
    assert event_line(ev("levelup", "Attack", old=10**5000, new=None)) == "Attack ? → ?"


def test_a_repeated_delivery_id_is_carried_once() -> None:
    p = ev("levelup", "Attack", old=1, new=2)
    for style in (Style(), Style(format="text")):
        messages = build_messages([(5, p), (5, p), (6, p)], style)
        assert all_ids(messages) == [5, 6]


def test_back_with_progress_takes_the_progress_colour() -> None:
    items = numbered(ev("player", "back"), ev("boss", "Zulrah", old=50, new=100, threshold=100))
    embed = build_messages(items, Style())[0].body["embeds"][0]  # type: ignore[index]
    assert embed["color"] == COLOR_BOSS
    assert embed["description"] == "back on the hiscores\nZulrah: 100 kills"
