"""poller/prices.py on synthetic, real-shaped responses: parsers (nulls, missing fields), the GE
tax, the official API's price strings, the figures of `price ITEM`, and the Wiki client's HTTP
behaviour (User-Agent with the contact, no API key, typed errors). No network: ``responses``."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone

import pytest
import responses

from poller.errors import RateLimitError, ValidationError
from poller.http import HttpClient, HttpConfig
from poller.items import BOND_ID, NATURE_RUNE_ID, ItemInfo
from poller.prices import (
    Latest,
    OfficialGEClient,
    PricesClient,
    PricesUnavailable,
    parse_averages,
    parse_ge_detail,
    parse_ge_price,
    parse_latest,
    parse_mapping,
    parse_timeseries,
    user_agent,
    wiki_http_config,
)
from poller.quote import GE_TAX_CAP, ge_tax, quote_item
from poller.settings import Settings

WIKI = "https://prices.test/api/v1/osrs"
UA = "osrs-notify-tests/1.0 (ops@example.invalid)"
TBOW = ItemInfo(20997, "Twisted bow", True, 8, 4_000_000, 2_400_000, 1_600_000,
                "Twisted bow.png")
BOND = ItemInfo(BOND_ID, "Old school bond", False, 100, 2_000_000, None, None,
                "Old school bond.png")


def client(**config: object) -> PricesClient:
    cfg = HttpConfig(user_agent=UA, retries=0, rate_per_minute=0, cache_ttl=0)
    return PricesClient(HttpClient(replace(cfg, **config)), WIKI)  # type: ignore[arg-type]


# -- parsers ------------------------------------------------------------------------------------


def test_mapping_with_missing_limit_and_alch_values() -> None:
    items = parse_mapping(json.dumps([
        {"id": 13190, "name": "Old school bond", "members": False, "value": 2000000,
         "icon": "Old school bond.png", "limit": 100, "examine": "Membership."},
        {"id": 2528, "name": "Lamp", "members": True, "value": 650, "highalch": 390,
         "lowalch": 260, "icon": "Lamp.png"},
    ]))
    bond, lamp = items
    assert (bond.highalch, bond.lowalch, bond.limit) == (None, None, 100)
    assert (lamp.limit, lamp.highalch, lamp.examine) == (None, 390, None)
    assert bond.icon_url == "https://oldschool.runescape.wiki/images/Old_school_bond.png"
    assert lamp.page_url == "https://prices.runescape.wiki/osrs/item/2528"


def test_mapping_skips_entries_without_id_or_name() -> None:
    items = parse_mapping([{"id": 1, "name": "A"}, {"name": "no id"}, {"id": 2}, "junk",
                           {"id": True, "name": "bool id"}, {"id": 3, "name": "  "}])
    assert [i.id for i in items] == [1]


@pytest.mark.parametrize("body", ["{}", '{"data": []}', "[1, 2]"])
def test_malformed_documents_are_validation_errors(body: str) -> None:
    with pytest.raises(ValidationError):
        if body.startswith("["):
            parse_mapping(body)
        else:
            parse_latest(body)


def test_an_html_page_is_an_outage() -> None:
    with pytest.raises(PricesUnavailable):
        parse_latest(b"<!DOCTYPE html><html>Bad gateway</html>")


def test_latest_keeps_null_sides_unknown() -> None:
    latest = parse_latest(json.dumps({"data": {
        "20997": {"high": 1_600_000_000, "highTime": 1_700_000_000, "low": None,
                  "lowTime": None},
        "561": {"high": 119, "highTime": 1_700_000_100, "low": 118, "lowTime": 1_700_000_050},
        "x": {"high": 1},
        "2": {"high": "5", "low": True, "highTime": "soon"},
    }}))
    assert latest[20997] == Latest(1_600_000_000, datetime.fromtimestamp(1_700_000_000,
                                   timezone.utc), None, None)
    assert latest[20997].mid == 1_600_000_000
    assert latest[561].mid == 118
    assert latest[2] == Latest()  # wrong types are unknown, not zero
    assert "x" not in latest and len(latest) == 3


def test_averages_and_timeseries() -> None:
    avg = parse_averages({"data": {"4151": {"avgHighPrice": 2_225_369, "highPriceVolume": 1717,
                                            "avgLowPrice": None, "lowPriceVolume": 0}},
                          "timestamp": 1_654_905_600}, "1h")
    whip = avg.items[4151]
    assert (whip.high, whip.low, whip.mid, whip.high_volume) == (2_225_369, None, 2_225_369, 1717)
    assert avg.timestamp == datetime(2022, 6, 11, tzinfo=timezone.utc)
    points = parse_timeseries({"data": [
        {"timestamp": 200, "avgHighPrice": 10, "avgLowPrice": 8},
        {"timestamp": 100, "avgHighPrice": None, "avgLowPrice": 7},
        {"avgHighPrice": 1},
    ]})
    assert [(p.high, p.low) for p in points] == [(None, 7), (10, 8)]


@pytest.mark.parametrize(
    ("text", "gp"),
    [
        ("2.9m", 2_900_000), ("- 4,849", -4_849), ("1,234", 1_234), ("15.5k", 15_500),
        ("+5", 5), ("1.2b", 1_200_000_000), ("0", 0), (" 812 ", 812), (123, 123),
        ("1.5K", 1_500), ("-1.1m", -1_100_000), ("", None), ("n/a", None), (None, None),
        (True, None), ("1.2.3m", None),
    ],
)
def test_official_price_strings(text: object, gp: int | None) -> None:
    assert parse_ge_price(text) == gp


def test_official_detail() -> None:
    detail = parse_ge_detail(json.dumps({"item": {
        "id": 4151, "name": "Abyssal whip", "current": {"trend": "neutral", "price": "2.9m"},
        "today": {"trend": "negative", "price": "- 4,849"}, "members": "true",
    }}))
    assert (detail.id, detail.price, detail.today_change) == (4151, 2_900_000, -4_849)
    assert detail.members is True and detail.approximate is True
    exact = parse_ge_detail({"item": {"id": 2, "name": "Cannonball",
                                      "current": {"price": 187}, "members": "false"}})
    assert (exact.price, exact.approximate, exact.members, exact.today_change) == (
        187, False, False, None)


# -- tax and quote --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "item", "tax"),
    [
        (49, None, 0),  # under 50 gp: no tax
        (50, None, 1),
        (99, None, 1),  # rounds down
        (100, None, 2),
        (1_000_000, None, 20_000),
        (250_000_000, None, 5_000_000),  # exactly at the cap
        (1_600_000_000, None, GE_TAX_CAP),  # capped per item
        (6_950_000, BOND_ID, 0),  # bonds are exempt
        (1_600_000_000, 20997, 5_000_000),
    ],
)
def test_ge_tax(price: int, item: int | None, tax: int) -> None:
    assert ge_tax(price, item) == tax


def test_quote_margin_alch_and_bonds() -> None:
    latest = {
        TBOW.id: Latest(1_157_644_413, None, 1_153_902_208, None),
        NATURE_RUNE_ID: Latest(119, None, 118, None),
        BOND_ID: Latest(6_950_000, None, 6_816_766, None),
    }
    q = quote_item(TBOW, latest)
    assert q.margin == 3_742_205
    assert q.tax == 5_000_000 and q.margin_after_tax == 3_742_205 - 5_000_000
    assert q.alch_profit == 2_400_000 - 1_157_644_413 - 119
    assert q.value_in_bonds == pytest.approx((1_153_902_208 - 5_000_000) / 6_950_000)
    bond = quote_item(BOND, latest)
    assert bond.tax == 0 and bond.margin_after_tax == 133_234
    assert bond.alch_profit is None and bond.value_in_bonds == 1.0


def test_quote_with_unknown_sides() -> None:
    q = quote_item(TBOW, {TBOW.id: Latest(high=1_600_000_000)})
    assert (q.margin, q.tax, q.margin_after_tax, q.nature_rune, q.alch_profit) == (
        None, None, None, None, None)
    assert q.value_in_bonds is None and q.bond_price is None
    assert quote_item(TBOW, {}).latest == Latest()


# -- the client -----------------------------------------------------------------------------------


def test_user_agent_names_the_program_and_the_contact() -> None:
    assert "osrs-notify/" in user_agent("ops@example.org")
    assert "contact: ops@example.org" in user_agent("ops@example.org")
    assert "no contact configured" in user_agent("  ")


def test_the_wiki_client_never_sends_the_osrs_api_key() -> None:
    settings = Settings(contact="me#1234", api_key="s3cret")
    config = wiki_http_config(settings)
    assert config.api_key is None and "me#1234" in config.user_agent
    assert config.cache_ttl == 0


@responses.activate
def test_latest_is_one_request_with_our_user_agent() -> None:
    responses.get(f"{WIKI}/latest", json={"data": {"4151": {"high": 2, "low": 1}}})
    settings = Settings(contact="ops@example.org", api_key="s3cret")
    wiki = PricesClient(HttpClient(wiki_http_config(settings)), WIKI)
    assert wiki.latest()[4151].mid == 1
    (call,) = responses.calls
    assert "contact: ops@example.org" in call.request.headers["User-Agent"]
    assert "X-Api-Key" not in call.request.headers
    assert "s3cret" not in str(call.request.headers)


@responses.activate
def test_endpoints_and_parameters() -> None:
    responses.get(f"{WIKI}/mapping", json=[{"id": 1, "name": "A"}])
    responses.get(f"{WIKI}/5m", json={"data": {"1": {"avgHighPrice": 5}}, "timestamp": 300})
    responses.get(f"{WIKI}/timeseries", json={"data": []},
                  match=[responses.matchers.query_param_matcher({"timestep": "6h", "id": "1"})])
    wiki = client()
    assert [i.name for i in wiki.mapping()] == ["A"]
    assert wiki.averages("5m").items[1].high == 5
    assert wiki.timeseries(1, "6h") == []
    with pytest.raises(ValueError):
        wiki.averages("2h")
    with pytest.raises(ValueError):
        wiki.timeseries(1, "1d")


@pytest.mark.parametrize(
    ("status", "body", "ctype", "error"),
    [
        (503, "down", "text/plain", PricesUnavailable),
        (200, "<html>Cloudflare</html>", "text/html", PricesUnavailable),
        (200, "<html>no content type</html>", "application/json", PricesUnavailable),
        (403, "Forbidden", "text/plain", ValidationError),
        (404, "nope", "text/plain", ValidationError),
        (429, "slow down", "text/plain", RateLimitError),
        (200, "{not json", "application/json", ValidationError),
    ],
)
@responses.activate
def test_failures_are_typed(status: int, body: str, ctype: str, error: type) -> None:
    responses.get(f"{WIKI}/latest", body=body, status=status, content_type=ctype)
    with pytest.raises(error) as info:
        client().latest()
    assert "Wiki prices API" in str(info.value)
    if status == 403:
        assert "contact" in str(info.value)


@responses.activate
def test_a_connection_failure_is_an_outage() -> None:
    with pytest.raises(PricesUnavailable, match="connection failed"):
        client().latest()  # responses refuses unregistered URLs with a ConnectionError


@responses.activate
def test_official_client() -> None:
    base = "https://osrs.test"
    url = f"{base}/m=itemdb_oldschool/api/catalogue/detail.json"
    responses.get(url, json={"item": {"id": 4151, "name": "Abyssal whip",
                                      "current": {"price": "2.9m"}, "members": "true"}},
                  match=[responses.matchers.query_param_matcher({"item": "4151"})])
    responses.get(url, status=404, body="<html>not found</html>",
                  match=[responses.matchers.query_param_matcher({"item": "1"})])
    ge = OfficialGEClient(
        HttpClient(HttpConfig(user_agent=UA, retries=0, rate_per_minute=0, cache_ttl=0)), base)
    assert ge.detail(4151).price == 2_900_000
    with pytest.raises(ValidationError, match="not on the Grand Exchange"):
        ge.detail(1)
