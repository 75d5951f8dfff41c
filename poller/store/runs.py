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
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from . import meta
from .db import Db, guarded

# Rows older than this are deleted as new ones arrive (the totals keep counting).
KEEP = timedelta(days=30)
TOTAL_PREFIX = "metric:"


@dataclass(frozen=True, slots=True)
class RunRow:
    id: int
    kind: str
    started_at: datetime
    finished_at: datetime
    host: str | None
    metrics: dict[str, Any]


class RunLog:
    """``store.runs``: record runs, read them back, and the running totals."""

    def __init__(self, db: Db) -> None:
        self.db = db

    @guarded
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
        R = self.db.models.Run
        text = json.dumps(dict(metrics), separators=(",", ":"), sort_keys=True)
        with self.db.atomic():
            run_id = R.insert(
                kind=kind, started_at=started_at, finished_at=finished_at, host=host,
                metrics=text,
            ).execute()
            for name, amount in sorted(totals.items()):  # one order: no deadlock between two
                if amount:
                    meta.bump(self.db, TOTAL_PREFIX + name, int(amount))
            R.delete().where(R.started_at < finished_at - KEEP).execute()
        return int(run_id)

    @guarded
    def recent(self, limit: int = 20, kind: str | None = None) -> list[RunRow]:
        """The newest runs first."""
        R = self.db.models.Run
        query = R.select().order_by(R.started_at.desc(), R.id.desc()).limit(limit)
        if kind is not None:
            query = query.where(R.kind == kind)
        return [_row(r) for r in query]

    @guarded
    def since(self, start: datetime) -> list[RunRow]:
        """The runs that started at or after ``start``, oldest first."""
        R = self.db.models.Run
        query = R.select().where(R.started_at >= start).order_by(R.started_at, R.id)
        return [_row(r) for r in query]

    @guarded
    def latest_by_kind(self) -> dict[str, RunRow]:
        """The newest run of each kind (what the Prometheus gauges show)."""
        R = self.db.models.Run
        kinds = [k for (k,) in R.select(R.kind).distinct().tuples()]
        out: dict[str, RunRow] = {}
        for kind in sorted(kinds):
            row = R.select().where(R.kind == kind).order_by(
                R.started_at.desc(), R.id.desc()
            ).first()
            if row is not None:
                out[kind] = _row(row)
        return out

    @guarded
    def totals(self) -> dict[str, int]:
        """Counter name → value, for every counter ever bumped."""
        M = self.db.models.MetaEntry
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
