"""The figures of ``price ITEM``, pure: the GE tax, the margin, alch profit, value in bonds.

Computed from one ``/latest`` (:class:`poller.prices.Latest`) and the item's ``/mapping``
entry; nothing here touches the network.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from .items import BOND_ID, NATURE_RUNE_ID, ItemInfo
from .prices import Latest

GE_TAX_RATE_PCT = 2
GE_TAX_CAP = 5_000_000  # per item
GE_TAX_FREE_BELOW = 50  # gp: 2% of 49 rounds down to 0 — stated, not left to arithmetic
GE_TAX_EXEMPT: frozenset[int] = frozenset({BOND_ID})


def ge_tax(price: int, item_id: int | None = None) -> int:
    """The GE tax on selling one item at ``price``: 2%, rounded down, at most 5M per item;
    none under 50 gp, none on Old school bonds."""
    if price < GE_TAX_FREE_BELOW or item_id in GE_TAX_EXEMPT:
        return 0
    return min(price * GE_TAX_RATE_PCT // 100, GE_TAX_CAP)


@dataclass(frozen=True, slots=True)
class Quote:
    """Everything `price ITEM` shows, computed from one ``/latest``."""

    item: ItemInfo
    latest: Latest
    margin: int | None  # instant-buy − instant-sell
    tax: int | None  # on selling at the instant-buy price
    margin_after_tax: int | None
    nature_rune: int | None
    alch_profit: int | None  # high alch − instant-buy price − a nature rune
    bond_price: int | None
    value_in_bonds: float | None  # what selling one (at instant-sell, after tax) buys in bonds


def quote_item(item: ItemInfo, latest: Mapping[int, Latest]) -> Quote:
    """Margin: buy at the instant-sell price (``low``), sell at the instant-buy price
    (``high``), pay the tax on that sale. Alch profit: buy at ``high`` (instantly), cast with a
    nature rune bought at its ``high``. Value in bonds: selling at ``low`` after tax, divided by
    a bond's ``high``."""
    mine = latest.get(item.id, Latest())
    high, low = mine.high, mine.low
    margin = tax = after_tax = None
    if high is not None and low is not None:
        margin = high - low
        tax = ge_tax(high, item.id)
        after_tax = margin - tax
    nature = latest.get(NATURE_RUNE_ID, Latest()).high
    alch = None
    if item.highalch is not None and high is not None and nature is not None:
        alch = item.highalch - high - nature
    bond = latest.get(BOND_ID, Latest()).high
    bonds = None
    if low is not None and bond:
        bonds = (low - ge_tax(low, item.id)) / bond
        if item.id == BOND_ID:
            bonds = 1.0
        if not math.isfinite(bonds):
            bonds = None
    return Quote(
        item=item, latest=mine, margin=margin, tax=tax, margin_after_tax=after_tax,
        nature_rune=nature, alch_profit=alch, bond_price=bond, value_in_bonds=bonds,
    )
