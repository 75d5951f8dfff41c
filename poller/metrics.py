"""Run metrics: what each poll, delivery or scheduler tick did, stored, shown and exported.

Every run is measured the same way, whoever ran it (`poll`, `deliver`, a `run` tick):

    metrics = record_run(store, "poll", report=report, delivery=delivery,
                         http=client.take_stats(reset=True), redis=layer, metrics_file=path)

:func:`record_run` stores one ``run`` row with the measurements (``stats`` reads them), adds to
the running totals (Prometheus counters), hands a summary to ``redis`` (anything with the
:class:`SummarySink` methods; the Redis layer publishes it on ``{prefix}:updates``), and rewrites
``metrics_file`` in the Prometheus text format for node_exporter's textfile collector. Each of
those steps is best effort: a metrics problem is logged and never fails the run it measures.

Data flows one way: reports → metrics → sinks. This module imports neither the Redis layer nor
Redis (the sink is a protocol), and the Redis layer publishes a plain mapping without knowing
this module.

Top-level imports are the standard library only: this module is on the cron path.
``prometheus_client`` is imported only when a metrics file is written.
"""

from __future__ import annotations

import logging
import math
import os
import re
import socket
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from .deliver import DeliveryReport
    from .http import HttpStats
    from .pipeline import RunReport
    from .store import Store

log = logging.getLogger("osrs_notify.metrics")

PREFIX = "osrs_notify_"
QUANTILES = (0.5, 0.95)
_KIND = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# Player outcomes that are failures of some kind, counted under errors too.
PLAYER_ERRORS = ("unavailable", "invalid", "not_found")


def percentile(values: Iterable[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) with linear interpolation between closest ranks (numpy's
    default); None for no values."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile must be within 0..1, got {q}")
    xs = sorted(values)
    if not xs:
        return None
    pos = (len(xs) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


@dataclass(frozen=True, slots=True)
class Summary:
    """Latency of a run: p50/p95 in seconds, and the sum and count Prometheus summaries need."""

    p50: float | None = None
    p95: float | None = None
    sum: float = 0.0
    count: int = 0

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        if not values:
            return cls()
        return cls(
            p50=_round(percentile(values, 0.5)),
            p95=_round(percentile(values, 0.95)),
            sum=_round(math.fsum(values)) or 0.0,
            count=len(values),
        )

    def to_json(self) -> dict[str, Any]:
        return {"p50": self.p50, "p95": self.p95, "sum": self.sum, "count": self.count}

    @classmethod
    def from_json(cls, data: Any) -> Summary:
        if not isinstance(data, Mapping):
            return cls()
        return cls(
            p50=_num(data.get("p50")), p95=_num(data.get("p95")),
            sum=_num(data.get("sum")) or 0.0, count=int(data.get("count") or 0),
        )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


@dataclass(frozen=True)
class RunMetrics:
    kind: str
    started_at: datetime
    finished_at: datetime
    host: str | None = None
    players: Mapping[str, int] = field(default_factory=dict)  # by outcome
    api_requests: int = 0  # went to the network (retries included)
    cache_hits: int = 0
    api_latency: Summary = Summary()
    events_derived: int = 0
    events_stored: int = 0
    messages_sent: int = 0
    deliveries_sent: int = 0
    delivery_latency: Summary = Summary()  # event stored → Discord accepted it
    errors: Mapping[str, int] = field(default_factory=dict)  # by kind
    id: int | None = None

    @property
    def duration(self) -> float:
        return max(0.0, (self.finished_at - self.started_at).total_seconds())

    @property
    def players_polled(self) -> int:
        return sum(self.players.values())

    @property
    def cache_hit_ratio(self) -> float | None:
        """cache hits / (cache hits + network requests); None when nothing was fetched."""
        total = self.cache_hits + self.api_requests
        return round(self.cache_hits / total, 6) if total else None

    def to_json(self) -> dict[str, Any]:
        """The measurements (what the ``run.metrics`` column holds)."""
        return {
            "duration_s": round(self.duration, 6),
            "players": dict(sorted(self.players.items())),
            "api_requests": self.api_requests,
            "cache_hits": self.cache_hits,
            "cache_hit_ratio": self.cache_hit_ratio,
            "api_latency_s": self.api_latency.to_json(),
            "events_derived": self.events_derived,
            "events_stored": self.events_stored,
            "messages_sent": self.messages_sent,
            "deliveries_sent": self.deliveries_sent,
            "delivery_latency_s": self.delivery_latency.to_json(),
            "errors": dict(sorted(self.errors.items())),
        }

    def as_dict(self) -> dict[str, Any]:
        """Everything, for ``stats --json`` and the Redis run summary."""
        return {
            "id": self.id,
            "kind": self.kind,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "host": self.host,
            **self.to_json(),
        }

    @classmethod
    def from_row(
        cls, kind: str, started_at: datetime, finished_at: datetime, host: str | None,
        data: Mapping[str, Any], id: int | None = None,
    ) -> RunMetrics:
        def ints(value: Any) -> dict[str, int]:
            if not isinstance(value, Mapping):
                return {}
            return {str(k): int(v) for k, v in value.items() if isinstance(v, (int, float))}

        def count(key: str) -> int:
            value = data.get(key)
            return int(value) if isinstance(value, (int, float)) else 0

        return cls(
            kind=kind, started_at=started_at, finished_at=finished_at, host=host,
            players=ints(data.get("players")),
            api_requests=count("api_requests"), cache_hits=count("cache_hits"),
            api_latency=Summary.from_json(data.get("api_latency_s")),
            events_derived=count("events_derived"), events_stored=count("events_stored"),
            messages_sent=count("messages_sent"), deliveries_sent=count("deliveries_sent"),
            delivery_latency=Summary.from_json(data.get("delivery_latency_s")),
            errors=ints(data.get("errors")), id=id,
        )

    def totals(self) -> dict[str, int]:
        """Increments of the running totals (counter series → amount) this run adds."""
        out = {
            f"runs_total:kind={self.kind}": 1,
            "events_derived_total": self.events_derived,
            "messages_sent_total": self.messages_sent,
            "deliveries_sent_total": self.deliveries_sent,
            "api_requests_total": self.api_requests,
            "cache_hits_total": self.cache_hits,
        }
        for outcome, n in self.players.items():
            out[f"players_polled_total:outcome={outcome}"] = n
        for kind, n in self.errors.items():
            out[f"errors_total:error={kind}"] = n
        return {k: v for k, v in out.items() if v}


class SummarySink(Protocol):
    """Where a run's summary goes besides the store: in practice the Redis layer, which
    matches this structurally. Its outages since the last run are an input (counted as
    ``redis`` errors); the summary is an output, handed over as plain data."""

    def take_failures(self) -> int: ...

    def publish_summary(self, summary: Mapping[str, Any]) -> bool: ...


def collect(
    kind: str,
    *,
    report: RunReport | Sequence[RunReport] | None = None,
    delivery: DeliveryReport | Sequence[DeliveryReport] | None = None,
    http: HttpStats | None = None,
    started: datetime | None = None,
    finished: datetime | None = None,
    host: str | None = None,
    extra_events: int = 0,
    extra_errors: Mapping[str, int] | None = None,
    prices: Any = None,
) -> RunMetrics:
    """Measure one run from the reports it produced (any of them may be absent; a scheduler job
    that worked in batches passes the list of its reports). ``prices`` is a price pass's
    report (its ``events_added`` count as derived; its ``error`` as one ``prices`` error)."""
    if not _KIND.match(kind):
        raise ValueError(f"run kind {kind!r}: lower-case letters, digits and '_'")
    from .clock import utcnow  # here: this module's top level stays standard library only

    reports, deliveries_ = _listed(report), _listed(delivery)
    finished = finished or utcnow()
    starts = [r.started_at for r in reports] + [d.started_at for d in deliveries_ if d.started_at]
    started = started or min(starts, default=None) or finished
    players: dict[str, int] = {}
    errors: dict[str, int] = {}
    events_derived = events_stored = 0
    for rep in reports:
        for r in rep.results:
            players[r.outcome] = players.get(r.outcome, 0) + 1
        events_derived += rep.events
        events_stored += rep.events_added
    for outcome in PLAYER_ERRORS:
        if players.get(outcome):
            errors[outcome] = players[outcome]
    messages = deliveries = 0
    latencies: list[float] = []
    for hook in (h for d in deliveries_ for h in d.webhooks.values()):
        messages += hook.messages_sent
        deliveries += hook.delivered
        latencies += hook.latencies
        for outcome, n in hook.outcomes.items():
            if outcome != "sent":
                errors[f"discord_{outcome}"] = errors.get(f"discord_{outcome}", 0) + n
        if hook.skipped:
            errors["webhook_skipped"] = errors.get("webhook_skipped", 0) + 1
        elif hook.disabled and not hook.outcomes:
            errors["webhook_disabled"] = errors.get("webhook_disabled", 0) + 1
    if prices is not None:
        extra_events += int(getattr(prices, "events_added", 0) or 0)
        if getattr(prices, "error", None):
            errors["prices"] = errors.get("prices", 0) + 1
    for name, n in (extra_errors or {}).items():
        if n:
            errors[name] = errors.get(name, 0) + int(n)
    return RunMetrics(
        kind=kind,
        started_at=started,
        finished_at=finished,
        host=host if host is not None else _hostname(),
        players=players,
        api_requests=http.requests_made if http else 0,
        cache_hits=http.cache_hits if http else 0,
        api_latency=Summary.of(http.latencies if http else ()),
        events_derived=events_derived + extra_events,
        events_stored=events_stored + extra_events,
        messages_sent=messages,
        deliveries_sent=deliveries,
        delivery_latency=Summary.of(latencies),
        errors=errors,
    )


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _hostname() -> str | None:
    try:
        return socket.gethostname() or None
    except OSError:
        return None


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
    if any(r.dry_run for r in _listed(report)):
        return metrics
    try:
        run_id = store.runs.record(
            kind, metrics.started_at, metrics.finished_at, metrics.host, metrics.to_json(),
            metrics.totals(),
        )
        metrics = RunMetrics(**{**_fields(metrics), "id": run_id})
    except StoreError as exc:
        log.warning("run metrics not stored: %s", exc)
    if redis is not None:
        redis.publish_summary(metrics.as_dict())
    if metrics_file is not None:
        export(store, metrics_file, fallback=metrics)
    return metrics


def _fields(m: RunMetrics) -> dict[str, Any]:
    return {name: getattr(m, name) for name in m.__dataclass_fields__}


# -- reading back ---------------------------------------------------------------------------------


def recent(store: Store, limit: int = 20, kind: str | None = None) -> list[RunMetrics]:
    return [
        RunMetrics.from_row(r.kind, r.started_at, r.finished_at, r.host, r.metrics, r.id)
        for r in store.runs.recent(limit, kind)
    ]


def latest(store: Store) -> dict[str, RunMetrics]:
    return {
        kind: RunMetrics.from_row(r.kind, r.started_at, r.finished_at, r.host, r.metrics, r.id)
        for kind, r in store.runs.latest_by_kind().items()
    }


# -- Prometheus text format -----------------------------------------------------------------------
#
# prometheus_client writes the exposition format; this module only says which families exist and
# what their samples are. It is imported inside the functions below, never at the top: the cron
# path without a metrics file must not pay for it (about 65 ms, see the README "Metrics").


class _Spec(NamedTuple):  # a NamedTuple, not a dataclass: a third of the import cost
    """One family: its name without the prefix, help text and label names (``kind`` first for
    the last-run families). The type is the function in :func:`_families` that builds it."""

    name: str
    help: str
    labels: tuple[str, ...] = ()


# Gauges and summaries describing the last run of each kind.
_TIMESTAMP = _Spec("run_timestamp_seconds", "When the last run of this kind finished.", ("kind",))
_DURATION = _Spec("run_duration_seconds", "How long the last run took.", ("kind",))
_POLLED = _Spec("last_run_players_polled", "Players polled in the last run, by outcome.",
                ("kind", "outcome"))
_REQUESTS = _Spec("last_run_api_requests", "Network requests in the last run.", ("kind",))
_API = _Spec("api_latency_seconds", "Latency of the last run's API requests.", ("kind",))
_RATIO = _Spec("cache_hit_ratio", "Cache hits / all requests in the last run.", ("kind",))
_DERIVED = _Spec("last_run_events_derived", "Events derived in the last run.", ("kind",))
_SENT = _Spec("last_run_messages_sent", "Discord messages sent in the last run.", ("kind",))
_DELIVERED = _Spec("last_run_deliveries_sent", "Events delivered in the last run.", ("kind",))
_DELIVERY = _Spec("delivery_latency_seconds",
                  "From an event being stored to Discord accepting it, last run.", ("kind",))
_ERRORS = _Spec("last_run_errors", "Failures in the last run, by kind.", ("kind", "error"))

# Running totals, named as in the store ("runs_total:kind=poll"): one counter family each.
_COUNTERS: tuple[_Spec, ...] = (
    _Spec("runs_total", "Runs recorded, by kind.", ("kind",)),
    _Spec("players_polled_total", "Player fetches, by outcome.", ("outcome",)),
    _Spec("events_derived_total", "Events derived from snapshots and price alerts."),
    _Spec("messages_sent_total", "Discord messages accepted."),
    _Spec("deliveries_sent_total", "Events delivered to a webhook."),
    _Spec("api_requests_total", "HTTP requests that went to the network."),
    _Spec("cache_hits_total", "HTTP requests served by the cache."),
    _Spec("errors_total", "Failures, by kind (player fetches, Discord sends, Redis).", ("error",)),
)

# A sample as this module sees it: label values in the family's label order, and the value.
_Samples = list[tuple[tuple[str, ...], float]]


def _last_run_samples(latest: Mapping[str, RunMetrics]) -> dict[_Spec, _Samples]:
    """The gauge samples of the last run of each kind (summaries are added apart)."""
    out: dict[_Spec, _Samples] = {
        spec: [] for spec in (_TIMESTAMP, _DURATION, _POLLED, _REQUESTS, _RATIO, _DERIVED,
                              _SENT, _DELIVERED, _ERRORS)
    }
    for kind, m in sorted(latest.items()):
        out[_TIMESTAMP].append(((kind,), m.finished_at.timestamp()))
        out[_DURATION].append(((kind,), m.duration))
        out[_POLLED] += [((kind, o), n) for o, n in sorted(m.players.items())]
        out[_REQUESTS].append(((kind,), m.api_requests))
        if m.cache_hit_ratio is not None:  # nothing fetched: no series rather than NaN or 0
            out[_RATIO].append(((kind,), m.cache_hit_ratio))
        out[_DERIVED].append(((kind,), m.events_derived))
        out[_SENT].append(((kind,), m.messages_sent))
        out[_DELIVERED].append(((kind,), m.deliveries_sent))
        out[_ERRORS] += [((kind, e), n) for e, n in sorted(m.errors.items())]
    return out


def _counter_samples(spec: _Spec, totals: Mapping[str, int]) -> _Samples:
    """The store's totals for one counter: ``name`` or ``name:label=value`` keys."""
    out: _Samples = []
    for key, value in sorted(totals.items()):
        base, _, labelled = key.partition(":")
        if base != spec.name:
            continue
        if not spec.labels:
            if not labelled:
                out.append(((), value))
            continue
        lname, _, lvalue = labelled.partition("=")
        if lname == spec.labels[0]:
            out.append(((lvalue,), value))
    return out


def _families(latest: Mapping[str, RunMetrics], totals: Mapping[str, int]) -> list[Metric]:
    """Every family that has samples, as prometheus_client metric families. Families without
    samples are left out: a ``# HELP``/``# TYPE`` pair with nothing under it only clutters the
    file."""
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        SummaryMetricFamily,
    )

    gauges = _last_run_samples(latest)

    def gauge(spec: _Spec) -> Metric:
        family = GaugeMetricFamily(PREFIX + spec.name, spec.help, labels=spec.labels)
        for values, value in gauges[spec]:
            family.add_metric(values, value)
        return family

    def summary(spec: _Spec, of: Callable[[RunMetrics], Summary]) -> Metric:
        family = SummaryMetricFamily(PREFIX + spec.name, spec.help, labels=spec.labels)
        for kind, m in sorted(latest.items()):
            s = of(m)
            if not s.count:  # a run without requests has no latency series
                continue
            # SummaryMetricFamily takes only _sum and _count (prometheus_client's own Summary
            # computes no quantiles); ours come computed, so they go in as raw samples.
            for q, value in ((0.5, s.p50), (0.95, s.p95)):
                if value is not None:
                    family.add_sample(family.name, {"kind": kind, "quantile": str(q)}, value)
            family.add_metric([kind], count_value=s.count, sum_value=s.sum)
        return family

    def counter(spec: _Spec) -> Metric:
        # CounterMetricFamily takes the name with or without "_total" and writes it with: the
        # series keep their names. No ``created``, so no ``_created`` series appear.
        family = CounterMetricFamily(PREFIX + spec.name, spec.help, labels=spec.labels)
        for values, value in _counter_samples(spec, totals):
            family.add_metric(values, value)
        return family

    families = [
        gauge(_TIMESTAMP), gauge(_DURATION), gauge(_POLLED), gauge(_REQUESTS),
        summary(_API, lambda m: m.api_latency), gauge(_RATIO), gauge(_DERIVED), gauge(_SENT),
        gauge(_DELIVERED), summary(_DELIVERY, lambda m: m.delivery_latency), gauge(_ERRORS),
        *(counter(spec) for spec in _COUNTERS),
    ]
    return [f for f in families if f.samples]


class _Families:
    """A prometheus_client collector over families built beforehand: the file is one reading of
    the store, not live instruments (the totals live in the database, shared by every process,
    so the client's own Counter/Gauge objects, which count in this process, do not fit)."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return iter(self._families)


def render_prometheus(latest: Mapping[str, RunMetrics], totals: Mapping[str, int]) -> str:
    """The Prometheus text exposition format (0.0.4), written by prometheus_client: gauges and
    summaries describing the last run of each kind (``kind`` label), counters for the running
    totals. Counts of the last run are named ``last_run_*`` so that no gauge shares a name with a
    counter minus ``_total`` (OpenMetrics would merge them). No timestamps (the textfile
    collector refuses them). With nothing recorded, a lone newline."""
    from prometheus_client import CollectorRegistry, generate_latest

    # A private registry: the client's global REGISTRY would add this process's own
    # process_*/python_* series, which describe a cron one-shot that has already exited.
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(_families(latest, totals)))
    return generate_latest(registry).decode("utf-8") or "\n"


def write_text_atomically(path: str | os.PathLike[str], text: str) -> None:
    """Write beside the target and rename over it: a scraper never reads half a file. The
    temporary name does not end in ``.prom``, so the textfile collector ignores it."""
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(prefix=".osrs-notify-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def export(
    store: Store, path: str | os.PathLike[str], *, fallback: RunMetrics | None = None
) -> bool:
    """Rewrite ``path`` from the store (the last run of each kind, and the totals). When the
    store cannot be read, ``fallback`` alone is written. Returns whether a file was written."""
    from .store import StoreError

    try:
        runs, totals = latest(store), store.runs.totals()
    except StoreError as exc:
        if fallback is None:
            log.warning("metrics file %s not written: %s", os.fspath(path), exc)
            return False
        runs, totals = {fallback.kind: fallback}, {}
    try:
        text = render_prometheus(runs, totals)
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


def check_metrics_path(path: str | os.PathLike[str] | None) -> str | None:
    """A problem with ``--metrics-file`` found before the run starts (None when fine)."""
    if path is None:
        return None
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target)) or "."
    if os.path.isdir(target):
        return f"--metrics-file {target}: is a directory"
    if not os.path.isdir(directory):
        return f"--metrics-file {target}: directory {directory} does not exist"
    if not os.access(directory, os.W_OK):
        return f"--metrics-file {target}: directory {directory} is not writable"
    return None
