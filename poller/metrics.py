"""Run metrics: what each poll, delivery or scheduler tick did, measured from its reports.

Every run is measured the same way, whoever ran it (`poll`, `deliver`, a `run` tick):
:func:`collect` turns the reports it produced (players polled, deliveries, the HTTP client's
counters, a price pass) into one :class:`RunMetrics` value. Storing, publishing and exporting
that value is :mod:`poller.run_log`'s (:func:`~poller.run_log.record_run`); the Prometheus text
format is :mod:`poller.prometheus`'s. Data flows one way: reports → metrics → sinks.

Top-level imports are the standard library only: this module is on the cron path.
"""

from __future__ import annotations

import math
import re
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .deliver import DeliveryReport
    from .http import HttpStats
    from .pipeline import RunReport

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
    # A change on the hiscores → the poll that saw it, estimated as half the time since the
    # poll before (which did not see it): with delivery_latency, the time to a message.
    change_wait: Summary = Summary()
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
            "change_wait_s": self.change_wait.to_json(),
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
            change_wait=Summary.from_json(data.get("change_wait_s")),
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

    reports, deliveries_ = as_list(report), as_list(delivery)
    finished = finished or utcnow()
    starts = [r.started_at for r in reports] + [d.started_at for d in deliveries_ if d.started_at]
    started = started or min(starts, default=None) or finished
    players: dict[str, int] = {}
    errors: dict[str, int] = {}
    events_derived = events_stored = 0
    waits: list[float] = []
    for rep in reports:
        for r in rep.results:
            players[r.outcome] = players.get(r.outcome, 0) + 1
            if r.unseen_for is not None:
                waits.append(r.unseen_for / 2)
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
        change_wait=Summary.of(waits),
        errors=errors,
    )


def as_list(value: Any) -> list[Any]:
    """One report, a sequence of them, or None, as a list."""
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
