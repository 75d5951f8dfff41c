"""`osrs-notify digest NAME`: post (or print) one configured digest on demand."""

from __future__ import annotations

import sys

import click

from .context import Context, UserError, closing


@click.command()
@click.argument("name")
@click.option("--now", "so_far", is_flag=True,
              help="The current period so far, as a message of its own (the period's digest "
              "still comes when it ends).")
@click.option("--dry-run", is_flag=True, help="Print the digest instead of posting it.")
@click.option("--write-chart", metavar="PATH", type=click.Path(dir_okay=False),
              help="With --dry-run: also write the chart to PATH (a PNG).")
@click.pass_obj
def digest(obj: Context, name: str, so_far: bool, dry_run: bool, write_chart: str | None) -> None:
    """Post a [[digest]] now: the last ended period's, unless it was posted already.

    A digest is posted by `run` and by a cron `poll` just after each period ends; this
    posts one on demand: the last period's (once; a second call says it was posted), or
    with --now the current period so far. Exit 1 when a post failed.

    \b
    Example:
      osrs-notify digest weekly
      osrs-notify digest weekly --now --dry-run
    """
    from ..clock import utcnow
    from ..digest_message import as_text, render
    from ..digest_step import queue_final, queue_so_far
    from ..digests import digest_period, gather
    from ..posting import PostReport, post_lines, send_posts
    from ..timing import new_owner

    settings = obj.settings()
    chosen = next((d for d in settings.digests if d.name.lower() == name.lower()), None)
    if chosen is None:
        known = ", ".join(d.name for d in settings.digests) or "none configured"
        raise UserError(f"no [[digest]] named {name!r} (digests: {known})")
    if write_chart and not dry_run:
        raise UserError("--write-chart goes with --dry-run")
    now = utcnow()
    period = digest_period(chosen, now, settings.timezone, offset=0 if so_far else -1)
    with closing(obj.open_store()) as store:
        if dry_run:
            content = render(chosen, gather(store, chosen, period), settings.timezone,
                             final=not so_far, now=now)
            for line in as_text(content):
                click.echo(line)
            if write_chart:
                if content.chart is None:
                    raise UserError("this digest has no chart (chart = false, or matplotlib "
                                    "is not installed)")
                with open(write_chart, "wb") as out:
                    out.write(content.chart)
            return
        report = PostReport()
        if so_far:
            queue_so_far(settings, store, chosen, now, report)
        elif not queue_final(settings, store, chosen, period, now, report):
            click.echo(f"{chosen.name}: {period.label} was already posted.")
        send_posts(settings, store, lambda: obj.sender(settings), now, f"cli:{new_owner()}",
                   report)
    for line in post_lines(report):
        click.echo(line)
    sys.exit(report.exit_code)
