"""Recording runs: each run's metrics stored, handed to a sink, and exported; read back.

Every run is recorded the same way, whoever ran it (`poll`, `deliver`, a `run` tick):

    metrics = record_run(store, "poll", report=report, delivery=delivery,
                         http=client.take_stats(reset=True), redis=layer, metrics_file=path)

:func:`record_run` measures the run (:func:`poller.metrics.collect`), stores one ``run`` row
with the measurements (``stats`` reads them), adds to the running totals (Prometheus counters),
hands a summary to ``redis`` (anything with the :class:`SummarySink` methods; the Redis layer
publishes it on ``{prefix}:updates``), and rewrites ``metrics_file`` in the Prometheus text
format for node_exporter's textfile collector. Each of those steps is best effort: a metrics
problem is logged and never fails the run it measures.

This module imports neither the Redis layer nor Redis (the sink is a protocol), and the Redis
layer publishes a plain mapping without knowing this module.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from .clock import utcnow
from .metrics import RunMetrics, as_list, collect
from .prometheus import render_prometheus, write_text_atomically

if TYPE_CHECKING:
    from .deliver import DeliveryReport
    from .http import HttpStats
    from .pipeline import RunReport
    from .store import Store

# The metrics module's logger: these lines are about run metrics, wherever the code lives.
log = logging.getLogger("osrs_notify.metrics")


class SummarySink(Protocol):
    """Where a run's summary goes besides the store: in practice the Redis layer, which
    matches this structurally. Its outages since the last run are an input (counted as
    ``redis`` errors); the summary is an output, handed over as plain data."""

    def take_failures(self) -> int: ...

    def publish_summary(self, summary: Mapping[str, Any]) -> bool: ...


def record_run(
    store: Store,
    kind: str,
    *,
    report: RunReport | Sequence[RunReport] | None = None,
    delivery: DeliveryReport | Sequence[DeliveryReport] | None = None,
    http: HttpStats | None = None,
    started: datetime | None = None,
    finished: datetime | None = None,
    redis: SummarySink | None = None,
    metrics_file: str | os.PathLike[str] | None = None,
    extra_events: int = 0,
    extra_errors: Mapping[str, int] | None = None,
    prices: Any = None,
) -> RunMetrics:
    """Measure, store, publish and export one run; never raises for a metrics problem.

    ``kind`` names the run (``poll``, ``deliver``, or a scheduler job such as ``hiscores``,
    ``prices``); ``extra_events``/``extra_errors`` let a pass this module does not know (price
    alerts, see ``prices``) add its numbers. A dry run is measured but not stored.
    """
    from .store import StoreError

    if redis is not None:
        failures = redis.take_failures()
        if failures:
            extra_errors = {**(extra_errors or {}), "redis": failures}
    metrics = collect(
        kind, report=report, delivery=delivery, http=http, started=started, finished=finished,
        extra_events=extra_events, extra_errors=extra_errors, prices=prices,
    )
    if any(r.dry_run for r in as_list(report)):
        return metrics
    try:
        run_id = store.runs.record(
            kind, metrics.started_at, metrics.finished_at, metrics.host, metrics.to_json(),
            metrics.totals(),
        )
        metrics = dataclasses.replace(metrics, id=run_id)
    except StoreError as exc:
        log.warning("run metrics not stored: %s", exc)
    if redis is not None:
        redis.publish_summary(metrics.as_dict())
    if metrics_file is not None:
        export(store, metrics_file, fallback=metrics)
    return metrics


# -- reading back ---------------------------------------------------------------------------------


def recent(store: Store, limit: int = 20, kind: str | None = None) -> list[RunMetrics]:
    return [
        RunMetrics.from_row(r.kind, r.started_at, r.finished_at, r.host, r.metrics, r.id)
        for r in store.runs.recent(limit, kind)
    ]


def requests_last_hour(store: Store, now: datetime) -> int:
    """Hiscores requests that went to the network in the hour before ``now``, every run and
    every process sharing the database counted (what the polling budget is measured in)."""
    return sum(
        RunMetrics.from_row(r.kind, r.started_at, r.finished_at, r.host, r.metrics).api_requests
        for r in store.runs.since(now - timedelta(hours=1))
    )


def latest(store: Store) -> dict[str, RunMetrics]:
    return {
        kind: RunMetrics.from_row(r.kind, r.started_at, r.finished_at, r.host, r.metrics, r.id)
        for kind, r in store.runs.latest_by_kind().items()
    }


def export(
    store: Store, path: str | os.PathLike[str], *, fallback: RunMetrics | None = None
) -> bool:
    """Rewrite ``path`` from the store (the last run of each kind, and the totals). When the
    store cannot be read, ``fallback`` alone is written. Returns whether a file was written."""
    from .store import StoreError

    try:
        runs, totals = latest(store), store.runs.totals()
        hourly: int | None = requests_last_hour(store, utcnow())
    except StoreError as exc:
        if fallback is None:
            log.warning("metrics file %s not written: %s", os.fspath(path), exc)
            return False
        runs, totals, hourly = {fallback.kind: fallback}, {}, None
    try:
        text = render_prometheus(runs, totals, requests_last_hour=hourly)
    except ImportError as exc:
        # A declared dependency, yet an environment put together without it must still finish
        # the run it measures (the run is stored; `stats` shows it).
        log.warning("metrics file %s not written: prometheus_client is not installed (%s)",
                    os.fspath(path), exc)
        return False
    try:
        write_text_atomically(path, text)
    except OSError as exc:
        log.warning("metrics file %s not written: %s", os.fspath(path), exc.strerror or exc)
        return False
    return True
