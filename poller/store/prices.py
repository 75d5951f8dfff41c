"""The store's Grand Exchange tables: the item list, price samples and watch states.

    prices = PriceStore(store)
    prices.replace_items(items, now)             # the whole /mapping, one transaction
    source = prices.items()                      # lookup by id / name (poller.items.ItemSource)
    prices.record_pass(outbox, states, samples, now)   # one transaction for a whole price pass

Tables come from schema v3 (see :mod:`.migrations`). Like the rest of the
store, every database failure leaves a public method as a one-line :class:`StoreError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..items import ItemInfo
from . import meta
from .db import Db, HasDb, chunks, guarded
from .orm import pw
from .outbox import record_events
from .values import OutboxEntry, RecordStats, StoreError

ITEMS_REFRESHED_KEY = "items_refreshed_at"


@dataclass(frozen=True, slots=True)
class PriceSample:
    item_id: int
    at: datetime
    high: int | None
    low: int | None
    average: int | None


@dataclass(frozen=True, slots=True)
class StoredWatch:
    key: str
    item_id: int
    state: str  # JSON of poller.alerts.WatchState
    updated_at: datetime


class StoredItems:
    """The item table as an :class:`poller.items.ItemSource`: lookups are indexed queries; all
    names are read only for suggestions, on the error path."""

    def __init__(self, prices: PriceStore) -> None:
        self._prices = prices
        self._count: int | None = None

    def item(self, item_id: int) -> ItemInfo | None:
        return self._prices.item(item_id)

    def items_named(self, key: str) -> list[ItemInfo]:
        return self._prices.items_named(key)

    def names(self) -> list[str]:
        return self._prices.item_names()

    def __len__(self) -> int:
        if self._count is None:
            self._count = self._prices.item_count()
        return self._count


class PriceStore:
    """Grand Exchange reads and writes on an open :class:`~poller.store.Store` (or anything
    else holding a :class:`~.db.Db`)."""

    def __init__(self, store: HasDb) -> None:
        self.db: Db = store.db

    # -- items -------------------------------------------------------------------------------

    @staticmethod
    def _item(row: Sequence[Any]) -> ItemInfo:
        item_id, name, members, limit, value, high, low, icon, examine = row
        return ItemInfo(
            id=item_id, name=name, members=bool(members), limit=limit, value=value,
            highalch=high, lowalch=low, icon=icon, examine=examine,
        )

    def _item_query(self) -> Any:
        I = self.db.models.Item  # noqa: E741 - the model's name
        return I.select(
            I.id, I.name, I.members, I.buy_limit, I.value, I.highalch, I.lowalch, I.icon,
            I.examine,
        )

    def items(self) -> StoredItems:
        return StoredItems(self)

    @guarded
    def item(self, item_id: int) -> ItemInfo | None:
        row = self._item_query().where(self.db.models.Item.id == item_id).tuples().first()
        return None if row is None else self._item(row)

    @guarded
    def items_named(self, key: str) -> list[ItemInfo]:
        I = self.db.models.Item  # noqa: E741
        query = self._item_query().where(I.name_key == key).order_by(I.id).tuples()
        return [self._item(r) for r in query]

    @guarded
    def item_names(self) -> list[str]:
        I = self.db.models.Item  # noqa: E741
        return [name for (name,) in I.select(I.name).order_by(I.id).tuples()]

    @guarded
    def item_count(self) -> int:
        return int(self.db.models.Item.select().count())

    @guarded
    def all_items(self) -> list[ItemInfo]:
        return [self._item(r) for r in self._item_query().order_by(self.db.models.Item.id).tuples()]

    @guarded
    def items_refreshed_at(self) -> datetime | None:
        text = meta.get(self.db, ITEMS_REFRESHED_KEY)
        if not text:
            return None
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            return None

    @guarded
    def replace_items(self, items: Iterable[ItemInfo], now: datetime) -> int:
        """The whole item table replaced by ``items`` in one transaction (a later duplicate id
        wins). Returns the number of items now stored."""
        from ..items import name_key

        unique = {item.id: item for item in items}
        at = self.db.t(now)
        rows = [
            (i.id, i.name, name_key(i.name), i.members, i.limit, i.value, i.highalch, i.lowalch,
             i.icon, i.examine, at)
            for i in sorted(unique.values(), key=lambda i: i.id)
        ]
        with self.db.atomic():
            self.db.execute("DELETE FROM item")
            for chunk in chunks(rows):
                self.db.many(
                    "INSERT INTO item (id, name, name_key, members, buy_limit, value, highalch, "
                    "lowalch, icon, examine, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    chunk, insert=True,
                )
            meta.put(self.db, ITEMS_REFRESHED_KEY, now.isoformat())
        return len(rows)

    # -- watch states and samples ------------------------------------------------------------

    @guarded
    def watch_states(self) -> dict[str, StoredWatch]:
        W = self.db.models.WatchState
        return {
            key: StoredWatch(key, item_id, state, updated)
            for key, item_id, state, updated in W.select(
                W.key, W.item_id, W.state, W.updated_at
            ).tuples()
        }

    @guarded
    def last_samples(self, item_ids: Iterable[int]) -> dict[int, PriceSample]:
        """Each item's newest sample (items never sampled are absent)."""
        S = self.db.models.PriceSample
        out: dict[int, PriceSample] = {}
        for chunk in chunks(sorted(set(item_ids))):
            newest = (
                S.select(S.item_id, pw.fn.MAX(S.id).alias("last"))
                .where(S.item_id.in_(chunk))
                .group_by(S.item_id)
            )
            query = (
                S.select(S.item_id, S.at, S.high, S.low, S.average)
                .join(newest, on=(S.id == newest.c.last))
                .tuples()
            )
            for item_id, at, high, low, average in query:
                out[item_id] = PriceSample(item_id, at, high, low, average)
        return out

    @guarded
    def samples(
        self, item_id: int, since: datetime | None = None, limit: int | None = None
    ) -> list[PriceSample]:
        """An item's kept samples, oldest first (the newest ``limit`` when given)."""
        S = self.db.models.PriceSample
        query = S.select(S.item_id, S.at, S.high, S.low, S.average).where(S.item_id == item_id)
        if since is not None:
            query = query.where(S.at >= since)
        query = query.order_by(S.at.desc(), S.id.desc())
        if limit is not None:
            query = query.limit(limit)
        rows = [PriceSample(*r) for r in query.tuples()]
        rows.reverse()
        return rows

    @guarded
    def record_pass(
        self,
        outbox: Sequence[OutboxEntry],
        states: Mapping[str, tuple[int, str]],
        samples: Sequence[PriceSample],
        now: datetime,
        *,
        keep_only: Iterable[str] | None = None,
    ) -> RecordStats:
        """One price pass in ONE transaction: price events with their pending deliveries, the
        new watch states (key → (item id, state JSON)), and the samples kept.

        ``keep_only``: the keys of every configured watch; other states (watches removed or
        changed in the config) are deleted. Any error rolls the whole pass back.
        """
        W, S = self.db.models.WatchState, self.db.models.PriceSample
        with self.db.atomic():
            stats = record_events(self.db, outbox, now) if outbox else RecordStats()
            for key, (item_id, state) in states.items():
                changed = (
                    W.update(item_id=item_id, state=state, updated_at=now)
                    .where(W.key == key)
                    .execute()
                )
                if not changed:
                    W.insert(key=key, item_id=item_id, state=state, updated_at=now).execute()
            if keep_only is not None:
                keep = set(keep_only)
                stale = [k for (k,) in W.select(W.key).tuples() if k not in keep]
                for chunk in chunks(stale):
                    W.delete().where(W.key.in_(chunk)).execute()
            if samples:
                for chunk in chunks(list(samples)):
                    S.insert_many(
                        [(s.item_id, s.at, s.high, s.low, s.average) for s in chunk],
                        fields=[S.item_id, S.at, S.high, S.low, S.average],
                    ).execute()
        return stats

    @guarded
    def counts(self) -> dict[str, int]:
        return self.db.count_rows(("item", "price_sample", "watch_state"))


__all__ = ["PriceSample", "PriceStore", "StoredItems", "StoredWatch", "StoreError"]
