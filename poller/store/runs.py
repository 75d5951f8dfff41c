"""Run metrics in the store: one ``run`` row per poll/deliver/tick, and running totals.

A row keeps what :mod:`poller.metrics` measured as JSON (``stats`` shows recent rows). Totals
(runs, players polled, events, messages, errors...) are Prometheus counters: they must never go
down, so they are not sums over rows (old rows are pruned) but integers in ``meta`` under
``metric:<name>`` keys, each bumped by an ``UPDATE ... SET value = value + n`` that both SQLite
and PostgreSQL apply atomically, in the same transaction as the row: several processes sharing a
database count correctly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from .backend import store_errors

if TYPE_CHECKING:
    from .queries import Store

# Rows older than this are deleted as new ones arrive (the totals keep counting).
KEEP = timedelta(days=30)
TOTAL_PREFIX = "metric:"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class RunRow:
    id: int
    kind: str
    started_at: datetime
    finished_at: datetime
    host: str | None
    metrics: dict[str, Any]


_guard = store_errors(lambda log: log._store)


class RunLog:
    """``store.runs``: record runs, read them back, and the running totals."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._m = store._m
        self._sql = store._sql
        self._db = store._db

    @_guard
    def record(
        self,
        kind: str,
        started_at: datetime,
        finished_at: datetime,
        host: str | None,
        metrics: Mapping[str, Any],
        totals: Mapping[str, int] = {},  # noqa: B006 - read only
    ) -> int:
        """Insert one run and add ``totals`` (counter name → increment) in one transaction;
        prune rows older than :data:`KEEP`. Returns the run's id."""
        R = self._m.Run
        text = json.dumps(dict(metrics), separators=(",", ":"), sort_keys=True)
        with self._db.atomic():
            run_id = R.insert(
                kind=kind, started_at=started_at, finished_at=finished_at, host=host,
                metrics=text,
            ).execute()
            for name, amount in sorted(totals.items()):  # one order: no deadlock between two
                if amount:
                    self._bump(TOTAL_PREFIX + name, int(amount))
            R.delete().where(R.started_at < finished_at - KEEP).execute()
        return int(run_id)

    def _bump(self, key: str, amount: int) -> None:
        sql = self._sql
        sql.execute('INSERT INTO meta ("key", value) VALUES (?, ?) ON CONFLICT ("key") DO NOTHING',
                    (key, "0"))
        sql.execute(
            'UPDATE meta SET value = CAST(CAST(value AS BIGINT) + ? AS TEXT) WHERE "key" = ?',
            (amount, key),
        )

    @_guard
    def recent(self, limit: int = 20, kind: str | None = None) -> list[RunRow]:
        """The newest runs first."""
        R = self._m.Run
        query = R.select().order_by(R.started_at.desc(), R.id.desc()).limit(limit)
        if kind is not None:
            query = query.where(R.kind == kind)
        return [_row(r) for r in query]

    @_guard
    def latest_by_kind(self) -> dict[str, RunRow]:
        """The newest run of each kind (what the Prometheus gauges show)."""
        R = self._m.Run
        kinds = [k for (k,) in R.select(R.kind).distinct().tuples()]
        out: dict[str, RunRow] = {}
        for kind in sorted(kinds):
            row = R.select().where(R.kind == kind).order_by(
                R.started_at.desc(), R.id.desc()
            ).first()
            if row is not None:
                out[kind] = _row(row)
        return out

    @_guard
    def totals(self) -> dict[str, int]:
        """Counter name → value, for every counter ever bumped."""
        M = self._m.MetaEntry
        rows = M.select(M.key, M.value).where(M.key.startswith(TOTAL_PREFIX)).tuples()
        out: dict[str, int] = {}
        for key, value in rows:
            try:
                out[key[len(TOTAL_PREFIX):]] = int(value)
            except ValueError:
                continue
        return out


def _row(r: Any) -> RunRow:
    try:
        metrics = json.loads(r.metrics)
    except ValueError:
        metrics = {}
    return RunRow(r.id, r.kind, r.started_at, r.finished_at, r.host, metrics)
