"""The installed `osrs-notify` against a fake OSRS Wiki prices API, a fake hiscores and a strict
fake Discord, all on 127.0.0.1, through a trader's timeline.

Each step changes what the fake prices server serves, runs `osrs-notify poll` as a subprocess,
and at the end the test reads every message Discord accepted: exactly the alerts a trader expects,
each in its own channel exactly once.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fake_discord import FakeDiscord
from fake_hiscores import FakeHiscores, FakeServer, hiscores_body
from fake_prices import FakePrices, FakePricesServer

from poller import game

from support import osrs_notify_command

M = 1_000_000
TBOW, BOND = 20997, 13190

CONFIG = """
database = "sqlite:///state.db"
contact = "trader@example.org"

[poll]
rate_limit = 6000
cache_ttl = 0
retries = 0

[webhooks.clan]
url = "${CLAN_URL}"

[webhooks.market]
url = "${MARKET_URL}"
events = ["price"]

[webhooks.bonds]
url = "${BONDS_URL}"
events = ["price"]

[[players]]
name = "Trader Joe"

[[watch]]
item = "twisted bow"
above = 1_600_000_000
below = 1_200_000_000
cooldown = "0s"
webhooks = ["market"]

[[watch]]
item = 13190            # Old school bond, by id
change_pct = 5          # against the 1h average
cooldown = "6h"
webhooks = ["bonds"]
"""


@dataclass
class World:
    home: Path
    prices: FakePrices
    hiscores: FakeHiscores
    discord: FakeDiscord
    env: dict[str, str]
    hooks: dict[str, str]  # config name → fake Discord webhook id
    tokens: tuple[str, ...]
    prices_origin: str  # also serves the official GE catalogue

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            [osrs_notify_command(), *args], cwd=self.home, env=self.env,
            capture_output=True, text=True,
            timeout=120,
        )
        for token in self.tokens:
            assert token not in out.stdout + out.stderr
        assert "Traceback" not in out.stderr
        return out

    def poll(self, expect: int = 0) -> subprocess.CompletedProcess[str]:
        out = self.run("poll")
        assert out.returncode == expect, out.stdout + out.stderr
        return out

    def level(self, level: int) -> None:
        self.hiscores.set_player("Trader Joe", hiscores_body({"Fishing": game.xp_for_level(level)}))

    def price_alerts(self, hook: str) -> list[str]:
        """Every price embed Discord accepted for this webhook: "title | first line"."""
        seen = []
        for message in self.discord.messages_for(self.hooks[hook]):
            for embed in message.body.get("embeds", []):
                if "prices.runescape.wiki" in embed.get("url", ""):
                    first = embed["description"].splitlines()[0]
                    seen.append(f"{embed['title']} | {first}")
        return seen


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    prices, hiscores = FakePrices(), FakeHiscores()
    with FakePricesServer(prices) as wiki, FakeServer(hiscores) as jagex, FakeDiscord() as discord:
        hooks = {name: discord.add_webhook(name=name).id for name in ("clan", "market", "bonds")}
        (tmp_path / "osrs-notify.toml").write_text(CONFIG)
        (tmp_path / ".env").write_text("".join(
            f"{name.upper()}_URL={discord.webhook_url(hook)}\n" for name, hook in hooks.items()
        ))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OSRS_", "DATABASE_"))}
        env.update(
            OSRS_API_ENDPOINT=jagex.url,
            OSRS_PRICES_ENDPOINT=wiki.url,
            OSRS_NOTIFY_CONFIG=str(tmp_path / "osrs-notify.toml"),
            DISCORD_API_BASE=discord.api_base,
        )
        tokens = tuple(discord.token(h) for h in hooks.values())
        yield World(tmp_path, prices, hiscores, discord, env, hooks, tokens, wiki.origin)


def test_a_traders_timeline(world: World) -> None:
    prices = world.prices
    world.level(60)

    # 1. Baseline: first prices seen are not news.
    prices.set_price(TBOW, 1_505 * M, 1_495 * M)
    prices.set_price(BOND, 7_010_000, 6_990_000)
    prices.set_average("1h", BOND, 7_000_000, 7_000_000)
    out = world.poll()
    assert "Item list refreshed from the OSRS Wiki: 5 items." in out.stdout
    assert "Checked 2 price watch(es): 2 baseline" in out.stdout
    assert world.discord.messages == []

    # 2. A spike over `above`, and the bond 7% over its hourly average.
    prices.set_price(TBOW, 1_655 * M, 1_645 * M)
    prices.set_price(BOND, 7_500_000, 7_480_000)
    out = world.poll()
    assert "Checked 2 price watch(es): 2 alert" in out.stdout
    assert "2 price event(s) stored" in out.stdout

    # 3–4. Hovering: over the line but never back under it; the bond slipping back down 6%
    # within its 6h cooldown is held back.
    for tbow, bond, bond_avg in ((1_620 * M, 7_450_000, 7_400_000),
                                 (1_605 * M, 7_000_000, 7_450_000)):
        prices.set_price(TBOW, tbow + 2 * M, tbow - 2 * M)
        prices.set_price(BOND, bond + 10_000, bond - 10_000)
        prices.set_average("1h", BOND, bond_avg, bond_avg)
        out = world.poll()
        assert "price event(s) stored" not in out.stdout
    assert "Old school bond: 7,450,000 → 7,000,000 gp" in out.stdout
    assert "within the cooldown, not sent" in out.stdout

    # 5. A crash: the prices API answers 503 for a run, then an HTML page for another. The
    # player pass and delivery go on (a level-up reaches #clan); nothing is derived from prices.
    prices.outage("503")
    world.level(61)
    out = world.poll(expect=1)
    assert "prices: Wiki prices API" in out.stderr and "HTTP 503" in out.stderr
    assert "no price alerts derived" in out.stderr
    prices.outage("html")
    prices.set_price(TBOW, 1_100 * M, 1_090 * M)  # behind the outage: never seen
    out = world.poll(expect=1)
    assert "HTML page" in out.stderr

    # 6. Recovery, below the `below` line: one alert.
    prices.recover()
    prices.set_price(TBOW, 1_152 * M, 1_148 * M)
    prices.set_price(BOND, 7_010_000, 6_990_000)
    prices.set_average("1h", BOND, 7_000_000, 7_000_000)
    out = world.poll()
    assert "Checked 2 price watch(es): 1 alert, 1 quiet" in out.stdout

    # Exactly the alerts a trader expects, each in its own channel, each once.
    assert world.price_alerts("market") == [
        "📈 Twisted bow rose above 1.6b | Now 1.65b (1,650,000,000 gp)",
        "📉 Twisted bow fell below 1.2b | Now 1.15b (1,150,000,000 gp)",
    ]
    assert world.price_alerts("bonds") == [
        "📈 Old school bond up 7.0% on the 1h average | Now 7.49m (7,490,000 gp)"
    ]
    assert world.price_alerts("clan") == []
    clan = [e["description"] for m in world.discord.messages_for(world.hooks["clan"])
            for e in m.body["embeds"]]
    assert clan == ["Fishing 60 → 61"]
    embed = world.discord.messages_for(world.hooks["market"])[0].body["embeds"][0]
    assert embed["url"] == "https://prices.runescape.wiki/osrs/item/20997"
    assert embed["thumbnail"]["url"] == "https://oldschool.runescape.wiki/images/Twisted_bow.png"
    assert "Was 1.5b · up 10.0%" in embed["description"]

    # /latest once per run, /mapping once for the day, every call with our contact.
    calls = prices.calls()
    assert calls["/api/v1/osrs/latest"] == 7 and calls["/api/v1/osrs/mapping"] == 1
    assert calls["/api/v1/osrs/1h"] == 5  # only the bond's change_pct needs it
    assert all("contact: trader@example.org" in agent for _, agent in prices.requests)
    assert Counter(r.status for r in world.discord.requests)[400] == 0
    assert "Nothing pending" in world.run("deliver").stdout


def test_an_unknown_watched_item_stops_the_poll_with_suggestions(world: World) -> None:
    config = world.home / "osrs-notify.toml"
    config.write_text(config.read_text().replace('"twisted bow"', '"Twisted bwo"'))
    world.level(60)
    out = world.run("poll")
    assert out.returncode == 2
    line = out.stderr.strip().splitlines()[-1]
    assert "watch[0].item" in line
    assert "no item named 'Twisted bwo'; did you mean 'Twisted bow'?" in line
    assert world.hiscores.requests == []  # nothing done
    assert world.prices.calls()["/api/v1/osrs/latest"] == 0


def test_the_price_command_and_its_fallback(world: World) -> None:
    prices = world.prices
    prices.set_price(TBOW, 1_157_644_413, 1_153_902_208, age=125)
    prices.set_price(BOND, 6_950_000, 6_816_766)
    prices.set_price(561, 119, 118)
    out = world.run("price", "TWISTED BOW")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "Twisted bow (item 20997, members)"
    assert "Margin:         3,742,205 gp; after 5,000,000 gp tax: -1,257,795 gp" in out.stdout
    assert "Value in bonds: 165.31 (bond 6,950,000 gp)" in out.stdout
    data = json.loads(world.run("price", "13190", "--json").stdout)
    assert data["tax"] == 0 and data["item"]["high_alch"] is None

    typo = world.run("price", "old scool bond")
    assert typo.returncode == 2 and "did you mean 'Old school bond'?" in typo.stderr

    prices.outage("503")
    prices.official[4151] = {
        "id": 4151, "name": "Abyssal whip", "members": "true",
        "current": {"trend": "neutral", "price": "2.9m"},
        "today": {"trend": "negative", "price": "- 4,849"},
    }
    world.env["OSRS_API_ENDPOINT"] = world.prices_origin  # Jagex's catalogue, on the fake
    fallback = world.run("price", "4151")
    assert fallback.returncode == 0, fallback.stderr
    assert "official GE guide price" in fallback.stdout and "≈ 2,900,000 gp" in fallback.stdout
