"""No event list ever yields a body Discord would refuse, and no event goes missing.

A property test throws arbitrary stored payloads (any kind and version, 300-character unicode and
markdown metrics, huge numbers, None everywhere, many players, long names), read as notices, at
both formats with arbitrary styles;
targeted tests cover the big cases; the validator is tested against each limit it enforces.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Mapping

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier.limits import MAX_DESCRIPTION, discord_len, discord_limits_problems, embed_size
from notifier.messages import Message, Style, build_messages
from notifier.notice import Notice

T1 = "2026-07-01T12:00:00+00:00"
KINDS = ("levelup", "xp", "combat", "boss", "clue", "activity", "achievement", "price", "player")
MARKDOWN = "_*~`|>\\<[]#@-+\n"
NAMES = ("Zezima", "Lynx Titan", "_Iron_Man_", "a*b", "@everyone", "x" * 300, "Ünïcödé 🐉")


def _base(player: str | None = "Zezima", **kw: object) -> Notice:
    p: dict[str, object] = {
        "kind": "levelup", "metric": "Attack", "old": 1, "new": 2, "threshold": 2,
        "milestone": False, "first": False, "player": player, "mode": "regular",
        "taken_at": T1, "combat": 126, "total_level": 2277, "overall_xp": 10**9,
    }
    p.update(kw)
    return Notice.from_json(p)


def assert_valid(messages: list[Message], items: list[tuple[int, object]]) -> None:
    for m in messages:
        assert discord_limits_problems(m.body) == [], m.body
        assert m.body["allowed_mentions"] == {"parse": []}
    carried = Counter(i for m in messages for i in m.delivery_ids)
    assert carried == Counter({i for i, _ in items}), "every delivery id exactly once"
    assert all(m.delivery_ids for m in messages), "no message without a delivery"


# -- the property ---------------------------------------------------------------------------

numbers = st.one_of(
    st.none(),
    st.integers(min_value=-5, max_value=300),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from([99, 126, 13_034_431, 200_000_000, 4_800_000_000, 2**63]),
    st.booleans(),
    st.text(max_size=5),
)
texts = st.text(
    alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from(MARKDOWN)), max_size=300
)
metrics = st.one_of(
    st.none(),
    st.sampled_from(["Attack", "Vorkath", "Kree'Arra", "Clue Scrolls (all)", "99 Attack",
                     "Maxed", "200M Fishing", "500 Vorkath kills", "missing", "back", "renamed",
                     "Twisted bow", "@everyone", "a" * 300]),
    texts,
)
players = st.one_of(st.none(), st.sampled_from(NAMES), texts, st.integers())
times = st.one_of(
    st.sampled_from([T1, "2026-07-01T13:00:00+00:00", "2026-07-01T12:00:00",
                     "2026-07-01T12:00:00Z"]),
    st.none(),
    st.text(max_size=30),
)
urls = st.one_of(
    st.none(),
    st.sampled_from(["https://example.org/x.png", "ftp://x/y", "not a url", "https://"]),
    st.just("https://example.org/" + "a" * 3000),
    texts,
)
payloads = st.fixed_dictionaries(
    {
        "kind": st.one_of(st.sampled_from(KINDS), st.none(), st.text(max_size=10)),
        "metric": metrics,
        "old": numbers,
        "new": numbers,
        "threshold": numbers,
        "milestone": st.one_of(st.booleans(), st.none()),
        "first": st.one_of(st.booleans(), st.none()),
        "player": players,
        "mode": st.one_of(st.sampled_from(["regular", "ironman", "hardcore"]), st.none(), texts),
        "taken_at": times,
        "combat": numbers,
        "total_level": numbers,
    },
    optional={
        "overall_xp": numbers,
        "old_name": st.one_of(st.none(), texts),
        "item_id": st.one_of(st.integers(), st.none(), st.text(max_size=5)),
        "icon_url": urls,
        "url": urls,
        # What the poller adds so the notifier never guesses (poller.notices).
        "version": st.sampled_from([0, 1]),
        "unit": st.one_of(st.none(), st.sampled_from(["kills", "chests"]), texts),
        "account_type": st.one_of(st.none(), st.sampled_from(["Hardcore Ironman"]), texts),
        "account_icon_url": urls,
        "about": st.one_of(st.none(), metrics),
        "scale": st.one_of(st.none(), st.sampled_from(["level", "xp", "score", "base"]), texts),
        "tier": st.one_of(st.none(), st.sampled_from(["all", "hard", "master"]), texts),
        "rule": st.one_of(st.none(), st.sampled_from(["above", "below", "change"]), texts),
        "rules": st.one_of(st.none(), st.lists(st.sampled_from(["above", "below", "change", "x"]))),
        "direction": st.one_of(st.none(), st.sampled_from(["up", "down"]), texts),
        "window": st.one_of(st.none(), st.sampled_from(["1h", "5m"]), texts),
        "change_pct": st.one_of(numbers, st.floats(allow_nan=True, allow_infinity=True)),
        "watch_above": numbers,
        "watch_below": numbers,
    },
)
templates = st.dictionaries(
    st.sampled_from(KINDS),
    st.one_of(
        texts,
        st.sampled_from(["{player} {skill} {level}", "{boss} {count} {{x}} {", "{nope}",
                         "**{player}** {line} {text} {time}", " ", "@everyone {metric}"]),
        st.just("{metric}" * 50),
        st.just("z" * 2500),
    ),
    max_size=4,
)
styles = st.builds(
    Style,
    username=st.one_of(st.none(), texts, st.sampled_from(["discord", "Clyde", "a@b", "here"])),
    avatar_url=urls,
    format=st.sampled_from(["embed", "text"]),
    templates=templates,
)


@st.composite
def outboxes(draw: st.DrawFn) -> list[tuple[int, Mapping[str, object]]]:
    # A few distinct payloads repeated makes long lists cheap to draw and groups large.
    pool = draw(st.lists(payloads, min_size=1, max_size=12))
    size = draw(st.one_of(st.integers(0, 12), st.integers(100, 400)))  # small and large lists
    picks = draw(st.lists(st.integers(0, len(pool) - 1), min_size=size, max_size=size))
    ids = draw(st.permutations(range(10_000, 10_000 + len(picks))))
    return [(i, pool[n]) for i, n in zip(ids, picks, strict=True)]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(items=outboxes(), style=styles)
def test_no_event_list_breaks_a_discord_limit(
    items: list[tuple[int, Mapping[str, object]]], style: Style
) -> None:
    before = copy.deepcopy(items)
    messages = build_messages([(i, Notice.from_json(p)) for i, p in items], style)
    assert_valid(messages, items)
    assert items == before, "payloads are not modified"
    if items:
        assert messages


# -- targeted --------------------------------------------------------------------------------


def test_200_events_for_one_player_cut_with_more() -> None:
    items = [
        (n, _base(kind="boss", metric=f"Some Boss Number {n}", old=n, new=n + 50, threshold=50))
        for n in range(200)
    ]
    messages = build_messages(items, Style())
    assert_valid(messages, items)
    (message,) = messages
    (embed,) = message.body["embeds"]  # type: ignore[misc]
    description = embed["description"]
    assert discord_len(description) <= MAX_DESCRIPTION
    last = description.splitlines()[-1]
    assert last.startswith("+") and last.endswith(" more")
    shown = len(description.splitlines()) - 1
    assert int(last[1:-5].replace(",", "")) == 200 - shown
    assert embed["title"] == "Kill counts"
    assert len(message.delivery_ids) == 200


def test_11_milestones_split_over_messages() -> None:
    items = [
        (n, _base(kind="achievement", metric=f"{n}M Attack", new=n, milestone=True))
        for n in range(1, 24)
    ]
    messages = build_messages(items, Style())
    assert_valid(messages, items)
    assert [len(m.body["embeds"]) for m in messages] == [10, 10, 3]  # type: ignore[arg-type]
    assert [i for m in messages for i in m.delivery_ids] == list(range(1, 24))


def test_6000_characters_split_over_messages() -> None:
    # Ten players whose embeds are ~1,000 characters each: six fit a message, not ten.
    items = [
        (p * 100 + n, _base(player=f"P{p}", metric="M" * 60, old=n, new=n + 1))
        for p in range(10)
        for n in range(15)
    ]
    messages = build_messages(items, Style())
    assert_valid(messages, items)
    assert len(messages) == 2
    for m in messages:
        assert sum(embed_size(e) for e in m.body["embeds"]) <= 6000  # type: ignore[union-attr]


def test_many_players_many_messages() -> None:
    items = [(n, _base(player=f"Player {n}")) for n in range(1000)]
    for fmt in ("embed", "text"):
        messages = build_messages(items, Style(format=fmt))  # type: ignore[arg-type]
        assert_valid(messages, items)
    assert len(build_messages(items, Style())) == 100


def test_long_names_and_metrics_clipped() -> None:
    items = [(1, _base(player="🐉" * 500, metric="_" * 300, old=10**40, new=10**41))]
    for fmt in ("embed", "text"):
        assert_valid(build_messages(items, Style(format=fmt)), items)  # type: ignore[arg-type]


# -- the validator reports each limit --------------------------------------------------------


def _ok_embed(**kw: object) -> dict[str, object]:
    e: dict[str, object] = {
        "author": {"name": "Zezima", "url": "https://example.org/z"},
        "title": "t",
        "description": "d",
        "color": 0,
        "thumbnail": {"url": "https://example.org/i.png"},
        "footer": {"text": "f"},
        "timestamp": T1,
        "fields": [{"name": "n", "value": "v", "inline": True}],
    }
    e.update(kw)
    return e


def _ok(**kw: object) -> dict[str, object]:
    body: dict[str, object] = {
        "username": "Clan",
        "avatar_url": "https://example.org/a.png",
        "content": "hello",
        "embeds": [_ok_embed()],
        "allowed_mentions": {"parse": []},
    }
    body.update(kw)
    return body


def test_a_good_body_has_no_problems() -> None:
    assert discord_limits_problems(_ok()) == []
    assert discord_limits_problems(_ok(embeds=[_ok_embed() for _ in range(10)])) == []
    assert discord_limits_problems(_ok(content="x" * 2000, embeds=[])) == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ([], "JSON object"),
        (_ok(content="x" * 2001), "content is 2,001 characters (max 2,000)"),
        (_ok(content="🐉" * 1001), "content is 2,002 characters"),
        (_ok(content=5), "content must be a string"),
        (_ok(content="", embeds=[]), "empty message"),
        (_ok(content="  ", embeds=None), "empty message"),
        (_ok(embeds=[_ok_embed() for _ in range(11)]), "11 embeds (max 10)"),
        (_ok(embeds={}), "embeds must be a list"),
        (_ok(embeds=[_ok_embed(title="x" * 257)]), "embeds[0].title is 257 characters"),
        (_ok(embeds=[_ok_embed(title="")]), "embeds[0].title is empty"),
        (_ok(embeds=[_ok_embed(description="x" * 4097)]), "description is 4,097 characters"),
        (_ok(embeds=[_ok_embed(fields=[{"name": "n", "value": "v"}] * 26)]), "26 fields (max 25)"),
        (_ok(embeds=[_ok_embed(fields=[{"name": "n" * 257, "value": "v"}])]),
         "fields[0].name is 257"),
        (_ok(embeds=[_ok_embed(fields=[{"name": "n", "value": "v" * 1025}])]),
         "fields[0].value is 1,025"),
        (_ok(embeds=[_ok_embed(fields=[{"name": "n"}])]), "fields[0].value must be a string"),
        (_ok(embeds=[_ok_embed(fields=[{"name": "n", "value": "v", "inline": 1}])]),
         "inline must be true or false"),
        (_ok(embeds=[_ok_embed(footer={"text": "f" * 2049})]), "footer.text is 2,049"),
        (_ok(embeds=[_ok_embed(footer={})]), "footer.text must be a string"),
        (_ok(embeds=[_ok_embed(author={"name": "a" * 257})]), "author.name is 257"),
        (_ok(embeds=[_ok_embed(author={"name": "a", "url": "javascript:x"})]),
         "author.url is not an http(s) URL"),
        (_ok(embeds=[_ok_embed(description="x" * 4000) for _ in range(2)]),
         "embeds total 8,0"),
        (_ok(embeds=[_ok_embed(color=0x1000000)]), "color must be an integer 0..0xFFFFFF"),
        (_ok(embeds=[_ok_embed(color=-1)]), "color must be an integer"),
        (_ok(embeds=[_ok_embed(color="red")]), "color must be an integer"),
        (_ok(embeds=[_ok_embed(color=True)]), "color must be an integer"),
        (_ok(embeds=[_ok_embed(timestamp="yesterday")]), "timestamp is not ISO 8601"),
        (_ok(embeds=[_ok_embed(timestamp="2026-07-01 12:00:00")]), "timestamp is not ISO 8601"),
        (_ok(embeds=[_ok_embed(url="ftp://example.org")]), "embeds[0].url is not an http(s)"),
        (_ok(embeds=[_ok_embed(thumbnail={"url": "x.png"})]), "thumbnail.url is not an http(s)"),
        (_ok(embeds=[_ok_embed(image={})]), "image.url must be a string URL"),
        (_ok(embeds=[_ok_embed(thumbnail={"url": "https://e.org/" + "a" * 2048})]),
         "thumbnail.url is 2,062 characters (max 2,048)"),
        (_ok(embeds=[_ok_embed(video={"url": "https://e.org"})]), "unknown keys: video"),
        (_ok(embeds=[{"color": 5}]), "embeds[0] shows nothing"),
        (_ok(embeds=["x"]), "embeds[0] must be an object"),
        (_ok(allowed_mentions=None), "allowed_mentions must be"),
        (_ok(allowed_mentions={"parse": ["everyone"]}), "allowed_mentions must be"),
        (_ok(allowed_mentions={"parse": [], "users": ["1"]}), "allowed_mentions must be"),
        ({k: v for k, v in _ok().items() if k != "allowed_mentions"}, "allowed_mentions must be"),
        (_ok(username="u" * 81), "username is 81 characters (max 80)"),
        (_ok(username=""), "username is empty"),
        (_ok(username="My Discord"), "username may not contain 'Discord'"),
        (_ok(username="clyde"), "username may not contain 'clyde'"),
        (_ok(username="a@b"), "username may not contain '@'"),
        (_ok(username="here"), "username may not be 'here'"),
        (_ok(avatar_url="file:///etc/passwd"), "avatar_url is not an http(s) URL"),
        (_ok(tts=True), "tts must be false"),
        (_ok(nonsense=1), "unknown keys: nonsense"),
    ],
)
def test_each_limit_is_reported(body: object, expected: str) -> None:
    problems = discord_limits_problems(body)
    assert any(expected in p for p in problems), problems


def test_every_problem_is_listed_not_just_the_first() -> None:
    body = _ok(content="x" * 2001, username="discord",
               embeds=[_ok_embed(title="x" * 300, color=-5)] * 11)
    problems = discord_limits_problems(body)
    # content, embed count, username, and title + colour in each of the 11 embeds
    assert len(problems) == 3 + 11 * 2
