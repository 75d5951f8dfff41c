"""The prices parsers against real captured responses in ../shared/fixtures/prices.

Skips cleanly where the captures are absent (a user's fresh clone)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import responses

from poller.http import HttpClient, HttpConfig
from poller.items import BOND_ID, NATURE_RUNE_ID, MemoryItems, UnknownItem, resolve
from poller.prices import (
    PricesClient,
    parse_averages,
    parse_ge_detail,
    parse_latest,
    parse_mapping,
    parse_timeseries,
)
from poller.quote import quote_item
from poller.store import open_store
from poller.store.prices import PriceStore

WIKI = "https://prices.test/api/v1/osrs"


@pytest.fixture(scope="module")
def captures(shared_fixtures: Path) -> Path:
    return shared_fixtures / "prices"


def raw(captures: Path, name: str) -> bytes:
    return (captures / name).read_bytes()


def load(captures: Path, name: str) -> Any:
    return json.loads(raw(captures, name))


def test_mapping(captures: Path) -> None:
    items = parse_mapping(raw(captures, "mapping_2022-06.json"))
    assert len(items) == 3889 == len({i.id for i in items})
    assert sum(1 for i in items if i.limit is None) == 104
    bond = next(i for i in items if i.id == BOND_ID)
    assert (bond.name, bond.highalch, bond.lowalch, bond.limit) == ("Old school bond", None, None,
                                                                     100)
    assert sum(1 for i in items if i.highalch is None) == 2
    assert all(isinstance(i.members, bool) for i in items)
    assert bond.icon_url == "https://oldschool.runescape.wiki/images/Old_school_bond.png"


def test_every_item_is_found_by_its_name_in_any_case(captures: Path) -> None:
    items = parse_mapping(raw(captures, "mapping_2022-06.json"))
    source = MemoryItems(items)
    keys = Counter(i.key for i in items)
    for item in items:
        if keys[item.key] == 1:
            assert resolve(source, item.name.upper()).id == item.id
        assert resolve(source, str(item.id)) is source.item(item.id)


@pytest.mark.parametrize(
    ("typo", "meant"),
    [("twisted bwo", "Twisted bow"), ("abysal whip", "Abyssal whip"),
     ("old school bondd", "Old school bond"), ("natre rune", "Nature rune"),
     ("scythe of vitur", "Scythe of vitur (uncharged)")],
)
def test_typos_against_the_real_item_list(captures: Path, typo: str, meant: str) -> None:
    source = MemoryItems(parse_mapping(raw(captures, "mapping_2022-06.json")))
    with pytest.raises(UnknownItem) as info:
        resolve(source, typo)
    assert meant in info.value.suggestions, info.value.suggestions


def test_latest(captures: Path) -> None:
    latest = parse_latest(raw(captures, "latest_2022-12.json"))
    doc = load(captures, "latest_2022-12.json")["data"]
    assert len(latest) == len(doc) == 3845
    assert sum(1 for v in latest.values() if v.high is None) == 1
    assert sum(1 for v in latest.values() if v.low is None) == 1
    for key, entry in doc.items():
        mine = latest[int(key)]
        assert mine.high == entry["high"] and mine.low == entry["low"]
        if entry["highTime"] is not None:
            assert mine.high_time == datetime.fromtimestamp(entry["highTime"], timezone.utc)
    assert latest[BOND_ID].high == 6_950_000


def test_a_real_quote(captures: Path) -> None:
    items = MemoryItems(parse_mapping(raw(captures, "mapping_2022-06.json")))
    latest = parse_latest(raw(captures, "latest_2022-12.json"))
    whip = quote_item(resolve(items, "abyssal whip"), latest)
    w = latest[4151]
    assert whip.margin == w.high - w.low  # type: ignore[operator]
    assert whip.tax == w.high * 2 // 100  # type: ignore[operator]
    assert whip.alch_profit == 72_000 - w.high - latest[NATURE_RUNE_ID].high  # type: ignore[operator]
    assert whip.value_in_bonds == pytest.approx(
        (w.low - w.low * 2 // 100) / latest[BOND_ID].high)  # type: ignore[operator]
    bond = quote_item(resolve(items, BOND_ID), latest)
    assert bond.tax == 0 and bond.alch_profit is None and bond.value_in_bonds == 1.0
    tbow = quote_item(resolve(items, "Twisted bow"), latest)
    assert tbow.tax == 5_000_000  # capped


def test_24h_averages_with_nulls(captures: Path) -> None:
    day = parse_averages(raw(captures, "24h_excerpt_2022-06.json"), "24h")
    assert len(day.items) == 10
    nulls = [i for i, a in day.items.items() if a.high is None or a.low is None]
    assert sorted(nulls) == [47, 137, 191]
    assert day.items[137].mid == 196 and day.items[47].mid == 119
    assert day.timestamp == datetime.fromtimestamp(1654905600, timezone.utc)


def test_timeseries(captures: Path) -> None:
    points = parse_timeseries(raw(captures, "timeseries_1h_8778_2022-06.json"))
    assert len(points) == 300
    stamps = [p.timestamp for p in points]
    assert stamps == sorted(stamps) and len(set(stamps)) == 300
    assert all(p.high is None or p.high > 0 for p in points)


def test_official_detail(captures: Path) -> None:
    whip = parse_ge_detail(raw(captures, "ge_official_detail_4151.json"))
    assert (whip.id, whip.name, whip.price, whip.today_change) == (
        4151, "Abyssal whip", 2_900_000, -4_849)
    assert whip.members is True and whip.approximate is True


@responses.activate
def test_the_client_reads_the_captures_over_http(captures: Path) -> None:
    for path, name in (("/mapping", "mapping_2022-06.json"), ("/latest", "latest_2022-12.json"),
                       ("/24h", "24h_excerpt_2022-06.json"),
                       ("/timeseries", "timeseries_1h_8778_2022-06.json")):
        responses.get(f"{WIKI}{path}", body=raw(captures, name), content_type="application/json")
    wiki = PricesClient(HttpClient(HttpConfig(user_agent="osrs-notify-tests (ops@example.org)",
                                              rate_per_minute=0, cache_ttl=0)), WIKI)
    assert len(wiki.mapping()) == 3889
    assert len(wiki.latest()) == 3845
    assert len(wiki.averages("24h").items) == 10
    assert len(wiki.timeseries(8778, "1h")) == 300


def test_the_whole_item_list_in_the_store(captures: Path, tmp_path: Path) -> None:
    items = parse_mapping(raw(captures, "mapping_2022-06.json"))
    with open_store(f"sqlite:///{tmp_path / 'osrs.db'}") as store:
        prices = PriceStore(store)
        now = datetime(2026, 7, 1, tzinfo=timezone.utc)
        assert prices.replace_items(items, now) == 3889
        assert prices.replace_items(items, now) == 3889  # a refresh replaces, never duplicates
        source = prices.items()
        assert len(source) == 3889
        assert resolve(source, "OLD SCHOOL BOND").id == BOND_ID
        with pytest.raises(UnknownItem, match="did you mean 'Twisted bow'"):
            resolve(source, "twisted bwo")
