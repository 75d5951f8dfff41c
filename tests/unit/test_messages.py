"""notifier.messages: notices → Discord webhook bodies.

Golden files in tests/unit/golden/ pin whole bodies; rewrite them after an intended change with
``OSRS_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_messages.py`` and review the
diff like code.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from notifier.embeds import COLOR_BOSS, COLOR_LEVELUP, COLOR_MILESTONE, COLOR_PLAYER
from notifier.limits import discord_limits_problems, sanitize_username
from notifier.markdown import escape_markdown
from notifier.messages import Message, Style, build_messages, sample_message, text_line
from notifier.notice import Notice
from notifier.numbers import fmt_gp, price_text
from notifier.text import event_line, render_template, render_text, validate_template
from poller.alerts import Alert
from poller.events import Event
from poller.items import ItemInfo
from poller.notices import event_notice, price_notice

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("OSRS_UPDATE_GOLDEN") == "1"

T1 = "2026-07-01T12:00:00+00:00"
T2 = "2026-07-01T13:00:00+00:00"
WHEN = datetime(2026, 7, 1, 12, tzinfo=timezone.utc)
WIKI = "https://oldschool.runescape.wiki/images/"


def ev(kind: str, metric: str, player: str | None = "Zezima", **kw: object) -> Notice:
    """A notice as poller.notices.event_notice makes it: verified pictures, account type, what
    an achievement is about, a clue's tier. ``kw`` overrides or adds keys of its JSON."""
    mode = str(kw.pop("mode", "regular"))
    fields = {k: kw.pop(k) for k in ("old", "new", "threshold", "milestone", "first") if k in kw}
    event = Event(kind, metric, **fields)  # type: ignore[arg-type]
    if player is not None:
        n = event_notice(event, player=player, mode=mode, snapshot=None, taken_at=WHEN)
    else:
        n = Notice(kind, metric, **fields, taken_at=WHEN)  # type: ignore[arg-type]
    p = n.to_json()
    p.update(combat=126, total_level=2277, overall_xp=1_000_000_000)
    p.update(kw)
    return Notice.from_json(p)


def numbered(*notices: Notice, start: int = 101) -> list[tuple[int, Notice]]:
    return [(start + n, p) for n, p in enumerate(notices)]


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
    messages = build_messages(items, Style())
    check_golden("mixed_levelups", messages)
    (embed,) = messages[0].body["embeds"]  # type: ignore[misc]
    assert embed["title"] == "Levels, XP, combat, kill counts and clues"
    assert embed["thumbnail"] == {"url": WIKI + "Attack_icon.png"}
    # "Combat level 125 → 126" is a line: the footer does not say combat 126 again.
    assert embed["footer"] == {"text": "Total 2,277"}


def test_golden_only_levelups_titled_level_ups() -> None:
    items = numbered(
        ev("levelup", "Attack", old=69, new=70, threshold=70),
        ev("levelup", "Runecraft", old=76, new=77, threshold=77),
    )
    messages = build_messages(items, Style())
    check_golden("levelups_only", messages)
    assert messages[0].body["embeds"][0]["title"] == "Level ups"  # type: ignore[index]


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
        ev("boss", "Vorkath", old=495, new=503, threshold=500),
        ev("achievement", "500 Vorkath kills", new=500, milestone=True),
    )
    messages = build_messages(items, Style())
    check_golden("milestones", messages)
    (message,) = messages
    embeds = message.body["embeds"]
    assert isinstance(embeds, list)
    assert [e["color"] for e in embeds] == [COLOR_LEVELUP] + [COLOR_MILESTONE] * 5
    assert [e["title"] for e in embeds] == [
        "Level up", "🏆 Base 70 Stats", "🏆 99 Attack", "🏆 200M Fishing", "🏆 Maxed",
        "🏆 500 Vorkath kills",
    ]
    assert embeds[0]["description"] == "Strength 89 → 90"
    # "Attack 98 → 99" and "Fishing 200M XP" say no more than their achievement: not repeated.
    assert "description" not in embeds[2] and "description" not in embeds[3]
    # The kill count rides in its achievement, once, without "(passed 500)".
    assert embeds[5]["description"] == "Vorkath: 503 kills"
    assert sum("Vorkath" in json.dumps(e, ensure_ascii=False) for e in embeds) == 1
    # The player's combat and total are said once, on the first embed.
    assert [("footer" in e) for e in embeds] == [True] + [False] * 5
    assert embeds[4]["thumbnail"] == {"url": WIKI + "Max_cape_detail.png"}
    assert embeds[5]["thumbnail"] == {"url": WIKI + "Vorkath.png"}
    assert message.delivery_ids == tuple(range(101, 110))


def test_golden_boss_first_appearance() -> None:
    items = numbered(ev("boss", "Kree'Arra", old=None, new=57, threshold=50, first=True))
    messages = build_messages(items, Style())
    check_golden("boss_first", messages)
    embed = messages[0].body["embeds"][0]  # type: ignore[index]
    assert embed["title"] == "Kill count"
    assert embed["description"] == "Kree'Arra: now on the hiscores at 57 kills"
    # The Wiki's file is "Kree'arra.png", not the hiscores spelling.
    assert embed["thumbnail"]["url"] == WIKI + "Kree%27arra.png"


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
    assert embeds[1]["author"] == {
        "name": "_Iron_Man_ (Ironman)",
        "url": "https://secure.runescape.com/m=hiscore_oldschool_ironman/hiscorepersonal?user1=_Iron_Man_",
        "icon_url": WIKI + "Ironman_chat_badge.png",
    }
    assert [e["title"] for e in embeds] == [
        "Missing from the hiscores", "Back on the hiscores", r"Renamed from Old\_Name",
    ]
    assert embeds[0]["description"] == "Not found 5 polls in a row: renamed or banned?"


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
        price_event(old=1_600_000_000, new=1_500_000_000, threshold=1_550_000_000, rule="below"),
    )
    messages = build_messages(items, style)
    check_golden("username_avatar_price", messages)
    body = messages[0].body
    assert body["username"] == "Clan Disc\u043erd Bot"  # Cyrillic о: Discord refuses "discord"
    assert body["avatar_url"] == "https://example.org/clan.png"
    price = body["embeds"][1]  # type: ignore[index]
    assert price["title"] == "📉 Twisted bow fell below 1.55b"
    assert price["description"] == "Now 1.5b (1,500,000,000 gp)\nWas 1.6b · down 6.2%"


# -- a typical poll, as a clan reads it --------------------------------------------------------


def price_event(*, new: int, rule: str = "below", **kw: object) -> Notice:
    """A price alert as poller.notices.price_notice makes it (Twisted bow unless ``metric``)."""
    item = ItemInfo(20997, str(kw.pop("metric", "Twisted bow")), icon="Twisted bow.png")
    alert = Alert(
        rule=rule,  # type: ignore[arg-type]
        direction=kw.pop("direction", "up" if rule == "above" else "down"),  # type: ignore[arg-type]
        old=kw.pop("old", None), new=new, threshold=kw.pop("threshold", None),  # type: ignore[arg-type]
        rules=tuple(kw.pop("rules", [rule])),  # type: ignore[call-overload]
        change_pct=kw.pop("change_pct", None),  # type: ignore[arg-type]
    )
    watch = SimpleNamespace(above=1_600_000_000, below=1_200_000_000, change_pct=5.0,
                            window=kw.pop("window", "1h"))
    average = kw.pop("average", None)
    assert not kw, kw
    return price_notice(item, alert, watch, high=None, low=None, average=average,  # type: ignore[arg-type]
                        now=WHEN)


def typical_poll() -> list[tuple[int, Notice]]:
    """One hourly poll of a small clan: the README's example of what a clan sees."""

    def zezima(kind: str, metric: str, **kw: object) -> dict[str, object]:
        return ev(kind, metric, combat=102, total_level=1_662, **kw)

    def lynx(kind: str, metric: str, **kw: object) -> dict[str, object]:
        return ev(kind, metric, player="Iron_Lynx", mode="hardcore", combat=98,
                  total_level=1_540, **kw)

    return numbered(
        zezima("levelup", "Attack", old=68, new=70, threshold=70),
        zezima("levelup", "Strength", old=98, new=99, threshold=99, milestone=True),
        zezima("combat", "Combat", old=101, new=102),
        zezima("boss", "Vorkath", old=495, new=503, threshold=500),
        zezima("clue", "Clue Scrolls (hard)", old=99, new=100, threshold=100),
        zezima("clue", "Clue Scrolls (all)", old=399, new=400, threshold=400),
        zezima("achievement", "99 Strength", new=99, milestone=True),
        zezima("achievement", "500 Vorkath kills", new=500, milestone=True),
        lynx("levelup", "Slayer", old=89, new=90, threshold=90),
        lynx("clue", "Clue Scrolls (elite)", old=49, new=50, threshold=50),
        lynx("clue", "Clue Scrolls (all)", old=499, new=500, threshold=500),
        lynx("achievement", "500 Clue Scrolls (all)", new=500, milestone=True),
        price_event(old=1_250_000_000, new=1_150_000_000, threshold=1_200_000_000, rule="below",
                    rules=["below", "change"], average=1_240_000_000, change_pct=-7.26),
    )


def test_golden_typical_poll_embeds() -> None:
    messages = build_messages(typical_poll(), Style())
    check_golden("typical_poll", messages)
    (message,) = messages
    embeds = message.body["embeds"]
    assert isinstance(embeds, list)
    assert [e["title"] for e in embeds] == [
        "Levels, combat and clues",
        "🏆 99 Strength",
        "🏆 500 Vorkath kills",
        "Level up",
        "🏆 500 Clue Scrolls (all)",
        "📉 Twisted bow fell below 1.2b",
    ]
    zezima = embeds[0]["description"].splitlines()
    assert zezima == [
        "Attack 68 → 70", "Combat level 101 → 102", "Clue scrolls: 100 hard · 400 in all",
    ]
    assert embeds[2]["description"] == "Vorkath: 503 kills"
    # The hardcore ironman is marked as the game marks them: label and helm badge.
    assert embeds[3]["author"]["name"] == "Iron_Lynx (Hardcore Ironman)"
    assert embeds[3]["author"]["icon_url"] == WIKI + "Hardcore_ironman_chat_badge.png"
    assert [e.get("footer", {}).get("text") for e in embeds] == [
        "Total 1,662", None, None, "Combat 98 · Total 1,540", None, "Prices from the OSRS Wiki",
    ]
    assert embeds[4]["description"] == "Clue scrolls: 50 elite"
    assert embeds[5]["description"].splitlines() == [
        "Now 1.15b (1,150,000,000 gp)", "Was 1.25b · down 8.0%",
        "Also down 7.3% on the 1h average",
    ]
    assert_each_fact_once(message)
    assert message.delivery_ids == tuple(range(101, 114))


def test_golden_typical_poll_text() -> None:
    messages = build_messages(typical_poll(), Style(format="text"))
    check_golden("typical_poll_text", messages)
    (message,) = messages
    assert str(message.body["content"]).splitlines() == [
        "**Zezima** — Attack 68 → 70",
        "**Zezima** — Combat level 101 → 102",
        "**Zezima** — Clue scrolls: 100 hard · 400 in all",
        "🏆 **Zezima** — 99 Strength",
        "🏆 **Zezima** — 500 Vorkath kills · Vorkath: 503 kills",
        r"**Iron\_Lynx** (Hardcore Ironman) — Slayer 89 → 90",
        r"🏆 **Iron\_Lynx** (Hardcore Ironman) — 500 Clue Scrolls (all) · Clue scrolls: 50 elite",
        "📉 Twisted bow fell below 1.2b: now 1.15b (was 1.25b)",
    ]
    assert message.delivery_ids == tuple(range(101, 114))


def assert_each_fact_once(message: Message) -> None:
    """What a clan must never read twice in one message."""
    embeds = message.body["embeds"]
    assert isinstance(embeds, list)
    for e in embeds:
        author = e.get("author", {}).get("name", "")
        name = author.split(" (")[0]
        text = " ".join(str(e.get(k, "")) for k in ("title", "description"))
        # The player's name is the author, nowhere else.
        assert not name or escape_markdown(name) not in text and name not in text, e
        assert "(passed" not in text or "🏆" not in e.get("title", ""), e
        assert "Clue Scrolls (all):" not in text or "Clue scrolls:" not in text, e
        assert "Achievement:" not in text, e
    lines = [line for e in embeds for line in str(e.get("description", "")).splitlines()]
    assert len(lines) == len(set(lines)), lines
    metrics = ("Vorkath", "Strength", "Attack", "Slayer")
    for metric in metrics:
        assert sum(metric in json.dumps({k: e.get(k) for k in ("title", "description")})
                   for e in embeds) <= 1, metric


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


def test_name_only_in_the_author_and_escaped_wherever_markdown_shows_it() -> None:
    items = numbered(
        ev("levelup", "Attack", player="_Zezima_", old=1, new=2),
        ev("achievement", "Base 60 Stats", player="_Zezima_", new=60, milestone=True),
    )
    embeds = build_messages(items, Style())[0].body["embeds"]
    assert [e["title"] for e in embeds] == ["Level up", "🏆 Base 60 Stats"]  # type: ignore[index]
    for e in embeds:  # type: ignore[union-attr]
        assert "Zezima" not in json.dumps({k: e.get(k) for k in ("title", "description")})
        # Author names are not markdown in Discord: escaping would show the backslashes.
        assert e["author"]["name"] == "_Zezima_"
    text = build_messages(items, Style(format="text"))[0].body["content"]
    assert str(text).splitlines() == [
        r"**\_Zezima\_** — Attack 1 → 2", r"🏆 **\_Zezima\_** — Base 60 Stats",
    ]


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
    assert embeds[1]["title"] == "Levels and kill counts"  # type: ignore[index]
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
    assert embed["title"] == "Level up"
    assert embed["description"] == "Attack 69 → 70"
    assert embed["thumbnail"] == {"url": WIKI + "Attack_icon.png"}
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
    # A price notice without the rule that fired says the move.
    p = Notice.from_json({
        "version": 1, "kind": "price", "metric": "Abyssal whip", "old": 2_000_000,
        "new": 2_100_000, "item_id": 4151, "url": "https://prices.runescape.wiki/osrs/item/4151",
        "taken_at": T1,
    })
    embed = build_messages([(7, p)], Style())[0].body["embeds"][0]  # type: ignore[index]
    assert embed["url"] == "https://prices.runescape.wiki/osrs/item/4151"
    assert embed["title"] == "📈 Abyssal whip: 2.1m"
    assert embed["description"] == "Now 2.1m (2,100,000 gp)\nWas 2m · up 5.0%"
    assert "author" not in embed
    # No picture unless the payload names one: the notifier never guesses a Wiki file name.
    assert "thumbnail" not in embed
    with_url = Notice.from_json({**p.to_json(), "url": "https://example.org/whip",
                                 "icon_url": "https://example.org/i.png"})
    embed = build_messages([(7, with_url)], Style())[0].body["embeds"][0]  # type: ignore[index]
    assert embed["url"] == "https://example.org/whip"
    assert embed["thumbnail"] == {"url": "https://example.org/i.png"}


def test_real_pipeline_notices_render() -> None:
    # Through the outbox and back: what the poller writes is what we read.
    when = datetime(2026, 7, 1, 12, tzinfo=timezone.utc)
    events = [
        Event("levelup", "Attack", 98, 99, 99, milestone=True),
        Event("boss", "Vorkath", None, 57, 50, first=True),
        Event("achievement", "99 Attack", new=99, milestone=True),
        Event("player", "back"),
    ]
    items = [
        (n, Notice.from_json(event_notice(e, player="Lynx Titan", mode="ironman", snapshot=None,
                                          taken_at=when).to_json()))
        for n, e in enumerate(events)
    ]
    (message,) = build_messages(items, Style())
    assert discord_limits_problems(message.body) == []
    assert message.delivery_ids == (0, 1, 2, 3)
    embeds = message.body["embeds"]
    assert [e["title"] for e in embeds] == [  # type: ignore[index]
        "Kill counts and status", "🏆 99 Attack",
    ]
    assert embeds[0]["description"] == (  # type: ignore[index]
        "Vorkath: now on the hiscores at 57 kills\nback on the hiscores"
    )
    for e in embeds:  # type: ignore[union-attr]
        assert e["author"]["name"] == "Lynx Titan (Ironman)"
        assert e["author"]["icon_url"] == WIKI + "Ironman_chat_badge.png"
    assert embeds[0]["thumbnail"] == {"url": WIKI + "Vorkath.png"}  # type: ignore[index]
    assert embeds[1]["thumbnail"] == {"url": WIKI + "Attack_icon.png"}  # type: ignore[index]


# -- text format -----------------------------------------------------------------------------


def test_text_default_line_and_milestone_mark() -> None:
    assert text_line(ev("levelup", "Attack", player="_x_", old=1, new=2)) == (
        r"**\_x\_** — Attack 1 → 2"
    )
    assert text_line(ev("achievement", "Maxed", new=99, milestone=True)) == "🏆 **Zezima** — Maxed"
    assert text_line(ev("levelup", "Attack", mode="ultimate", old=1, new=2)) == (
        "**Zezima** (Ultimate Ironman) — Attack 1 → 2"
    )
    assert text_line(ev("price", "Twisted bow", player=None, new=5)) == "Twisted bow: 5 gp"
    assert text_line(price_event(old=1_500_000_000, new=1_650_000_000, threshold=1_600_000_000,
                                 rule="above")) == (
        "📈 Twisted bow rose above 1.6b: now 1.65b (was 1.5b)"
    )


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
    bond = price_event(metric="Old school bond", old=7_000_000, new=7_450_000,
                       threshold=7_400_000, rule="above")
    assert render_template("{item} {price} {old_price} {price_gp}", bond) == (
        "Old school bond 7.45m 7m 7,450,000"
    )
    assert render_template("{alert}", bond) == "Old school bond rose above 7.4m"
    assert render_template("{player} {account}", ev("levelup", "Attack", mode="hardcore")) == (
        "Zezima Hardcore Ironman"
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


# -- prices as players write them --------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "short", "with_exact"),
    [
        (0, "0 gp", "0 gp"),
        (950, "950 gp", "950 gp"),
        (999, "999 gp", "999 gp"),
        (1_000, "1k", "1k"),
        (1_234, "1.23k", "1.23k (1,234 gp)"),
        (9_999, "10k", "10k (9,999 gp)"),
        (12_345, "12.3k", "12.3k (12,345 gp)"),
        (950_000, "950k", "950k"),
        (999_499, "999k", "999k (999,499 gp)"),
        (999_500, "1m", "1m (999,500 gp)"),
        (1_000_000, "1m", "1m"),
        (1_234_567, "1.23m", "1.23m (1,234,567 gp)"),
        (7_490_000, "7.49m", "7.49m"),
        (12_300_000, "12.3m", "12.3m"),
        (12_345_678, "12.3m", "12.3m (12,345,678 gp)"),
        (999_999_999, "1b", "1b (999,999,999 gp)"),
        (1_200_000_000, "1.2b", "1.2b"),
        (1_650_000_000, "1.65b", "1.65b"),
        (1_155_000_000, "1.16b", "1.16b (1,155,000,000 gp)"),  # half up, as players round
        (2_147_483_647, "2.15b", "2.15b (2,147,483,647 gp)"),
        (-1_234_567, "-1.23m", "-1.23m (-1,234,567 gp)"),
        (None, "?", "?"),
        (True, "?", "?"),
        ("1b", "?", "?"),
    ],
)
def test_price_format(value: object, short: str, with_exact: str) -> None:
    assert fmt_gp(value) == short
    assert price_text(value) == with_exact


@pytest.mark.parametrize(
    ("alert", "title", "lines"),
    [
        (dict(rule="above", old=1_500_000_000, new=1_650_000_000, threshold=1_600_000_000),
         "📈 Twisted bow rose above 1.6b",
         ["Now 1.65b (1,650,000,000 gp)", "Was 1.5b · up 10.0%"]),
        (dict(rule="below", old=1_250_000_000, new=1_150_000_000, threshold=1_234_567_890),
         "📉 Twisted bow fell below 1.23b (1,234,567,890 gp)",
         ["Now 1.15b (1,150,000,000 gp)", "Was 1.25b · down 8.0%"]),
        (dict(rule="change", direction="up", old=1_400_000_000, new=1_473_000_000,
              threshold=1_470_000_000, change_pct=5.21, window="1h"),
         "📈 Twisted bow up 5.2% on the 1h average",
         ["Now 1.47b (1,473,000,000 gp)", "1h average 1.4b"]),
        (dict(rule="change", direction="down", old=7_450_000, new=7_000_000,
              threshold=7_077_500, change_pct=-6.04, window="5m", metric="Old school bond"),
         "📉 Old school bond down 6.0% on the 5m average",
         ["Now 7m (7,000,000 gp)", "5m average 7.45m"]),
        (dict(rule="above", rules=["above", "change"], old=1_500_000_000, new=1_650_000_000,
              threshold=1_600_000_000, change_pct=6.9),
         "📈 Twisted bow rose above 1.6b",
         ["Now 1.65b (1,650,000,000 gp)", "Was 1.5b · up 10.0%",
          "Also up 6.9% on the 1h average"]),
        (dict(rule="change", rules=["change", "below"], direction="down", old=1_300_000_000,
              new=1_150_000_000, threshold=1_235_000_000, change_pct=-11.54),
         "📉 Twisted bow down 11.5% on the 1h average",
         ["Now 1.15b (1,150,000,000 gp)", "1h average 1.3b", "Also fell below 1.2b"]),
        (dict(rule="above", old=900, new=1_100, threshold=1_000, metric="Feather"),
         "📈 Feather rose above 1k",
         ["Now 1.1k (1,100 gp)", "Was 900 gp · up 22.2%"]),
    ],
)
def test_price_alert_says_above_or_below_in_players_numbers(
    alert: dict[str, object], title: str, lines: list[str]
) -> None:
    p = price_event(**alert)
    (message,) = build_messages([(1, p)], Style())
    embed = message.body["embeds"][0]  # type: ignore[index]
    assert embed["title"] == title
    assert embed["description"].splitlines() == lines
    assert discord_limits_problems(message.body) == []


# -- each fact once ----------------------------------------------------------------------------


def test_a_kill_count_and_its_band_are_one_fact() -> None:
    items = numbered(
        ev("boss", "Vorkath", old=495, new=500, threshold=500),
        ev("achievement", "500 Vorkath kills", new=500, milestone=True),
    )
    (embed,) = build_messages(items, Style())[0].body["embeds"]  # type: ignore[misc]
    assert embed["title"] == "🏆 500 Vorkath kills"
    assert "description" not in embed  # "Vorkath: 500 kills" would only repeat the title
    (text,) = build_messages(items, Style(format="text"))
    assert text.body["content"] == "🏆 **Zezima** — 500 Vorkath kills"
    assert text.delivery_ids == (101, 102)


def test_a_jump_over_two_bands_rides_in_the_higher() -> None:
    items = numbered(
        ev("boss", "Vorkath", old=450, new=1_003, threshold=1_000),
        ev("achievement", "500 Vorkath kills", new=500, milestone=True),
        ev("achievement", "1,000 Vorkath kills", new=1_000, milestone=True),
    )
    embeds = build_messages(items, Style())[0].body["embeds"]
    assert [(e["title"], e.get("description")) for e in embeds] == [  # type: ignore[index]
        ("🏆 500 Vorkath kills", None),
        ("🏆 1,000 Vorkath kills", "Vorkath: 1,003 kills"),
    ]


def test_a_virtual_level_past_99_keeps_its_line() -> None:
    items = numbered(
        ev("levelup", "Attack", old=97, new=100, threshold=100, milestone=True),
        ev("achievement", "99 Attack", new=99, milestone=True),
    )
    (embed,) = build_messages(items, Style())[0].body["embeds"]  # type: ignore[misc]
    assert (embed["title"], embed["description"]) == ("🏆 99 Attack", "Attack 97 → 100")


def test_an_achievement_of_another_metric_or_scale_is_not_a_twin() -> None:
    items = numbered(
        ev("levelup", "Attack", old=90, new=91, threshold=91),
        ev("xp", "Strength", old=49_000_000, new=50_100_000, threshold=50_000_000),
        ev("achievement", "99 Strength", new=99, milestone=True),
    )
    embeds = build_messages(items, Style())[0].body["embeds"]
    assert embeds[0]["description"] == "Attack 90 → 91\nStrength 50M XP"  # type: ignore[index]
    assert "description" not in embeds[1]  # type: ignore[index]


def test_an_event_is_matched_to_its_band_by_what_the_poller_said_not_by_the_title() -> None:
    # The notifier reads no game wording: without the poller's ``about``/``scale`` the 99 and
    # the "99 Attack" achievement are two facts, whatever the title says.
    unmarked = Notice.from_json({**ev("achievement", "99 Attack", new=99,
                                      milestone=True).to_json(), "about": None, "scale": None})
    items = numbered(ev("levelup", "Attack", old=98, new=99, threshold=99, milestone=True),
                     unmarked)
    embeds = build_messages(items, Style())[0].body["embeds"]
    assert [e["title"] for e in embeds] == ["🏆 99 Attack", "🏆 99 Attack"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("events", "line"),
    [
        ([("Clue Scrolls (hard)", 99, 100, 100), ("Clue Scrolls (all)", 499, 500, 500)],
         "Clue scrolls: 100 hard · 500 in all"),
        ([("Clue Scrolls (hard)", 95, 105, 100), ("Clue Scrolls (elite)", 49, 50, 50),
          ("Clue Scrolls (all)", 490, 506, 500)],
         "Clue scrolls: 105 hard (passed 100), 50 elite · 506 in all"),
        ([("Clue Scrolls (master)", 9, 10, 10)], "Clue Scrolls (master): 10 completed"),
        ([("Clue Scrolls (all)", 99, 100, 100)], "Clue Scrolls (all): 100 completed"),
    ],
)
def test_a_clue_and_the_all_count_are_one_line(
    events: list[tuple[str, int, int, int]], line: str
) -> None:
    items = numbered(*(ev("clue", m, old=o, new=n, threshold=t) for m, o, n, t in events))
    (embed,) = build_messages(items, Style())[0].body["embeds"]  # type: ignore[misc]
    assert embed["description"] == line
    assert embed["title"] == "Clue scrolls"
    (text,) = build_messages(items, Style(format="text"))
    assert text.body["content"] == f"**Zezima** — {line}"
    assert len(text.delivery_ids) == len(events)


def test_a_clue_template_keeps_one_line_per_event() -> None:
    items = numbered(ev("clue", "Clue Scrolls (hard)", old=99, new=100, threshold=100),
                     ev("clue", "Clue Scrolls (all)", old=499, new=500, threshold=500))
    style = Style(format="text", templates={"clue": "{player}: {count} {clue}"})
    (text,) = build_messages(items, style)
    assert str(text.body["content"]).splitlines() == [
        "Zezima: 100 Clue Scrolls (hard)", "Zezima: 500 Clue Scrolls (all)",
    ]


def test_no_picture_unless_the_poller_verified_one() -> None:
    p = ev("boss", "Mad Angel", old=45, new=50, threshold=50)
    assert p.icon_url is None
    (embed,) = build_messages([(1, p)], Style())[0].body["embeds"]  # type: ignore[misc]
    assert "thumbnail" not in embed
    bad = ev("levelup", "Attack", old=1, new=2, icon_url="javascript:x",
             account_type="Ironman", account_icon_url="not a url")
    (embed,) = build_messages([(1, bad)], Style())[0].body["embeds"]  # type: ignore[misc]
    assert "thumbnail" not in embed
    assert bad.player is not None
    assert embed["author"] == {"name": "Zezima (Ironman)", "url": bad.player.profile_url}


@pytest.mark.parametrize(
    ("mode", "author"),
    [
        ("regular", "Zezima"),
        ("ironman", "Zezima (Ironman)"),
        ("hardcore", "Zezima (Hardcore Ironman)"),
        ("ultimate", "Zezima (Ultimate Ironman)"),
        ("deadman", "Zezima"),
    ],
)
def test_the_account_type_is_marked_in_every_embed(mode: str, author: str) -> None:
    items = numbered(ev("levelup", "Attack", mode=mode, old=1, new=2),
                     ev("achievement", "Base 60 Stats", mode=mode, new=60, milestone=True))
    embeds = build_messages(items, Style())[0].body["embeds"]
    for e in embeds:  # type: ignore[union-attr]
        assert e["author"]["name"] == author
        assert ("icon_url" in e["author"]) == (author != "Zezima")


def test_a_name_now_worn_by_another_account_is_said_once_plainly() -> None:
    messages = build_messages(numbered(ev("player", "new_account", player="Zezima")), Style())
    [message] = messages
    [embed] = message.body["embeds"]  # type: ignore[index]
    assert embed["title"] == "A new account wears this name"
    assert "starts afresh" in embed["description"]
    assert embed["color"] == COLOR_PLAYER
    assert not discord_limits_problems(message.body)
    line = text_line(ev("player", "new_account", player="Zezima"))
    assert "another account" in line and "Zezima" in line
