"""`osrs-notify price ITEM`: an item's Grand Exchange price (no config needed), as a table or JSON.

Importing this module costs only click: :mod:`poller.cli` registers the command at import.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING

import click

from .context import EXIT_PARTIAL, Context, UserError, http_config

if TYPE_CHECKING:
    from ..items import ItemInfo
    from ..prices import Latest, OfficialGEClient, OfficialPrice
    from ..quote import Quote
    from ..settings import Settings
    from ..store import Store

# -- price ---------------------------------------------------------------------------------------


@click.command()
@click.argument("item")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.pass_obj
def price(obj: Context, item: str, as_json: bool) -> None:
    """Show an item's Grand Exchange price from the OSRS Wiki (no config needed).

    ITEM is a name (any case; a typo gets suggestions) or an item id. Shows the instant-buy
    and instant-sell prices with their age, the margin after the 2% GE tax (at most 5M per
    item; none under 50 gp or on bonds), the buy limit, high alch value and alch profit (with
    a nature rune), and the value in Old school bonds. When the Wiki is down, the official GE
    guide price is shown instead. Exit 2 for an unknown item, 1 when no price could be had.

    \b
    Example:
      osrs-notify price "twisted bow"
      osrs-notify price 13190 --json
    """
    from ..clock import utcnow
    from ..errors import OSRSApiError
    from ..http import HttpClient
    from ..item_refresh import refresh_items
    from ..items import AmbiguousItem, UnknownItem, parse_item_query, resolve
    from ..prices import CONTACT_WARNING, PricesClient, wiki_http_config
    from ..quote import quote_item

    query = parse_item_query(item)
    if query == "":
        raise UserError("ITEM is empty: give an item name or id")
    settings = obj.settings_or_defaults()
    if obj.has_config() and not settings.contact.strip():
        click.echo(f"warning: {CONTACT_WARNING}", err=True)
    wiki = PricesClient(HttpClient(wiki_http_config(settings)), settings.prices_endpoint)
    now = utcnow()

    store = _open_store(settings)
    try:
        info: ItemInfo | None = None
        wiki_error: OSRSApiError | None = None
        try:
            refresh = refresh_items(store, wiki, now)
        except OSRSApiError as exc:
            wiki_error = exc
        else:
            if refresh.warning:
                click.echo(f"warning: {refresh.warning}", err=True)
            try:
                info = resolve(refresh.source, query)
            except (UnknownItem, AmbiguousItem) as exc:
                raise UserError(str(exc)) from exc
    finally:
        store.close()

    if wiki_error is None:
        try:
            latest = wiki.latest()
        except OSRSApiError as exc:
            wiki_error = exc
        else:
            assert info is not None
            quote = quote_item(info, latest)
            if as_json:
                click.echo(json.dumps(quote_json(quote, now), indent=2))
            else:
                print_quote(quote, now)
            return

    # The Wiki is down: the official GE guide price, if we know the item's id.
    item_id = info.id if info is not None else query if isinstance(query, int) else None
    if item_id is None:
        click.echo(
            f"error: {wiki_error}; without the Wiki's item list a name cannot be looked up "
            "(give the item id to get the official GE guide price)",
            err=True,
        )
        sys.exit(EXIT_PARTIAL)
    try:
        official = _official(settings).detail(item_id)
    except OSRSApiError as exc:
        click.echo(f"error: {wiki_error}; {exc}", err=True)
        sys.exit(EXIT_PARTIAL)
    click.echo(f"warning: {wiki_error}; showing the official GE guide price", err=True)
    if as_json:
        click.echo(json.dumps(official_json(official, info, str(wiki_error)), indent=2))
    else:
        print_official(official, info)


def _open_store(settings: Settings) -> Store:
    """The configured database (its item list saves a 700 KB download a day); in memory when
    there is no config, or when the database cannot be opened — a price needs no history."""
    from ..store import StoreError, open_store

    try:
        return open_store(settings.database_url)
    except StoreError as exc:
        click.echo(f"warning: {exc}; item list kept in memory for this lookup", err=True)
        return open_store("sqlite:///:memory:")


def _official(settings: Settings) -> OfficialGEClient:
    from ..http import HttpClient
    from ..prices import OfficialGEClient

    # Jagex's servers, like the hiscores: the same HTTP settings (and API key) as the hiscores.
    return OfficialGEClient(HttpClient(http_config(settings)), settings.api_endpoint)


# -- output --------------------------------------------------------------------------------------


def _age(when: datetime | None, now: datetime) -> int | None:
    return None if when is None else max(0, int((now - when).total_seconds()))


def fmt_age(seconds: int | None) -> str:
    if seconds is None:
        return "never traded"
    if seconds < 60:
        return "just now" if seconds < 5 else f"{seconds}s ago"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min ago"
    hours = minutes // 60
    if hours < 48:
        rest = minutes % 60
        return f"{hours}h {rest:02d}m ago" if rest else f"{hours}h ago"
    return f"{hours // 24} days ago"


def _side(value: int | None, when: datetime | None, now: datetime) -> dict[str, object]:
    return {
        "price": value,
        "time": when.isoformat() if when else None,
        "age_seconds": _age(when, now) if value is not None else None,
    }


def _item_json(info: ItemInfo) -> dict[str, object]:
    return {
        "id": info.id, "name": info.name, "members": info.members, "examine": info.examine,
        "buy_limit": info.limit, "value": info.value, "high_alch": info.highalch,
        "low_alch": info.lowalch, "icon_url": info.icon_url, "url": info.page_url,
    }


def quote_json(quote: Quote, now: datetime) -> dict[str, object]:
    latest: Latest = quote.latest
    return {
        "source": "wiki",
        "item": _item_json(quote.item),
        "instant_buy": _side(latest.high, latest.high_time, now),
        "instant_sell": _side(latest.low, latest.low_time, now),
        "margin": quote.margin,
        "tax": quote.tax,
        "margin_after_tax": quote.margin_after_tax,
        "buy_limit": quote.item.limit,
        "high_alch": quote.item.highalch,
        "nature_rune": quote.nature_rune,
        "alch_profit": quote.alch_profit,
        "bond_price": quote.bond_price,
        "value_in_bonds": (
            round(quote.value_in_bonds, 3) if quote.value_in_bonds is not None else None
        ),
    }


def official_json(
    official: OfficialPrice, info: ItemInfo | None, wiki_error: str
) -> dict[str, object]:
    item = _item_json(info) if info is not None else {
        "id": official.id, "name": official.name, "members": official.members,
    }
    return {
        "source": "official",
        "item": item,
        "guide_price": official.price,
        "today_change": official.today_change,
        "approximate": official.approximate,
        "wiki_error": wiki_error,
    }


def _gp(value: int | None) -> str:
    return "?" if value is None else f"{value:,} gp"


def print_quote(quote: Quote, now: datetime) -> None:
    item, latest = quote.item, quote.latest
    rows: list[tuple[str, str]] = [
        ("Instant buy", f"{_gp(latest.high)}  ({fmt_age(_age(latest.high_time, now))})"),
        ("Instant sell", f"{_gp(latest.low)}  ({fmt_age(_age(latest.low_time, now))})"),
    ]
    if quote.margin is not None:
        tax = "no tax" if not quote.tax else f"{_gp(quote.tax)} tax"
        rows.append(("Margin", f"{_gp(quote.margin)}; after {tax}: {_gp(quote.margin_after_tax)}"))
    else:
        rows.append(("Margin", "? (a side has no trades)"))
    rows.append(("Buy limit", f"{item.limit:,} per 4 hours" if item.limit is not None else "?"))
    if item.highalch is not None:
        profit = "?"
        if quote.alch_profit is not None:
            profit = f"{_gp(quote.alch_profit)} (nature rune {_gp(quote.nature_rune)})"
        rows.append(("High alch", f"{_gp(item.highalch)}; profit {profit}"))
    else:
        rows.append(("High alch", "cannot be alched"))
    if quote.value_in_bonds is not None:
        rows.append(("Value in bonds",
                     f"{quote.value_in_bonds:,.2f} (bond {_gp(quote.bond_price)})"))
    else:
        rows.append(("Value in bonds", "?"))
    kind = "members" if item.members else "free-to-play"
    click.echo(f"{item.name} (item {item.id}, {kind})")
    width = max(len(label) for label, _ in rows) + 2
    for label, value in rows:
        click.echo(f"  {label + ':':<{width}}{value}")
    click.echo(f"  {item.page_url}")


def print_official(official: OfficialPrice, info: ItemInfo | None) -> None:
    name = info.name if info is not None else official.name
    about = "≈ " if official.approximate else ""
    click.echo(f"{name} (item {official.id}) — official GE guide price")
    click.echo(f"  Guide price:   {about}{_gp(official.price)}")
    if official.today_change is not None:
        click.echo(f"  Today:         {official.today_change:+,} gp")
    if info is not None and info.limit is not None:
        click.echo(f"  Buy limit:     {info.limit:,} per 4 hours")
