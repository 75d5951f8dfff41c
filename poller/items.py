"""The item database: what the OSRS Wiki's ``/mapping`` says about every tradeable item, and
finding an item the way people type it — by id, or by name in any case, with "did you mean"
suggestions for a typo.

Two sources answer the same questions (:class:`ItemSource`): :class:`MemoryItems` (a list
parsed from ``/mapping``, for a dry run or a store that cannot be written) and the store's item
table (:class:`poller.store.prices.StoredItems`), which
:func:`poller.item_refresh.refresh_items` keeps no older than a day. Nothing here touches the
network or the database, and nothing here imports either: the prices client and the store's
price repository build on these values, never the other way round.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from .wiki import image_url, item_page_url

BOND_ID = 13190
NATURE_RUNE_ID = 561
ITEM_MAX_AGE = timedelta(days=1)  # /mapping changes when Jagex releases items: daily is plenty

_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class ItemInfo:
    """One ``/mapping`` entry. ``limit`` (the GE buy limit per 4 hours) and the alch values are
    missing for some items (the bond has no alch values): None, never zero."""

    id: int
    name: str
    members: bool = False
    limit: int | None = None
    value: int | None = None
    highalch: int | None = None
    lowalch: int | None = None
    icon: str | None = None
    examine: str | None = None

    @property
    def key(self) -> str:
        return name_key(self.name)

    @property
    def icon_url(self) -> str | None:
        return icon_url(self.icon)

    @property
    def page_url(self) -> str:
        return item_page_url(self.id)


def name_key(name: str) -> str:
    """How two item names are compared: case, runs of spaces and curly apostrophes ignored."""
    return _SPACES.sub(" ", name.replace("\u2019", "'").casefold()).strip()


def icon_url(icon: str | None) -> str | None:
    """``"Twisted bow.png"`` → https://oldschool.runescape.wiki/images/Twisted_bow.png."""
    if not icon or not icon.strip():
        return None
    return image_url(icon)


# -- lookup ---------------------------------------------------------------------------------------


class ItemSource(Protocol):
    """What lookup needs; both the store's item table and an in-memory list provide it."""

    def item(self, item_id: int) -> ItemInfo | None: ...

    def items_named(self, key: str) -> list[ItemInfo]: ...

    def names(self) -> list[str]: ...

    def __len__(self) -> int: ...


class MemoryItems:
    """Items held in memory, indexed by id and by :func:`name_key`."""

    def __init__(self, items: Iterable[ItemInfo]) -> None:
        self._by_id: dict[int, ItemInfo] = {}
        self._by_key: dict[str, list[ItemInfo]] = {}
        for item in items:
            self._by_id[item.id] = item
        for item in sorted(self._by_id.values(), key=lambda i: i.id):
            self._by_key.setdefault(item.key, []).append(item)

    def item(self, item_id: int) -> ItemInfo | None:
        return self._by_id.get(item_id)

    def items_named(self, key: str) -> list[ItemInfo]:
        return list(self._by_key.get(key, ()))

    def names(self) -> list[str]:
        return [items[0].name for items in self._by_key.values()]

    def __len__(self) -> int:
        return len(self._by_id)


class UnknownItem(LookupError):
    """No item matches; ``suggestions`` are the closest names (maybe none)."""

    def __init__(self, query: str | int, suggestions: Sequence[str] = ()) -> None:
        self.query = query
        self.suggestions = tuple(suggestions)
        if isinstance(query, int):
            text = f"no item with id {query} in the OSRS Wiki's item list"
        else:
            text = f"no item named {query!r}"
        if self.suggestions:
            text += "; did you mean " + ", ".join(repr(s) for s in self.suggestions) + "?"
        elif not isinstance(query, int):
            text += " (names as on the Grand Exchange, e.g. 'Twisted bow', or an item id)"
        super().__init__(text)


class AmbiguousItem(LookupError):
    """Several items share the name (the Wiki lists a few such pairs): ask for the id."""

    def __init__(self, query: str, items: Sequence[ItemInfo]) -> None:
        self.query = query
        self.items = tuple(items)
        ids = ", ".join(str(i.id) for i in items)
        super().__init__(f"{len(items)} items are named {query!r} (ids {ids}): use the id")


def parse_item_query(query: str | int) -> str | int:
    """An int, or a string of digits (``"13190"``), is an id; anything else a name."""
    if isinstance(query, int) and not isinstance(query, bool):
        return query
    text = str(query).strip()
    return int(text) if text.isdigit() else text


def resolve(source: ItemSource, query: str | int) -> ItemInfo:
    """The one item ``query`` means. Raises :class:`UnknownItem` (with suggestions) or
    :class:`AmbiguousItem`."""
    query = parse_item_query(query)
    if isinstance(query, int):
        item = source.item(query)
        if item is None:
            raise UnknownItem(query)
        return item
    found = source.items_named(name_key(query))
    if len(found) == 1:
        return found[0]
    if found:
        raise AmbiguousItem(query, found)
    raise UnknownItem(query, suggest(query, source.names()))


def suggest(word: str, names: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` names close to ``word``: spelling slips first, then names containing it
    ("whip" → "Abyssal whip"), shortest first. Only ever called on the error path."""
    import difflib  # not on the happy path: every cron start would pay for it

    by_key: dict[str, str] = {}
    for name in names:
        by_key.setdefault(name_key(name), name)
    needle = name_key(word)
    if not needle:
        return []
    found = [by_key[k] for k in difflib.get_close_matches(needle, by_key, n=n, cutoff=0.75)]
    if len(needle) >= 3 and len(found) < n:
        words = [k for k in by_key if needle in k and by_key[k] not in found]
        words.sort(key=lambda k: (not k.startswith(needle), len(k), k))
        found += [by_key[k] for k in words[: n - len(found)]]
    if len(found) < n:
        for k in difflib.get_close_matches(needle, by_key, n=n, cutoff=0.6):
            if by_key[k] not in found and len(found) < n:
                found.append(by_key[k])
    return found[:n]
