"""`osrs-notify check`: the config, the database and every endpoint, every problem listed."""

from __future__ import annotations

import sys

import click

from .context import EXIT_PARTIAL, EXIT_USAGE, Context, UserError


@click.command()
@click.option("--offline", is_flag=True, help="Validate the config and database only.")
@click.pass_obj
def check(obj: Context, offline: bool) -> None:
    """Validate the config and reach each endpoint; list every problem.

    Checks the config file, the database (on SQLite also the file's integrity), every
    configured player on the hiscores (at the configured rate, poll.rate_limit a minute, so
    a large roster takes a while; a terminal shows progress) and each webhook (a harmless
    GET; nothing is posted). Exit 0 when all is well, 1 with every problem listed, 2 when
    the config itself is invalid.

    \b
    Example:
      osrs-notify --config /etc/osrs-notify/osrs-notify.toml check
    """
    from ..checks import run_checks, terminal_progress
    from ..settings import ConfigError

    try:
        settings = obj.settings()
    except UserError as exc:
        # Elsewhere one line is enough; `check` exists to list every problem in one go.
        found = exc.__cause__.problems if isinstance(exc.__cause__, ConfigError) else ()
        if len(found) < 2:
            raise
        click.echo(f"error: {len(found)} problems in the config:", err=True)
        for problem in found:
            click.echo(f"  - {problem.line}", err=True)
        sys.exit(EXIT_USAGE)
    progress = terminal_progress(sys.stderr, settings.poll.rate_limit) if (
        not offline and settings.players and sys.stderr.isatty()
    ) else None
    problems = run_checks(
        settings, hiscores=None if offline else obj.hiscores(settings), progress=progress
    )
    if problems:
        click.echo(f"{len(problems)} problem(s):", err=True)
        for p in problems:
            click.echo(f"  - {p}", err=True)
        sys.exit(EXIT_PARTIAL)
    click.echo("All good.")
