"""poller/items.py and poller/store/prices.py: finding items the way people type them, the item
table refreshed from /mapping at most daily, and the price pass's one-transaction write — on
SQLite, and on a real PostgreSQL when OSRS_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import pytest

from poller.alerts import WatchState
from poller.errors import ValidationError
from poller.item_refresh import refresh_items
from poller.items import (
    AmbiguousItem,
    ItemInfo,
    MemoryItems,
    UnknownItem,
    icon_url,
    name_key,
    parse_item_query,
    resolve,
    suggest,
)
from poller.prices import PricesUnavailable
from poller.store import OutboxEntry, Store, StoreError, open_store
from poller.store.prices import PriceSample, PriceStore

T0 = datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)

ITEMS = [
    ItemInfo(20997, "Twisted bow", True, 8, 4_000_000, 2_400_000, 1_600_000, "Twisted bow.png"),
    ItemInfo(21000, "Twisted buckler", True, 8, 150_000, 90_000, 60_000, "Twisted buckler.png"),
    ItemInfo(4151, "Abyssal whip", True, 70, 120_001, 72_000, 48_000, "Abyssal whip.png"),
    ItemInfo(12006, "Abyssal tentacle", True, 70, 50_000, 30_000, 20_000, None),
    ItemInfo(13190, "Old school bond", False, 100, 2_000_000, None, None, "Old school bond.png"),
    ItemInfo(561, "Nature rune", False, 12_000, 180, 108, 72, "Nature rune.png"),
    ItemInfo(1, "Dragon's breath", False, None, 1, None, None, None),
    ItemInfo(9001, "Kharidian headpiece", True, None, 1, None, None, None),
    ItemInfo(9002, "Kharidian headpiece", True, None, 1, None, None, None),
]


# -- names and lookup ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "key"),
    [("Twisted bow", "twisted bow"), ("  TWISTED   Bow ", "twisted bow"),
     ("Dragon\u2019s breath", "dragon's breath"), ("", "")],
)
def test_name_key(raw: str, key: str) -> None:
    assert name_key(raw) == key


def test_icon_url() -> None:
    # As MediaWiki writes its own file URLs (and the skill and boss pictures are written).
    assert icon_url("Dragon's breath.png") == (
        "https://oldschool.runescape.wiki/images/Dragon%27s_breath.png")
    assert icon_url("Ahrim's hood (25).png").endswith("Ahrim%27s_hood_(25).png")
    assert icon_url("") is None and icon_url(None) is None


@pytest.mark.parametrize(
    ("query", "parsed"), [("13190", 13190), (" 561 ", 561), (4151, 4151), ("Twisted bow",
                          "Twisted bow"), ("3rd age amulet", "3rd age amulet")],
)
def test_parse_item_query(query: str | int, parsed: str | int) -> None:
    assert parse_item_query(query) == parsed


@pytest.mark.parametrize(
    ("query", "item_id"),
    [("Twisted bow", 20997), ("twisted BOW", 20997), ("  twisted  bow ", 20997), (20997, 20997),
     ("13190", 13190), ("old school bond", 13190), ("Dragon's breath", 1),
     ("dragon\u2019s BREATH", 1)],
)
def test_resolve_by_id_or_name_in_any_case(query: str | int, item_id: int) -> None:
    assert resolve(MemoryItems(ITEMS), query).id == item_id


@pytest.mark.parametrize(
    ("typo", "first"),
    [("twisted bwo", "Twisted bow"), ("Twisted boww", "Twisted bow"), ("abysal whip",
     "Abyssal whip"), ("whip", "Abyssal whip"), ("natur rune", "Nature rune"),
     ("OLD SCHOOL BONDS", "Old school bond")],
)
def test_a_typo_gets_did_you_mean(typo: str, first: str) -> None:
    with pytest.raises(UnknownItem) as info:
        resolve(MemoryItems(ITEMS), typo)
    assert info.value.suggestions[0] == first
    assert f"did you mean {first!r}" in str(info.value)


def test_nothing_close_says_so() -> None:
    with pytest.raises(UnknownItem) as info:
        resolve(MemoryItems(ITEMS), "Zzzzqx")
    assert info.value.suggestions == ()
    assert "no item named 'Zzzzqx'" in str(info.value)
    with pytest.raises(UnknownItem, match="no item with id 99999999"):
        resolve(MemoryItems(ITEMS), 99999999)


def test_a_shared_name_asks_for_the_id() -> None:
    with pytest.raises(AmbiguousItem, match="ids 9001, 9002"):
        resolve(MemoryItems(ITEMS), "kharidian headpiece")
    assert resolve(MemoryItems(ITEMS), 9002).id == 9002


def test_suggest_prefers_spelling_then_containing() -> None:
    names = [i.name for i in ITEMS]
    assert suggest("twisted", names)[:2] == ["Twisted bow", "Twisted buckler"]
    assert suggest("abyssal", names) == ["Abyssal whip", "Abyssal tentacle"]
    assert suggest("", names) == []


# -- the store -------------------------------------------------------------------------------


def _pg_admin(base: str):  # type: ignore[no-untyped-def]
    import psycopg2

    conn = psycopg2.connect(base)
    conn.autocommit = True
    return conn


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = open_store(f"sqlite:///{tmp_path / 'osrs.db'}")
        yield s
        s.close()
        return
    base = request.getfixturevalue("postgres_url")
    schema = f"osrs_test_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin(base)
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE SCHEMA "{schema}"')
        sep = "&" if "?" in base else "?"
        s = open_store(f"{base}{sep}options={quote(f'-c search_path={schema}')}")
        try:
            yield s
        finally:
            s.close()
            with admin.cursor() as cur:
                cur.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        admin.close()


def test_replace_items_and_look_them_up(store: Store) -> None:
    prices = PriceStore(store)
    assert prices.items_refreshed_at() is None and len(prices.items()) == 0
    assert prices.replace_items(ITEMS, T0) == len(ITEMS)
    assert prices.items_refreshed_at() == T0
    source = prices.items()
    assert len(source) == len(ITEMS)
    assert resolve(source, "TWISTED bow") == ITEMS[0]
    assert resolve(source, 13190).highalch is None  # the bond: no alch values
    assert resolve(source, "Dragon's breath").limit is None
    with pytest.raises(UnknownItem, match="did you mean 'Twisted bow'"):
        resolve(source, "twisted bwo")
    with pytest.raises(AmbiguousItem):
        resolve(source, "Kharidian headpiece")
    # A second refresh replaces the table: renamed and removed items follow /mapping.
    renamed = [ItemInfo(20997, "Twisted bow (new)", True), ItemInfo(561, "Nature rune")]
    assert prices.replace_items(renamed, T0 + timedelta(days=1)) == 2
    assert prices.all_items() == sorted(renamed, key=lambda i: i.id)
    assert prices.items_refreshed_at() == T0 + timedelta(days=1)


class FakeWiki:
    def __init__(self, items: list[ItemInfo] | Exception) -> None:
        self.items = items
        self.calls = 0

    def mapping(self) -> list[ItemInfo]:
        self.calls += 1
        if isinstance(self.items, Exception):
            raise self.items
        return list(self.items)


def test_the_item_list_is_refreshed_at_most_daily(store: Store) -> None:
    wiki = FakeWiki(ITEMS)
    first = refresh_items(store, wiki, T0)  # type: ignore[arg-type]
    assert first.written == len(ITEMS) and wiki.calls == 1
    again = refresh_items(store, wiki, T0 + timedelta(hours=23))  # type: ignore[arg-type]
    assert again.written == 0 and wiki.calls == 1
    assert resolve(again.source, "Abyssal whip").id == 4151
    later = refresh_items(store, wiki, T0 + timedelta(hours=24))  # type: ignore[arg-type]
    assert later.written == len(ITEMS) and wiki.calls == 2


def test_a_failed_refresh_uses_the_stored_list_with_a_warning(store: Store) -> None:
    refresh_items(store, FakeWiki(ITEMS), T0)  # type: ignore[arg-type]
    down = FakeWiki(PricesUnavailable("Wiki prices API: HTTP 503"))
    stale = refresh_items(store, down, T0 + timedelta(days=3))  # type: ignore[arg-type]
    assert down.calls == 1 and stale.written == 0
    assert stale.warning and "HTTP 503" in stale.warning and "2026-07-01 12:00" in stale.warning
    assert resolve(stale.source, 4151).name == "Abyssal whip"


def test_no_stored_list_and_no_mapping_is_an_error(store: Store) -> None:
    with pytest.raises(ValidationError):
        refresh_items(store, FakeWiki(ValidationError("bad")), T0)  # type: ignore[arg-type]


def test_a_dry_run_refresh_writes_nothing(store: Store) -> None:
    fresh = refresh_items(store, FakeWiki(ITEMS), T0, write=False)  # type: ignore[arg-type]
    assert resolve(fresh.source, "twisted bow").id == 20997
    assert PriceStore(store).counts()["item"] == 0
    assert PriceStore(store).items_refreshed_at() is None


def test_record_pass_writes_events_states_and_samples_together(store: Store) -> None:
    prices = PriceStore(store)
    state = WatchState(price=1_650_000_000, above_armed=False, last_alert_at=T0, observed_at=T0)
    stats = prices.record_pass(
        [OutboxEntry("price", {"kind": "price", "metric": "Twisted bow", "new": 1}, ("market",))],
        {"20997:a=1:b=:c=:w=1h:h=market": (20997, state.to_json()),
         "561:a=:b=5:c=:w=1h:h=": (561, WatchState(price=118).to_json())},
        [PriceSample(20997, T0, 1_660_000_000, 1_640_000_000, 1_500_000_000),
         PriceSample(561, T0, 119, None, None)],
        T0,
    )
    assert (stats.events_added, stats.deliveries_added) == (1, 1)
    (pending,) = store.pending_deliveries(T0)
    assert pending.kind == "price" and pending.player_name is None
    states = prices.watch_states()
    assert WatchState.from_json(states["20997:a=1:b=:c=:w=1h:h=market"].state) == state
    last = prices.last_samples([20997, 561, 4151])
    assert set(last) == {20997, 561} and last[561].low is None
    assert last[20997].average == 1_500_000_000 and last[20997].at == T0

    # Next pass: one watch changed in the config (its old state goes), a newer sample.
    later = T0 + timedelta(minutes=5)
    prices.record_pass(
        [], {"561:a=:b=6:c=:w=1h:h=": (561, WatchState(price=117).to_json())},
        [PriceSample(561, later, 117, 116, None)], later,
        keep_only=["561:a=:b=6:c=:w=1h:h=", "20997:a=1:b=:c=:w=1h:h=market"],
    )
    assert set(prices.watch_states()) == {"561:a=:b=6:c=:w=1h:h=", "20997:a=1:b=:c=:w=1h:h=market"}
    assert prices.last_samples([561])[561].high == 117
    assert [s.high for s in prices.samples(561)] == [119, 117]
    assert [s.high for s in prices.samples(561, limit=1)] == [117]
    assert prices.samples(561, since=later)[0].at == later


def test_record_pass_is_all_or_nothing(store: Store) -> None:
    prices = PriceStore(store)
    with pytest.raises(StoreError):
        prices.record_pass(
            [OutboxEntry("price", {"kind": "price"}, ("market",))],
            {"k": (1, WatchState(price=1).to_json())},
            [PriceSample(1, T0, 1, 1, None), PriceSample(None, T0, 1, 1, None)],  # type: ignore[arg-type]
            T0,
        )
    assert prices.watch_states() == {} and prices.last_samples([1]) == {}
    assert store.counts()["event"] == 0
