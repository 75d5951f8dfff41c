"""The `osrs-notify` command: the group, its global options, and the console-script entry point.

Each command lives in its own small module (poll, deliver and webhook, players, lookup, price,
check, stats, run) that parses its options, calls library functions and prints. They import
only click and :mod:`poller.cli.context` up front; the rest is imported when a command runs: a
cron run pays for every import, and `--help` should pay for almost none.
"""

from __future__ import annotations

import logging
import sys
from typing import NoReturn

import click

from .check import check
from .competition import competition
from .context import EXIT_OK, EXIT_PARTIAL, Context
from .deliver import deliver, webhook
from .digest import digest
from .gains import gains
from .lookup import lookup
from .players import players
from .players_edit import players_add, players_remove
from .poll import poll
from .price import price
from .run import run
from .stats import stats

__all__ = ["cli", "main"]


def setup_logging(verbosity: int, debug: bool) -> None:
    level = logging.DEBUG if debug else logging.INFO if verbosity else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    from notifier.webhook import TokenMaskingFilter

    handler.addFilter(TokenMaskingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    if not debug:
        # urllib3 logs full URLs at DEBUG; keep third-party chatter out of -v.
        logging.getLogger("urllib3").setLevel(logging.WARNING)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--config",
    "config_path",
    envvar="OSRS_NOTIFY_CONFIG",
    default="osrs-notify.toml",
    show_default=True,
    metavar="PATH",
    help="Config file (env OSRS_NOTIFY_CONFIG). A .env beside it is read too.",
)
@click.option("-v", "--verbose", count=True, help="More log output (-v: info).")
@click.option("--debug", is_flag=True, help="Debug logs, and tracebacks on errors.")
@click.version_option(package_name="osrs-notify", prog_name="osrs-notify")
@click.pass_context
def cli(ctx: click.Context, config_path: str, verbose: int, debug: bool) -> None:
    """Watch Old School RuneScape players and post what happened to Discord webhooks.

    \b
    Example:
      osrs-notify --config config/osrs-notify.example.toml poll --dry-run
    """
    setup_logging(verbose, debug)
    ctx.obj = Context(config_path, debug)


# Every command, each from its own module (`--help` lists them by name).
for command in (poll, deliver, webhook, lookup, players, gains, digest, competition, check,
                price, stats, run):
    cli.add_command(command)
for subcommand in (players_add, players_remove):
    players.add_command(subcommand)


def main(argv: list[str] | None = None) -> NoReturn:
    """Console-script entry: user errors are one line; a bug is one line too unless --debug."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="osrs-notify", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if debug:
            raise
        from notifier.webhook import mask_url

        from ..store import StoreError

        if isinstance(exc, StoreError):
            # Already one line naming the cause (a full disk, a damaged file) and what to do.
            click.echo(f"error: {mask_url(str(exc))}", err=True)
            sys.exit(EXIT_PARTIAL)
        click.echo(
            f"error: unexpected {type(exc).__name__}: {mask_url(str(exc))} "
            "(run with --debug for the traceback)",
            err=True,
        )
        sys.exit(EXIT_PARTIAL)
    sys.exit(EXIT_OK)
