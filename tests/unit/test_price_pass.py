"""poller/price_pass.py with a scripted Wiki client and a real SQLite store: a trader's timeline,
one /latest per run, routing, the single transaction, dry runs, outages and config errors."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from notifier.messages import Style, build_messages
from notifier.notice import Notice
from poller.config import load_settings
from poller.items import ItemInfo
from poller.price_pass import PricePass, report_lines
from poller.prices import Average, Averages, Latest, PricesUnavailable
from poller.settings import ConfigError, Settings
from poller.store import Store, open_store
from poller.store.prices import PriceStore

T0 = datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)
M = 1_000_000
HOOK = "https://discord.com/api/webhooks/123456789012345678/" + "t0ken_" * 8

ITEMS = [
    ItemInfo(20997, "Twisted bow", True, 8, 4_000_000, 2_400_000, 1_600_000, "Twisted bow.png"),
    ItemInfo(13190, "Old school bond", False, 100, 2_000_000, None, None, "Old school bond.png"),
    ItemInfo(4151, "Abyssal whip", True, 70, 120_001, 72_000, 48_000, "Abyssal whip.png"),
]


class Wiki:
    """A scripted Wiki client: set prices, count calls, go down."""

    def __init__(self) -> None:
        self.latest_prices: dict[int, Latest] = {}
        self.avg: dict[str, dict[int, Average]] = {"1h": {}, "5m": {}}
        self.calls: Counter[str] = Counter()
        self.down: set[str] = set()

    def _call(self, name: str) -> None:
        self.calls[name] += 1
        if name in self.down or "all" in self.down:
            raise PricesUnavailable(f"Wiki prices API: HTTP 503 on {name}")

    def mapping(self) -> list[ItemInfo]:
        self._call("mapping")
        return list(ITEMS)

    def latest(self) -> dict[int, Latest]:
        self._call("latest")
        return dict(self.latest_prices)

    def averages(self, window: str = "1h") -> Averages:
        self._call(window)
        return Averages(window, T0, dict(self.avg[window]))

    def price(self, item_id: int, mid: int, spread: int = 0) -> None:
        self.latest_prices[item_id] = Latest(high=mid + spread, low=mid - spread)


def settings_for(tmp_path: Path, watches: str, *, contact: str = "ops@example.org",
                 hooks: str | None = None) -> Settings:
    path = tmp_path / "osrs-notify.toml"
    hooks = hooks if hooks is not None else (
        '[webhooks.market]\nurl = "${MARKET}"\nevents = ["price"]\n'
        '[webhooks.bonds]\nurl = "${MARKET}"\nevents = ["price"]\n'
        '[webhooks.later]\nurl = ""\nevents = ["price"]\n'
    )
    path.write_text(f'database = "sqlite:///db.sqlite"\ncontact = "{contact}"\n{hooks}{watches}')
    return load_settings(path, environ={"MARKET": HOOK})


TBOW_WATCH = (
    '[[watch]]\nitem = "twisted bow"\nabove = 1_600_000_000\nbelow = 1_200_000_000\n'
    'change_pct = 5\ncooldown = "0s"\nwebhooks = ["market", "later"]\n'
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    yield s
    s.close()


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def tick(self, minutes: int = 5) -> None:
        self.now += timedelta(minutes=minutes)


def one_pass(settings: Settings, store: Store, wiki: Wiki, clock: Clock, **kw: object):  # type: ignore[no-untyped-def]
    p = PricePass(settings, store, wiki, now=clock, **kw)  # type: ignore[arg-type]
    p.prepare()
    report = p.run()
    clock.tick()
    return report


def test_a_traders_timeline(tmp_path: Path, store: Store) -> None:
    settings = settings_for(tmp_path, TBOW_WATCH)
    wiki, clock = Wiki(), Clock()
    wiki.avg["1h"][20997] = Average(high=1_500 * M, low=1_500 * M)

    wiki.price(20997, 1_500 * M, spread=2 * M)
    report = one_pass(settings, store, wiki, clock)
    assert [r.outcome for r in report.results] == ["baseline"] and report.events_added == 0
    assert report.items_written == 3

    wiki.price(20997, 1_650 * M, spread=2 * M)  # spike over `above` (and +10% on the hour)
    report = one_pass(settings, store, wiki, clock)
    (result,) = report.results
    assert result.outcome == "alert" and report.events_added == 1
    # "later" has no URL yet: queued all the same, held until it is set (never dropped).
    assert result.webhooks == ("market", "later")
    assert result.notice is not None
    payload = result.notice.to_json()
    assert {k: payload[k] for k in ("kind", "metric", "old", "new", "threshold", "item_id")} == {
        "kind": "price", "metric": "Twisted bow", "old": 1_500 * M, "new": 1_650 * M,
        "threshold": 1_600 * M, "item_id": 20997}
    assert payload["url"] == "https://prices.runescape.wiki/osrs/item/20997"
    assert payload["icon_url"] == "https://oldschool.runescape.wiki/images/Twisted_bow.png"
    assert payload["rules"] == ["above", "change"] and payload["direction"] == "up"
    assert (payload["high"], payload["low"]) == (1_652 * M, 1_648 * M)

    for mid in (1_620 * M, 1_605 * M, 1_640 * M):  # hovering: no repeat
        wiki.avg["1h"][20997] = Average(high=1_620 * M, low=1_620 * M)
        wiki.price(20997, mid)
        assert one_pass(settings, store, wiki, clock).events_added == 0

    wiki.down = {"latest"}  # the Wiki falls over for a run
    states_before = PriceStore(store).watch_states()
    report = one_pass(settings, store, wiki, clock)
    assert report.exit_code == 1 and "HTTP 503" in (report.error or "")
    assert report.results == [] and report.events_added == 0
    assert PriceStore(store).watch_states() == states_before

    wiki.down = set()  # back, and crashed under `below`
    wiki.avg["1h"][20997] = Average(high=1_600 * M, low=1_600 * M)
    wiki.price(20997, 1_150 * M)
    report = one_pass(settings, store, wiki, clock)
    (result,) = report.results
    assert result.outcome == "alert" and result.alert is not None
    assert (result.alert.rule, result.alert.threshold) == ("below", 1_200 * M)

    events = store.recent_events()
    assert [(e.payload["rule"], e.payload["new"]) for e in reversed(events)] == [
        ("above", 1_650 * M), ("below", 1_150 * M)]
    assert Counter(d.webhook for d in store.pending_deliveries(clock.now)) == {
        "market": 2, "later": 2}
    assert wiki.calls["mapping"] == 1  # the item list is kept for a day
    assert wiki.calls["latest"] == 7 and wiki.calls["1h"] == 6  # once per run (6 reached it)
    assert wiki.calls["5m"] == 0


def test_one_latest_for_every_watch_and_averages_only_when_needed(
    tmp_path: Path, store: Store
) -> None:
    watches = (
        '[[watch]]\nitem = 20997\nabove = 2_000_000_000\n'
        '[[watch]]\nitem = "Old school bond"\nchange_pct = 3\nwindow = "5m"\n'
        '[[watch]]\nitem = "ABYSSAL WHIP"\nbelow = 1_000_000\nwebhooks = ["bonds"]\n'
    )
    settings = settings_for(tmp_path, watches)
    wiki, clock = Wiki(), Clock()
    for item in ITEMS:
        wiki.price(item.id, 5 * M)
    report = one_pass(settings, store, wiki, clock)
    assert [r.outcome for r in report.results] == ["baseline"] * 3
    assert (wiki.calls["latest"], wiki.calls["5m"], wiki.calls["1h"]) == (1, 1, 0)
    assert [r.webhooks for r in report.results] == [
        ("market", "bonds", "later"), ("market", "bonds", "later"), ("bonds",)]


def test_no_trades_yet_is_no_price_and_no_state(tmp_path: Path, store: Store) -> None:
    settings = settings_for(tmp_path, TBOW_WATCH)
    wiki, clock = Wiki(), Clock()
    report = one_pass(settings, store, wiki, clock)
    assert [r.outcome for r in report.results] == ["no_price"]
    assert PriceStore(store).watch_states() == {}
    wiki.latest_prices[20997] = Latest(high=1_700 * M)  # one side trades: that is the price
    assert [r.outcome for r in one_pass(settings, store, wiki, clock).results] == ["baseline"]


def test_samples_are_kept_compactly(tmp_path: Path, store: Store) -> None:
    settings = settings_for(tmp_path, TBOW_WATCH)  # [prices].interval defaults to 5m
    wiki, clock = Wiki(), Clock()
    wiki.price(20997, 1_500 * M)
    for _ in range(3):  # unchanged price: one sample
        one_pass(settings, store, wiki, clock)
    wiki.price(20997, 1_510 * M)
    one_pass(settings, store, wiki, clock)
    samples = PriceStore(store).samples(20997)
    assert [s.high for s in samples] == [1_500 * M, 1_510 * M]


def test_a_dry_run_changes_nothing(tmp_path: Path, store: Store) -> None:
    settings = settings_for(tmp_path, TBOW_WATCH)
    wiki, clock = Wiki(), Clock()
    wiki.price(20997, 1_500 * M)
    report = one_pass(settings, store, wiki, clock, dry_run=True)
    assert [r.outcome for r in report.results] == ["baseline"]
    assert PriceStore(store).counts() == {"item": 0, "price_sample": 0, "watch_state": 0}
    one_pass(settings, store, wiki, clock)  # a real baseline
    wiki.price(20997, 1_700 * M)
    report = one_pass(settings, store, wiki, clock, dry_run=True)
    assert report.alerts and report.events_added == 0 and store.counts()["event"] == 0
    out, _ = report_lines(report)
    assert any("would send to 'market'" in line for line in out)


def test_an_unknown_item_is_a_config_error_with_suggestions(tmp_path: Path, store: Store) -> None:
    watches = ('[[watch]]\nitem = "Twisted bwo"\nabove = 1\n[[watch]]\nitem = 4151\nabove = 1\n'
               '[[watch]]\nitem = 99999999\nbelow = 1\n')
    settings = settings_for(tmp_path, watches)
    p = PricePass(settings, store, Wiki(), now=Clock())  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as info:
        p.prepare()
    assert info.value.key == "watch[0].item"
    assert "did you mean 'Twisted bow'?" in str(info.value)
    assert [e.key for e in info.value.problems] == ["watch[0].item", "watch[2].item"]
    assert "no item with id 99999999" in info.value.problems[1].line


def test_no_item_list_at_all_fails_the_pass_without_raising(tmp_path: Path, store: Store) -> None:
    settings = settings_for(tmp_path, TBOW_WATCH)
    wiki = Wiki()
    wiki.down = {"mapping"}
    p = PricePass(settings, store, wiki, now=Clock())  # type: ignore[arg-type]
    p.prepare()
    report = p.run()
    assert report.exit_code == 1 and "item list" in (report.error or "")
    assert wiki.calls["latest"] == 0


def test_a_database_failure_is_reported_not_raised(tmp_path: Path, store: Store) -> None:
    settings = settings_for(tmp_path, TBOW_WATCH)
    wiki, clock = Wiki(), Clock()
    wiki.price(20997, 1_500 * M)
    p = PricePass(settings, store, wiki, now=clock)  # type: ignore[arg-type]
    p.prepare()
    store.db.database.execute_sql("DROP TABLE watch_state")
    report = p.run()
    assert report.exit_code == 1 and "watch_state" in (report.error or "")


def test_an_empty_contact_is_warned_about(tmp_path: Path, store: Store) -> None:
    settings = settings_for(tmp_path, TBOW_WATCH, contact="")
    wiki = Wiki()
    report = one_pass(settings, store, wiki, Clock())
    _, err = report_lines(report)
    assert any("contact is empty" in line for line in err)


def test_changing_a_watch_starts_it_afresh(tmp_path: Path, store: Store) -> None:
    wiki, clock = Wiki(), Clock()
    wiki.price(20997, 1_700 * M)
    one_pass(settings_for(tmp_path, TBOW_WATCH), store, wiki, clock)
    moved = TBOW_WATCH.replace("above = 1_600_000_000", "above = 1_650_000_000")
    report = one_pass(settings_for(tmp_path, moved), store, wiki, clock)
    assert [r.outcome for r in report.results] == ["baseline"]  # not an alert
    (key,) = PriceStore(store).watch_states()
    assert ":a=1650000000:" in key


def test_the_alert_renders_as_a_price_embed(tmp_path: Path, store: Store) -> None:
    settings = settings_for(tmp_path, TBOW_WATCH)
    wiki, clock = Wiki(), Clock()
    wiki.price(20997, 1_500 * M)
    one_pass(settings, store, wiki, clock)
    wiki.price(20997, 1_650 * M)
    one_pass(settings, store, wiki, clock)
    (pending,) = store.pending_deliveries(clock.now, webhook="market")
    (message,) = build_messages([(pending.delivery_id, Notice.from_json(pending.payload))],
                                Style())
    (embed,) = message.body["embeds"]  # type: ignore[misc]
    assert embed["title"] == "📈 Twisted bow rose above 1.6b"
    assert embed["url"] == "https://prices.runescape.wiki/osrs/item/20997"
    assert embed["thumbnail"] == {"url": "https://oldschool.runescape.wiki/images/Twisted_bow.png"}
    assert embed["description"].splitlines()[:2] == [
        "Now 1.65b (1,650,000,000 gp)", "Was 1.5b · up 10.0%",
    ]
    assert pending.payload["watch_above"] == 1_600_000_000


def test_watch_problems_for_check(tmp_path: Path, store: Store) -> None:
    from poller.price_pass import watch_problems

    watches = '[[watch]]\nitem = "Twisted bwo"\nabove = 1\n[[watch]]\nitem = 4151\nabove = 1\n'
    settings = settings_for(tmp_path, watches, contact="")
    # Nothing stored yet and offline: only what can be told without the item list.
    offline = watch_problems(settings, store)
    assert len(offline) == 1 and "contact is empty" in offline[0]
    online = watch_problems(settings, store, Wiki())  # type: ignore[arg-type]
    assert any("watch[0].item: no item named 'Twisted bwo'; did you mean 'Twisted bow'?" in p
               for p in online)
    assert len(watch_problems(settings, store)) == 2  # the stored list now answers offline
    down = Wiki()
    down.down = {"all"}
    fresh_store = open_store(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        lines = watch_problems(settings, fresh_store, down)  # type: ignore[arg-type]
    finally:
        fresh_store.close()
    assert any(line.startswith("prices (") and "HTTP 503" in line for line in lines)
    assert watch_problems(settings_for(tmp_path, ""), store) == []
