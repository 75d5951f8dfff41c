"""The store's item table, kept no older than a day from the Wiki's ``/mapping``.

Apart from :mod:`poller.items` because this is where the item values meet the network client
and the store's price repository; both of those import :mod:`poller.items`, so keeping the
refresh there made a cycle.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .errors import OSRSApiError
from .items import ITEM_MAX_AGE, ItemSource, MemoryItems
from .store.prices import PriceStore

if TYPE_CHECKING:
    from .prices import PricesClient
    from .store import Store

# The item module's logger: the line is about the item list, wherever the code lives.
log = logging.getLogger("osrs_notify.items")


@dataclass(frozen=True, slots=True)
class Refresh:
    """What :func:`refresh_items` did: the source to look items up in, how many items were
    written (0 = the table was fresh enough), and a warning when a refresh failed but a
    stored list could be used instead."""

    source: ItemSource
    written: int = 0
    warning: str | None = None


def refresh_items(
    store: Store,
    client: PricesClient,
    now: datetime,
    *,
    max_age: timedelta = ITEM_MAX_AGE,
    write: bool = True,
) -> Refresh:
    """The store's item table, refreshed from ``/mapping`` when empty or older than
    ``max_age``.

    ``write=False`` (a dry run) never writes: a stale table is replaced by the fetched list in
    memory. When ``/mapping`` fails, a stored table of any age is used with a warning; with no
    stored table the error (an :class:`~poller.errors.OSRSApiError`) propagates.
    """
    prices = PriceStore(store)
    stored = prices.items()
    refreshed_at = prices.items_refreshed_at()
    if refreshed_at is not None and len(stored) and now - refreshed_at < max_age:
        return Refresh(stored)
    try:
        mapping = client.mapping()
    except OSRSApiError as exc:
        if not len(stored):
            raise
        when = f"{refreshed_at:%Y-%m-%d %H:%M} UTC" if refreshed_at else "an earlier run"
        warning = f"item list not refreshed ({exc}); using the one from {when}"
        return Refresh(stored, warning=warning)
    if not write:
        return Refresh(MemoryItems(mapping))
    written = prices.replace_items(mapping, now)
    log.info("item list refreshed from /mapping: %d items", written)
    return Refresh(prices.items(), written=written)
