"""`osrs-notify stats`: recent runs as a table or JSON, and the Prometheus metrics file.

Importing this module costs only click (:mod:`poller.cli` registers the command at import).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from .context import Context, checked_metrics_file, closing

if TYPE_CHECKING:
    from ..metrics import RunMetrics


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000),
              help="How many recent runs.")
@click.option("--kind", default=None, metavar="KIND",
              help="Only runs of this kind (poll, deliver, or a `run` job).")
@click.option("--metrics-file", metavar="PATH", default=None,
              help="Also write the Prometheus text format to PATH (as `poll --metrics-file`).")
@click.pass_obj
def stats(
    obj: Context, as_json: bool, limit: int, kind: str | None, metrics_file: str | None
) -> None:
    """Recent runs: duration, players polled, API latency, cache hit rate, events derived,
    messages delivered, delivery latency (event stored → Discord), how long changes waited
    for the poll that saw them, errors by kind; and the hiscores requests of the last hour
    beside the polling budget.

    Every `poll` and `deliver` (and each `run` job) is recorded; runs older than 30 days are
    dropped, the totals (`--json`, and the *_total counters of the metrics file) keep counting.

    \b
    Example:
      osrs-notify stats
      osrs-notify stats --json --limit 5
      osrs-notify stats --metrics-file /var/lib/node_exporter/textfile/osrs-notify.prom
    """
    from ..clock import utcnow
    from ..delivery_status import outbox_problems
    from ..due import policy_of
    from ..run_log import export, recent, requests_last_hour

    metrics_file = checked_metrics_file(metrics_file)
    settings = obj.settings()
    with closing(obj.open_store()) as store:
        runs = recent(store, limit, kind)
        hourly = requests_last_hour(store, utcnow())
        budget = policy_of(settings).budget(len(settings.players))
        totals = store.runs.totals()
        pending = store.count_pending()
        held = {n: c - pending.get(n, 0)
                for n, c in store.count_pending(include_held=True).items() if c > pending.get(n, 0)}
        failed = store.failed_events(limit=1000)
        problems = outbox_problems(settings, store, utcnow())
        if metrics_file is not None:
            export(store, metrics_file)
    if as_json:
        click.echo(json.dumps(
            {"runs": [m.as_dict() for m in runs], "totals": totals, "pending": pending,
             "held": held,
             "failed": [{"webhook": f.webhook, "player": f.player, "kind": f.kind,
                         "error": f.error} for f in failed],
             "problems": problems,
             "requests_last_hour": hourly, "budget_per_hour": round(budget, 1)},
            indent=2,
        ))
        return
    if not runs:
        click.echo("No runs recorded yet: `osrs-notify poll` records one each time.")
    else:
        click.echo(runs_table(runs))
    click.echo(f"\nHiscores requests in the last hour: {hourly:,} (budget {budget:,.0f} an hour, "
               f"averaged over a day; [poll] schedule = {settings.poll.schedule!r}).")
    waiting = sum(pending.values())
    click.echo(f"\n{waiting} message(s) pending delivery." if runs else
               f"{waiting} message(s) pending delivery.")
    for line in problems:  # held, paused, failed: each with why and what to do
        click.echo(line)


def runs_table(runs: list[RunMetrics]) -> str:
    from ..report import table

    headers = ("Started (UTC)", "Kind", "Took", "Players", "Requests", "API p50/p95",
               "Cache", "Events", "Change wait p50", "Delivered", "Latency p50/p95", "Errors")
    rows = []
    for m in runs:
        failed = sum(m.players.get(k, 0) for k in ("unavailable", "invalid"))
        players = f"{m.players_polled}" + (f" ({failed} failed)" if failed else "")
        ratio = m.cache_hit_ratio
        rows.append((
            f"{m.started_at:%Y-%m-%d %H:%M:%S}",
            m.kind,
            _seconds(m.duration),
            players if m.players else "-",
            m.api_requests + m.cache_hits or "-",
            _pair(m.api_latency.p50, m.api_latency.p95),
            "-" if ratio is None else f"{ratio:.0%}",
            m.events_derived,
            _seconds(m.change_wait.p50),
            f"{m.deliveries_sent} in {m.messages_sent} msg" if m.messages_sent else "0",
            _pair(m.delivery_latency.p50, m.delivery_latency.p95),
            ", ".join(f"{k} {v}" for k, v in sorted(m.errors.items())) or "-",
        ))
    return table(headers, rows, right={2, 3, 4, 5, 6, 7, 8, 9, 10})


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f}ms"
    if value < 120:
        return f"{value:.1f}s"
    if value < 7200:
        return f"{value / 60:.1f}m"
    return f"{value / 3600:.1f}h"


def _pair(p50: float | None, p95: float | None) -> str:
    if p50 is None:
        return "-"
    return f"{_seconds(p50)}/{_seconds(p95)}"
