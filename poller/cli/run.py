"""`osrs-notify run`: the long-running service (jobs in :mod:`poller.jobs`, wired to APScheduler
in :mod:`poller.scheduler`).

Like every command module it imports only click up front (APScheduler only when `run` runs).
"""

from __future__ import annotations

import logging
import sys
from datetime import timedelta
from typing import TYPE_CHECKING

import click

from .context import Context, UserError, checked_metrics_file, closing, metrics_file_option

if TYPE_CHECKING:
    from ..jobs import Parts
    from ..settings import Settings
    from ..store import Store


def _seconds(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)


@click.command()
@click.option("--interval-seconds", type=click.FloatRange(min=0.5), default=None, hidden=True,
              help="Testing: poll window in seconds instead of poll.interval.")
@click.option("--lease-seconds", type=click.FloatRange(min=0.5), default=None, hidden=True,
              help="Testing: lease length in seconds.")
@click.option("--deliver-seconds", type=click.FloatRange(min=0.2), default=None, hidden=True,
              help="Testing: delivery job period in seconds instead of 60.")
@click.option("--prices-seconds", type=click.FloatRange(min=0.5), default=None, hidden=True,
              help="Testing: prices job period in seconds instead of prices.interval.")
@metrics_file_option
@click.pass_obj
def run(
    obj: Context,
    interval_seconds: float | None,
    lease_seconds: float | None,
    deliver_seconds: float | None,
    prices_seconds: float | None,
    metrics_file: str | None,
) -> None:
    """Run as a service: poll, check prices and deliver on their intervals until stopped.

    Each player is polled once every poll.interval, watched prices every prices.interval,
    and pending messages are retried every minute. Edits to the config file are picked up
    at the next check. SIGTERM or Ctrl-C finishes the player in hand, saves, and exits 0.

    Several `run` processes may share one PostgreSQL database: they split the players and
    messages between them with leases, so each player is still polled once per interval and
    each message sent once. Use `run` or the cron `poll`, not both on one database.

    \b
    Example:
      osrs-notify --config /etc/osrs-notify/osrs-notify.toml -v run
    """
    from ..checks import setup_warnings
    from ..config import load_settings
    from ..jobs import Jobs, Parts
    from ..scheduler import Reload, Service
    from ..settings import ConfigError
    from ..store import open_store as open_database
    from ..timing import make_timing

    settings = obj.settings()
    metrics_file = checked_metrics_file(metrics_file)
    for line in setup_warnings(settings):
        logging.getLogger("osrs_notify").warning("%s", line)
    if not settings.players and not settings.watch:
        raise UserError("nothing to run: add [[players]] (or [[watch]]) tables to the config")
    if settings.database_url.endswith(":memory:"):
        raise UserError("`run` needs a database that outlives it: set a file or PostgreSQL URL")
    # `run` is a service: its one line per job goes to the log without -v; APScheduler's own
    # chatter (a job still running at its next tick, which is normal here) does not.
    if not obj.debug:
        logging.getLogger("osrs_notify.run").setLevel(logging.INFO)
        logging.getLogger("apscheduler").setLevel(logging.ERROR)

    def open_store(s: Settings) -> Store:
        return open_database(s.database_url)  # a StoreError: one line in the log, job retried

    def build(s: Settings) -> Parts:
        return Parts(s, obj.hiscores(s), obj.sender(s))

    timing = make_timing(
        settings,
        interval=_seconds(interval_seconds),
        lease=_seconds(lease_seconds),
        deliver=_seconds(deliver_seconds),
        prices=_seconds(prices_seconds),
    )
    # Before any job: a database problem, or a [[watch]] on an unknown item, is one line and
    # exit 2 (systemd does not restart on 2: see the unit).
    with closing(obj.open_store()) as store:
        if settings.watch:
            from ..price_pass import build_price_pass

            try:
                build_price_pass(settings, store).prepare()
            except ConfigError as exc:
                raise UserError(str(exc)) from exc
    jobs = Jobs(build(settings), open_store=open_store, timing=timing,
                redis=obj.redis(settings), metrics_file=metrics_file)
    reload = Reload(lambda: load_settings(obj.config_path), build, settings)
    sys.exit(Service(jobs, reload=reload).run())
