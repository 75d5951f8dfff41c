"""`osrs-notify price ITEM` and the prices pass of `poll`, in-process through ``poller.cli.main``.

The Wiki prices API, the official GE API, the hiscores and Discord are mocked with ``responses``
at fake endpoints set through the environment.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from poller import game
from poller.store import open_store
from poller.store.prices import PriceStore

from support import Run, hiscores_body

WIKI = "http://prices.test/api/v1/osrs"
JAGEX = "http://jagex.test"
MARKET = "https://discord.com/api/webhooks/111111111111111111/" + "Mk_" * 12
CLAN = "https://discord.com/api/webhooks/222222222222222222/" + "Cl_" * 12
M = 1_000_000

MAPPING = [
    {"examine": "A mystical bow.", "id": 20997, "members": True, "lowalch": 1600000, "limit": 8,
     "value": 4000000, "highalch": 2400000, "icon": "Twisted bow.png", "name": "Twisted bow"},
    {"examine": "Membership.", "id": 13190, "members": False, "value": 2000000,
     "icon": "Old school bond.png", "limit": 100, "name": "Old school bond"},
    {"examine": "Used for alchemy spells.", "id": 561, "members": False, "lowalch": 72,
     "limit": 12000, "value": 180, "highalch": 108, "icon": "Nature rune.png",
     "name": "Nature rune"},
    {"examine": "A weapon from the Abyss.", "id": 4151, "members": True, "lowalch": 48000,
     "limit": 70, "value": 120001, "highalch": 72000, "icon": "Abyssal whip.png",
     "name": "Abyssal whip"},
    {"examine": "Cheap.", "id": 1925, "members": False, "value": 2, "highalch": 1, "lowalch": 0,
     "icon": "Bucket.png", "name": "Bucket"},
]


@pytest.fixture(autouse=True)
def env(main_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OSRS_PRICES_ENDPOINT", WIKI)
    monkeypatch.setenv("OSRS_API_ENDPOINT", JAGEX)
    # Retries back off for real seconds; these tests only need to see that they end.
    monkeypatch.setattr("poller.http.HttpClient._delay", lambda self, attempt, after: 0.0)


class Web:
    """Scripted Wiki, official GE, hiscores and Discord."""

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.latest: dict[str, dict[str, int | None]] = {}
        self.hour: dict[str, dict[str, int | None]] = {}
        self.down: int | str | None = None  # an HTTP status, "html", or None
        self.official_down = False
        self.calls: Counter[str] = Counter()
        self.agents: list[str] = []
        self.players: dict[str, int] = {}
        self.posts: list[tuple[str, dict[str, object]]] = []
        rsps.add_callback(responses.GET, re.compile(re.escape(WIKI) + r"/.*"), self._wiki)
        rsps.add_callback(responses.GET, re.compile(re.escape(JAGEX) + r"/m=itemdb.*"),
                          self._official)
        rsps.add_callback(responses.GET, re.compile(re.escape(JAGEX) + r"/m=hiscore.*"),
                          self._hiscores)
        rsps.add_callback(responses.POST, re.compile(r"https://discord\.test/.*"), self._discord)

    def price(self, item_id: int, high: int | None, low: int | None) -> None:
        now = int(time.time())
        self.latest[str(item_id)] = {"high": high, "highTime": now - 60, "low": low,
                                     "lowTime": now - 125}

    def _wiki(self, request):  # type: ignore[no-untyped-def]
        path = urlsplit(request.url).path.removeprefix("/api/v1/osrs")
        self.calls[path] += 1
        self.agents.append(request.headers.get("User-Agent", ""))
        if self.down == "html":
            return 200, {"Content-Type": "text/html"}, "<html><body>502</body></html>"
        if self.down:
            return int(self.down), {}, "down"
        body: object = {"/mapping": MAPPING, "/latest": {"data": self.latest},
                        "/1h": {"data": self.hour, "timestamp": 1_700_000_000}}.get(path)
        if body is None:
            return 404, {}, "no"
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    def _official(self, request):  # type: ignore[no-untyped-def]
        self.calls["official"] += 1
        if self.official_down:
            return 503, {}, "down"
        item = parse_qs(urlsplit(request.url).query)["item"][0]
        body = {"item": {"id": int(item), "name": "Abyssal whip", "members": "true",
                         "current": {"trend": "neutral", "price": "2.9m"},
                         "today": {"trend": "negative", "price": "- 4,849"}}}
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    def _hiscores(self, request):  # type: ignore[no-untyped-def]
        name = parse_qs(urlsplit(request.url).query)["player"][0]
        self.calls["hiscores"] += 1
        level = self.players.get(name)
        if level is None:
            return 404, {}, ""
        body = hiscores_body({"Cooking": game.xp_for_level(level)})
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    def _discord(self, request):  # type: ignore[no-untyped-def]
        hook = urlsplit(request.url).path.split("/webhooks/")[1].split("/")[0]
        self.posts.append((hook, json.loads(request.body)))
        return 200, {"Content-Type": "application/json"}, json.dumps({"id": "1"})

    def embeds(self, hook_id: str) -> list[dict[str, object]]:
        return [e for h, body in self.posts if h == hook_id
                for e in body.get("embeds", [])]  # type: ignore[union-attr]


@pytest.fixture
def web(rsps: responses.RequestsMock) -> Web:
    return Web(rsps)


def market_prices(web: Web) -> None:
    web.price(20997, 1_157_644_413, 1_153_902_208)
    web.price(13190, 6_950_000, 6_816_766)
    web.price(561, 119, 118)
    web.price(4151, 2_000_000, 1_990_000)
    web.price(1925, 49, 40)


# -- price ----------------------------------------------------------------------------------------


def test_price_by_name_in_any_case_needs_no_config(
    run: Callable[..., Run], web: Web, tmp_path: Path
) -> None:
    market_prices(web)
    result = run("price", "TWISTED bow")
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert lines[0] == "Twisted bow (item 20997, members)"
    assert "Instant buy:    1,157,644,413 gp  (1 min ago)" in result.out
    assert "Instant sell:   1,153,902,208 gp  (2 min ago)" in result.out
    assert "Margin:         3,742,205 gp; after 5,000,000 gp tax: -1,257,795 gp" in result.out
    assert "Buy limit:      8 per 4 hours" in result.out
    assert "High alch:      2,400,000 gp; profit -1,155,244,532 gp (nature rune 119 gp)" in (
        result.out)
    assert "Value in bonds: 165.31 (bond 6,950,000 gp)" in result.out
    assert "https://prices.runescape.wiki/osrs/item/20997" in result.out
    assert (web.calls["/mapping"], web.calls["/latest"]) == (1, 1)
    assert list(tmp_path.iterdir()) == []  # no config: nothing written where cron runs us


def test_price_json_by_id(run: Callable[..., Run], web: Web) -> None:
    market_prices(web)
    result = run("price", "13190", "--json")
    assert result.code == 0, result
    data = json.loads(result.out)
    assert data["source"] == "wiki" and data["item"]["name"] == "Old school bond"
    assert data["instant_buy"]["price"] == 6_950_000 and data["instant_buy"]["age_seconds"] >= 60
    assert (data["margin"], data["tax"], data["margin_after_tax"]) == (133_234, 0, 133_234)
    assert data["high_alch"] is None and data["alch_profit"] is None  # no alch values
    assert data["value_in_bonds"] == 1.0 and data["buy_limit"] == 100


def test_price_under_50_gp_pays_no_tax(run: Callable[..., Run], web: Web) -> None:
    market_prices(web)
    data = json.loads(run("price", "bucket", "--json").out)
    assert (data["margin"], data["tax"], data["margin_after_tax"]) == (9, 0, 9)


def test_price_typo_suggests_and_exits_2(run: Callable[..., Run], web: Web) -> None:
    market_prices(web)
    result = run("price", "twisted bwo")
    assert result.code == 2
    assert result.err.strip() == "error: no item named 'twisted bwo'; did you mean 'Twisted bow'?"
    assert web.calls["/latest"] == 0
    assert run("price", "424242").code == 2


def test_price_falls_back_to_the_official_guide_price(run: Callable[..., Run], web: Web) -> None:
    web.down = 503
    result = run("price", "4151")
    assert result.code == 0, result
    assert "official GE guide price" in result.out and "≈ 2,900,000 gp" in result.out
    assert "-4,849 gp" in result.out
    assert "HTTP 503" in result.err and "Traceback" not in result.err
    data = json.loads(run("price", "4151", "--json").out)
    assert data["source"] == "official" and data["guide_price"] == 2_900_000
    assert data["approximate"] is True


def test_price_by_name_with_the_wiki_down_exits_1(run: Callable[..., Run], web: Web) -> None:
    web.down = "html"
    result = run("price", "Abyssal whip")
    assert result.code == 1
    assert "give the item id" in result.err and result.err.count("\n") == 1
    assert web.calls["official"] == 0


def test_price_with_everything_down_exits_1(run: Callable[..., Run], web: Web) -> None:
    web.down, web.official_down = 503, True
    result = run("price", "4151")
    assert result.code == 1 and "official GE API" in result.err
    assert result.err.count("\n") == 1


def test_price_with_a_config_keeps_the_item_list_and_sends_the_contact(
    run: Callable[..., Run], web: Web, tmp_path: Path
) -> None:
    (tmp_path / "osrs-notify.toml").write_text(
        'database = "sqlite:///t.db"\ncontact = "trader@example.org"\n')
    market_prices(web)
    assert run("price", "whip").code == 2  # part of a name: a suggestion, not a guess
    assert run("price", "abyssal whip").code == 0
    assert run("price", "Old school bond").code == 0
    assert web.calls["/mapping"] == 1  # stored in the database for a day
    assert all("contact: trader@example.org" in ua for ua in web.agents)
    with open_store(f"sqlite:///{tmp_path / 't.db'}") as store:
        assert PriceStore(store).counts()["item"] == len(MAPPING)


def test_price_warns_when_the_config_has_no_contact(
    run: Callable[..., Run], web: Web, tmp_path: Path
) -> None:
    (tmp_path / "osrs-notify.toml").write_text('database = "sqlite:///t.db"\n')
    market_prices(web)
    result = run("price", "4151")
    assert result.code == 0 and "contact is empty" in result.err


# -- poll -----------------------------------------------------------------------------------------


def poll_config(tmp_path: Path, item: str = '"Twisted bow"', extra: str = "") -> None:
    (tmp_path / "osrs-notify.toml").write_text(
        'database = "sqlite:///t.db"\ncontact = "trader@example.org"\n'
        "[poll]\nretries = 0\n"
        f'[webhooks.clan]\nurl = "{CLAN}"\n'
        f'[webhooks.market]\nurl = "{MARKET}"\nevents = ["price"]\n'
        '[[players]]\nname = "Alice"\n'
        f'[[watch]]\nitem = {item}\nabove = 1_600_000_000\ncooldown = "0s"\n{extra}'
    )


def test_poll_alerts_through_the_outbox_to_the_watchs_webhook(
    run: Callable[..., Run], web: Web, tmp_path: Path
) -> None:
    poll_config(tmp_path)
    web.players["Alice"] = 50
    web.price(20997, 1_500 * M, 1_490 * M)
    first = run("poll")
    assert first.code == 0, first
    assert "Checked 1 price watch(es): 1 baseline" in first.out
    assert web.posts == []

    web.players["Alice"] = 51
    web.price(20997, 1_660 * M, 1_650 * M)
    second = run("poll")
    assert second.code == 0, second
    assert "Twisted bow: 1,495,000,000 → 1,655,000,000 gp (above 1,600,000,000)" in second.out
    (embed,) = web.embeds("111111111111111111")
    assert embed["title"] == "📈 Twisted bow rose above 1.6b"
    assert embed["url"] == "https://prices.runescape.wiki/osrs/item/20997"
    clan = web.embeds("222222222222222222")
    assert len(clan) == 1 and "Cooking 50 → 51" in str(clan[0]["description"])
    assert web.calls["/latest"] == 2 and web.calls["/mapping"] == 1

    web.price(20997, 1_640 * M, 1_630 * M)  # still above: nothing more
    assert run("poll").code == 0
    assert len(web.embeds("111111111111111111")) == 1


def test_poll_with_an_unknown_watch_item_exits_2_before_anything(
    run: Callable[..., Run], web: Web, tmp_path: Path
) -> None:
    poll_config(tmp_path, item='"Twisted bwo"')
    web.players["Alice"] = 50
    result = run("poll")
    assert result.code == 2
    line = result.err.strip().splitlines()[-1]
    assert line.startswith("error: ") and "watch[0].item" in line
    assert "no item named 'Twisted bwo'; did you mean 'Twisted bow'?" in line
    assert web.calls["hiscores"] == 0 and web.calls["/latest"] == 0
    with open_store(f"sqlite:///{tmp_path / 't.db'}") as store:
        assert store.counts()["snapshot"] == 0


def test_poll_with_the_wiki_down_still_polls_and_delivers(
    run: Callable[..., Run], web: Web, tmp_path: Path
) -> None:
    poll_config(tmp_path)
    web.players["Alice"] = 50
    web.price(20997, 1_500 * M, 1_490 * M)
    assert run("poll").code == 0
    web.down = 503
    web.players["Alice"] = 52
    result = run("poll")
    assert result.code == 1
    assert "prices: Wiki prices API" in result.err and "no price alerts derived" in result.err
    assert "Traceback" not in result.err
    assert len(web.embeds("222222222222222222")) == 1  # the level-up still went out
    assert web.embeds("111111111111111111") == []


def test_poll_with_no_item_list_and_the_wiki_down(
    run: Callable[..., Run], web: Web, tmp_path: Path
) -> None:
    poll_config(tmp_path)
    web.players["Alice"] = 50
    web.down = 500
    result = run("poll")
    assert result.code == 1 and "without the item list" in result.err
    with open_store(f"sqlite:///{tmp_path / 't.db'}") as store:
        assert store.counts()["snapshot"] == 1  # the players were polled regardless


def test_poll_dry_run_with_watches_changes_nothing(
    run: Callable[..., Run], web: Web, tmp_path: Path
) -> None:
    poll_config(tmp_path)
    web.players["Alice"] = 50
    web.price(20997, 1_700 * M, 1_690 * M)
    result = run("poll", "--dry-run")
    assert result.code == 0, result
    assert "Would check 1 price watch(es): 1 baseline" in result.out
    with open_store(f"sqlite:///{tmp_path / 't.db'}") as store:
        assert PriceStore(store).counts() == {"item": 0, "price_sample": 0, "watch_state": 0}


def test_poll_with_only_watches(run: Callable[..., Run], web: Web, tmp_path: Path) -> None:
    (tmp_path / "osrs-notify.toml").write_text(
        'database = "sqlite:///t.db"\ncontact = "x@example.org"\n'
        f'[webhooks.market]\nurl = "{MARKET}"\nevents = ["price"]\n'
        '[[watch]]\nitem = 13190\nbelow = 5_000_000\n'
    )
    web.price(13190, 6_950_000, 6_816_766)
    result = run("poll")
    assert result.code == 0, result
    assert "1 baseline" in result.out and web.calls["hiscores"] == 0


def test_a_cron_run_without_watches_does_not_load_the_prices_code(tmp_path: Path) -> None:
    (tmp_path / "osrs-notify.toml").write_text(
        'database = "sqlite:///t.db"\n[poll]\nretries = 0\n[[players]]\nname = "Alice"\n'
    )
    script = (
        "import sys\n"
        "from poller.cli import main\n"
        "try:\n    main(['poll'])\nexcept SystemExit:\n    pass\n"
        "loaded = [m for m in ('poller.prices', 'poller.items', 'poller.alerts',\n"
        "          'poller.price_pass', 'poller.store.prices') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    env = {"PATH": "/usr/bin:/bin", "OSRS_API_ENDPOINT": "http://127.0.0.1:9",
           "OSRS_CACHE_TTL": "0"}
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
