"""The Prometheus textfile: run metrics in the exposition format, for node_exporter.

:func:`render_prometheus` says which families exist and what their samples are;
``prometheus_client`` writes the format. It is imported inside the functions below, never at
the top: the cron path without a metrics file must not pay for it (about 65 ms, see the README
"Metrics"). Every series keeps its name, type, labels and help: dashboards and alerts use them.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from .metrics import RunMetrics, Summary

PREFIX = "osrs_notify_"


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
_WAIT = _Spec("change_wait_seconds",
              "From a change on the hiscores to the poll that saw it (half the time since the "
              "poll before), last run.", ("kind",))
_HOURLY = _Spec("api_requests_last_hour", "Network requests to the hiscores in the last hour, "
                "all runs.")
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


def _families(latest: Mapping[str, RunMetrics], totals: Mapping[str, int],
              requests_last_hour: int | None = None) -> list[Metric]:
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
        gauge(_DELIVERED), summary(_DELIVERY, lambda m: m.delivery_latency),
        summary(_WAIT, lambda m: m.change_wait), gauge(_ERRORS),
        *(counter(spec) for spec in _COUNTERS),
    ]
    if requests_last_hour is not None:
        hourly = GaugeMetricFamily(PREFIX + _HOURLY.name, _HOURLY.help)
        hourly.add_metric([], requests_last_hour)
        families.append(hourly)
    return [f for f in families if f.samples]


class _Families:
    """A prometheus_client collector over families built beforehand: the file is one reading of
    the store, not live instruments (the totals live in the database, shared by every process,
    so the client's own Counter/Gauge objects, which count in this process, do not fit)."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return iter(self._families)


def render_prometheus(latest: Mapping[str, RunMetrics], totals: Mapping[str, int], *,
                      requests_last_hour: int | None = None) -> str:
    """The Prometheus text exposition format (0.0.4), written by prometheus_client: gauges and
    summaries describing the last run of each kind (``kind`` label), counters for the running
    totals. Counts of the last run are named ``last_run_*`` so that no gauge shares a name with a
    counter minus ``_total`` (OpenMetrics would merge them). No timestamps (the textfile
    collector refuses them). With nothing recorded, a lone newline."""
    from prometheus_client import CollectorRegistry, generate_latest

    # A private registry: the client's global REGISTRY would add this process's own
    # process_*/python_* series, which describe a cron one-shot that has already exited.
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(_families(latest, totals, requests_last_hour)))
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
