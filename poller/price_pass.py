"""The prices pass of a run: the watchlist against the OSRS Wiki's latest prices.

    prices = PricePass(settings, store, client)
    prices.prepare()     # item list refreshed if a day old; every [[watch]] resolved to an item
    ...                  # (the player pass)
    report = prices.run()

``prepare`` raises a :class:`~poller.settings.ConfigError` naming the ``[[watch]]`` when a watched
item does not exist (with "did you mean" suggestions): a configuration error, found before
anything else runs. Any other failure (the Wiki down, the database) is kept in the report, never
raised, so the player pass and delivery go on; the run exits 1.

``run`` fetches ``/latest`` once for every watched item (and the ``1h``/``5m`` averages when a
watch has ``change_pct``), decides each watch with :func:`poller.alerts.evaluate`, then writes
the price events (through the same outbox and delivery as player events), the watch states and
the price samples in ONE transaction. A failed fetch derives nothing and changes no state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from .alerts import Alert, Outcome, Rule, Verdict, WatchState, evaluate, should_sample
from .clock import utcnow
from .errors import OSRSApiError, error_line
from .items import ITEM_MAX_AGE, AmbiguousItem, ItemInfo, ItemSource, UnknownItem, resolve

if TYPE_CHECKING:
    from notifier.notice import Notice

    from .prices import Averages, Latest, PricesClient
    from .settings import Settings, WatchSettings
    from .store import OutboxEntry, Store
    from .store.prices import StoredWatch

log = logging.getLogger("osrs_notify.prices")

@dataclass(frozen=True, slots=True)
class Watched:
    """A ``[[watch]]`` with its item resolved."""

    index: int  # position in the config, for messages ("watch[0]")
    watch: WatchSettings
    item: ItemInfo

    @property
    def key(self) -> str:
        """Identifies the watch's state: a watch whose rules or webhooks change starts afresh
        with a silent baseline (its old arming no longer means anything). The cooldown is
        left out: changing it keeps the state."""
        w = self.watch
        parts = [
            str(self.item.id),
            f"a={w.above if w.above is not None else ''}",
            f"b={w.below if w.below is not None else ''}",
            f"c={w.change_pct:g}" if w.change_pct is not None else "c=",
            f"w={w.window}",
            "h=" + ",".join(sorted(w.webhooks)),
        ]
        return ":".join(parts)

    @property
    def rule(self) -> Rule:
        w = self.watch
        return Rule(above=w.above, below=w.below, change_pct=w.change_pct, cooldown=w.cooldown)


@dataclass(frozen=True, slots=True)
class WatchResult:
    watched: Watched
    outcome: Outcome
    price: int | None = None
    average: int | None = None
    alert: Alert | None = None
    webhooks: tuple[str, ...] = ()
    notice: Notice | None = None  # what a sent alert tells (stored in the outbox)

    @property
    def name(self) -> str:
        return self.watched.item.name


@dataclass
class PriceReport:
    started_at: datetime
    finished_at: datetime | None = None
    results: list[WatchResult] = field(default_factory=list)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = False
    items_written: int = 0
    events_added: int = 0
    deliveries_added: int = 0
    samples_added: int = 0

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    @property
    def alerts(self) -> list[WatchResult]:
        return [r for r in self.results if r.outcome == "alert"]

    @property
    def exit_code(self) -> int:
        return 1 if self.error else 0


def resolve_watches(settings: Settings, source: ItemSource) -> list[Watched]:
    """Every [[watch]] with its item; a ConfigError listing every unknown or ambiguous one
    (key ``watch[i].item``, with "did you mean" suggestions)."""
    from .settings import ConfigError

    watched: list[Watched] = []
    problems: list[ConfigError] = []
    for index, watch in enumerate(settings.watch):
        try:
            item = resolve(source, watch.item)
        except (UnknownItem, AmbiguousItem) as exc:
            problems.append(ConfigError(settings.path, f"watch[{index}].item", str(exc)))
            continue
        watched.append(Watched(index, watch, item))
    if problems:
        first = problems[0]
        first.problems = tuple(problems)
        raise first
    return watched


class PricePass:
    """One prices pass over the configured watches (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        client: PricesClient,
        *,
        now: Callable[[], datetime] = utcnow,
        dry_run: bool = False,
    ) -> None:
        self.settings = settings
        self.store = store
        self.client = client
        self.now = now
        self.dry_run = dry_run
        self.report = PriceReport(started_at=now(), dry_run=dry_run)
        self.watched: list[Watched] = []
        self._prepared = False

    # -- prepare -----------------------------------------------------------------------------

    def prepare(self) -> None:
        """Refresh the item list when it is a day old and resolve every watch.

        Raises ConfigError for unknown or ambiguous items (all of them, with suggestions);
        anything else goes into ``report.error``.
        """
        self._prepared = True
        if not self.settings.contact.strip():
            self.report.warnings.append(_contact_warning())
        try:
            source = self._items()
        except OSRSApiError as exc:
            self.report.error = f"cannot resolve watched items without the item list: {exc}"
            return
        except Exception as exc:  # the store, or a bug: never stop the player pass
            log.debug("price pass: preparing failed", exc_info=True)
            self.report.error = f"preparing the price watches failed: {error_line(exc)}"
            return
        self.watched = resolve_watches(self.settings, source)

    def _items(self) -> ItemSource:
        from .item_refresh import refresh_items

        refresh = refresh_items(
            self.store, self.client, self.now(), max_age=ITEM_MAX_AGE, write=not self.dry_run
        )
        self.report.items_written = refresh.written
        if refresh.warning:
            self.report.warnings.append(refresh.warning)
        return refresh.source

    # -- run ---------------------------------------------------------------------------------

    def run(self) -> PriceReport:
        """Fetch, decide, store. Never raises for a failure of the API or the database."""
        report = self.report
        try:
            if not self._prepared:
                self.prepare()
            if report.error is None and self.watched:
                self._run()
        except OSRSApiError as exc:
            report.error = f"{error_line(exc)}; no price alerts derived this run"
        except Exception as exc:  # the store, or a bug: must not cost the player pass
            log.debug("price pass failed", exc_info=True)
            report.error = f"price pass failed: {error_line(exc)}"
        report.finished_at = self.now()
        return report

    def _run(self) -> None:
        from .store import OutboxEntry
        from .store.prices import PriceSample, PriceStore

        latest = self.client.latest()  # once, for every item
        windows = sorted({w.watch.window for w in self.watched if w.watch.change_pct is not None})
        averages = {window: self.client.averages(window) for window in windows}
        now = self.now()

        prices = PriceStore(self.store)
        stored = prices.watch_states()
        last_samples = prices.last_samples({w.item.id for w in self.watched})
        interval = self.settings.prices.interval

        results: list[WatchResult] = []
        states: dict[str, tuple[int, str]] = {}
        outbox: list[OutboxEntry] = []
        alerted: set[int] = set()
        for watched in self.watched:
            result, verdict = self._decide(watched, latest, averages, stored, now)
            results.append(result)
            if result.outcome != "no_price":
                states[watched.key] = (watched.item.id, verdict.state.to_json())
            if result.notice is not None:
                outbox.append(OutboxEntry("price", result.notice.to_json(), result.webhooks))
                alerted.add(watched.item.id)

        samples: list[PriceSample] = []
        for item_id in dict.fromkeys(w.item.id for w in self.watched):
            mine = latest.get(item_id)
            if mine is None:
                continue
            last = last_samples.get(item_id)
            previous = (last.at, last.high, last.low) if last else None
            if should_sample(previous, mine.high, mine.low, now, interval,
                             force=item_id in alerted):
                average = next(
                    (_average(averages, w.watch.window, item_id) for w in self.watched
                     if w.item.id == item_id and w.watch.window in averages), None,
                )
                samples.append(PriceSample(item_id, now, mine.high, mine.low, average))

        self.report.results = results
        if self.dry_run:
            return
        stats = prices.record_pass(
            outbox, states, samples, now, keep_only=[w.key for w in self.watched]
        )
        self.report.events_added = stats.events_added
        self.report.deliveries_added = stats.deliveries_added
        self.report.samples_added = len(samples)

    def _decide(
        self,
        watched: Watched,
        latest: dict[int, Latest],
        averages: dict[str, Averages],
        stored: Mapping[str, StoredWatch],
        now: datetime,
    ) -> tuple[WatchResult, Verdict]:
        item = watched.item
        mine = latest.get(item.id)
        price = mine.mid if mine is not None else None
        average = _average(averages, watched.watch.window, item.id)
        row = stored.get(watched.key)
        state = WatchState.from_json(row.state if row is not None else None)
        verdict = evaluate(watched.rule, state, price, average, now)
        hooks = self._routes(watched.watch)
        notice = None
        if verdict.sent is not None:
            from .notices import price_notice

            notice = price_notice(
                item, verdict.sent, watched.watch, high=mine.high if mine else None,
                low=mine.low if mine else None, average=average, now=now,
            )
        result = WatchResult(
            watched, verdict.outcome, price=price, average=average, alert=verdict.alert,
            webhooks=hooks, notice=notice,
        )
        return result, verdict

    def _routes(self, watch: WatchSettings) -> tuple[str, ...]:
        """The watch's webhooks, with a URL or not: for one without, the alert is held until
        its URL is set (every delivery run says so), never dropped."""
        hooks = self.settings.webhooks
        return tuple(n for n in watch.webhooks if n in hooks)


def _average(averages: dict[str, Averages], window: str, item_id: int) -> int | None:
    found = averages.get(window)
    if found is None:
        return None
    entry = found.items.get(item_id)
    return entry.mid if entry is not None else None


def _contact_warning() -> str:
    from .prices import CONTACT_WARNING

    return CONTACT_WARNING


# -- building and reporting -------------------------------------------------------------------


def build_price_pass(
    settings: Settings,
    store: Store,
    *,
    dry_run: bool = False,
    now: Callable[[], datetime] = utcnow,
) -> PricePass:
    """A PricePass with the Wiki client the settings describe (its own HTTP client: the Wiki's
    User-Agent with the configured contact, never the OSRS API key)."""
    from .http import HttpClient
    from .prices import PricesClient, wiki_http_config

    client = PricesClient(HttpClient(wiki_http_config(settings)), settings.prices_endpoint)
    return PricePass(settings, store, client, dry_run=dry_run, now=now)


def run_prices(
    settings: Settings, store: Store, *, dry_run: bool = False,
    now: Callable[[], datetime] = utcnow,
) -> PriceReport:
    """prepare + run in one call (for a scheduler job). A ConfigError still propagates."""
    prices = build_price_pass(settings, store, dry_run=dry_run, now=now)
    prices.prepare()
    return prices.run()


def watch_problems(
    settings: Settings, store: Store, client: PricesClient | None = None
) -> list[str]:
    """For `check`: one line per problem with the watchlist. With ``client`` the item list is
    refreshed when a day old (so the Wiki's reachability is checked too); without, the stored
    list is used, and unknown items can only be told once a poll has stored one."""
    if not settings.watch:
        return []
    from .settings import ConfigError
    from .store.prices import PriceStore

    problems = [] if settings.contact.strip() else [_contact_warning()]
    try:
        if client is not None:
            from .item_refresh import refresh_items

            refresh = refresh_items(store, client, utcnow())
            source: ItemSource = refresh.source
            if refresh.warning:
                problems.append(f"prices: {refresh.warning}")
        else:
            source = PriceStore(store).items()
            if not len(source):
                return problems
        resolve_watches(settings, source)
    except ConfigError as exc:
        problems += [p.line for p in exc.problems]
    except OSRSApiError as exc:
        problems.append(f"prices ({settings.prices_endpoint}): {exc}")
    return problems


def _fmt(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def report_lines(report: PriceReport) -> tuple[list[str], list[str]]:
    """(stdout lines, stderr lines) summing up a pass, in the style of the poll report."""
    out: list[str] = []
    err = [f"warning: {w}" for w in report.warnings]
    if report.items_written:
        out.append(f"Item list refreshed from the OSRS Wiki: {report.items_written:,} items.")
    if report.error:
        err.append(f"prices: {report.error}")
        return out, err
    order = ("alert", "cooldown", "quiet", "baseline", "no_price")
    words = {"alert": "alert", "cooldown": "held by cooldown", "quiet": "quiet",
             "baseline": "baseline", "no_price": "no price"}
    summary = ", ".join(f"{report.count(k)} {words[k]}" for k in order if report.count(k))
    verb = "Would check" if report.dry_run else "Checked"
    out.append(f"{verb} {len(report.results)} price watch(es): {summary or 'nothing'}")
    for r in report.results:
        alert = r.alert
        if alert is None or r.outcome not in ("alert", "cooldown"):
            continue
        line = (f"  {r.name}: {_fmt(alert.old)} → {_fmt(alert.new)} gp "
                f"({alert.rule} {_fmt(alert.threshold)})")
        if r.outcome == "cooldown":
            line += " — within the cooldown, not sent"
        elif report.dry_run:
            line += " — would send to " + (", ".join(repr(h) for h in r.webhooks) or "no webhook")
        elif not r.webhooks:
            line += " — no webhook takes it"
        out.append(line)
    if report.events_added:
        out.append(
            f"{report.events_added} price event(s) stored, {report.deliveries_added} webhook "
            "deliveries queued."
        )
    return out, err
