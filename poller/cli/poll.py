"""`osrs-notify poll`: one pass (:func:`poller.passes.run_pass`) under the poll lock, then the
outbox delivered, the run recorded and everything printed."""

from __future__ import annotations

import logging
import sys

import click

from .context import Context, UserError, checked_metrics_file, closing, metrics_file_option

log = logging.getLogger("osrs_notify")


@click.command()
@click.option("--dry-run", is_flag=True, help="Fetch and print what would be sent; change nothing.")
@click.option("--due", is_flag=True,
              help="Only the players due now under [poll] schedule (activity-aware: active "
              "players often, idle ones rarely, within the budget). For a cron line every "
              "few minutes.")
@metrics_file_option
@click.pass_obj
def poll(obj: Context, dry_run: bool, due: bool, metrics_file: str | None) -> None:
    """Poll every configured player once: fetch, store, derive events, queue messages.

    Run it from cron or a systemd timer. With --due, only the players due now: the
    recommended cron line runs `poll --due` every five minutes, so a player who is playing is
    looked at often and an idle one rarely, for the same requests as hourly polling.
    Overlapping runs are safe: a second run finds the lock taken and exits 0 without
    polling. Exit 1 when some players could not be fetched (the rest was done and saved).

    \b
    Example:
      osrs-notify --config /etc/osrs-notify/osrs-notify.toml poll
      osrs-notify poll --due
      osrs-notify poll --dry-run
    """
    from ..checks import setup_warnings
    from ..passes import DuePlayers, EveryPlayer, Players, Posts, run_pass
    from ..redis_layer import run_lock
    from ..run_log import record_run
    from ..settings import ConfigError
    from ..store import LockHeld
    from ..timing import new_owner

    settings = obj.settings()
    metrics_file = checked_metrics_file(metrics_file)
    for line in setup_warnings(settings):
        log.warning("%s", line)
    with closing(obj.open_store()) as store:
        if not settings.players and not settings.watch:
            click.echo("No players configured: add [[players]] tables to the config.")
            return
        fetcher = obj.hiscores(settings)
        redis = obj.redis(settings)
        roster = DuePlayers(settings, store) if due else EveryPlayer()
        delivery = None
        try:
            if dry_run:
                done = run_pass(settings, store, players=Players(fetcher, roster),
                                prices=True, dry_run=True, redis=redis)
            else:
                with run_lock(store, redis, "poll"):
                    done = run_pass(settings, store, players=Players(fetcher, roster),
                                    prices=True, redis=redis,
                                    posts=Posts(lambda: obj.sender(settings),
                                                f"cron:{new_owner()}"))
                    # Events are committed; now send them (and anything left from before).
                    delivery = obj.deliver(settings, store)
                    record_run(store, "poll", report=done.players, delivery=delivery,
                               http=fetcher.http.take_stats(), prices=done.prices,
                               redis=redis, metrics_file=metrics_file)
        except ConfigError as exc:  # an unknown [[watch]] item: exit 2, nothing done
            raise UserError(str(exc)) from exc
        except LockHeld:
            click.echo("Another poll is still running; this one is skipped.")
            return
    from ..report import print_delivery_report, print_poll_report

    assert done.players is not None  # every player is one batch, whatever the roster
    print_poll_report(done.players, settings)
    cache_hits = fetcher.http.cache_hits if dry_run else 0
    if cache_hits:
        # Each such answer is newer than the player's last poll (HttpClient's not_before).
        click.echo(
            f"{cache_hits} answer(s) came from the HTTP cache (at most "
            f"{settings.poll.cache_ttl} s old, newer than each player's last poll)."
        )
    if done.prices is not None:
        from ..price_pass import report_lines

        out, err = report_lines(done.prices)
        for line in out:
            click.echo(line)
        for line in err:
            click.echo(line, err=True)
    if delivery is not None:
        print_delivery_report(delivery)
    if done.digests is not None:
        from ..posting import post_lines

        for line in post_lines(done.digests):
            click.echo(line)
    sys.exit(max(done.exit_code, delivery.exit_code if delivery else 0))
