"""The `osrs-notify` command: thin commands that load settings, build parts, call the pipeline.

Imports are deferred into the commands: a cron run pays for every import, and `--help` should
pay for almost none.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

if TYPE_CHECKING:
    from notifier.sender import WebhookSender

    from .deliver import DeliveryReport
    from .hiscores import HiscoresClient
    from .redis_layer import RedisLayer
    from .settings import Settings
    from .store import Store

log = logging.getLogger("osrs_notify")

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2
MODES = (
    "regular", "ironman", "hardcore", "ultimate", "deadman", "seasonal", "tournament",
    "fresh_start", "skiller", "defence_pure",
)


# `poll`, `deliver` and `run` take it; `stats` too (to write the file from what is stored).
metrics_file_option = click.option(
    "--metrics-file",
    metavar="PATH",
    envvar="OSRS_METRICS_FILE",
    default=None,
    help="Afterwards write run metrics to PATH in the Prometheus text format, atomically "
    "(for node_exporter's textfile collector; name it *.prom). Env OSRS_METRICS_FILE.",
)


def checked_metrics_file(path: str | None) -> str | None:
    """``--metrics-file``, refused before anything is done when it cannot be written."""
    from .metrics import check_metrics_path

    problem = check_metrics_path(path)
    if problem:
        raise UserError(problem)
    return path


class UserError(click.ClickException):
    """A problem the user can fix: one line on stderr, exit 2, nothing done."""

    exit_code = EXIT_USAGE

    def show(self, file: object = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class _MaskingFilter(logging.Filter):
    """Last line of defence: no webhook token reaches a log line, whoever logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        from notifier.webhook import mask_url

        record.msg = mask_url(record.getMessage())
        record.args = None
        return True


def _setup_logging(verbosity: int, debug: bool) -> None:
    level = logging.DEBUG if debug else logging.INFO if verbosity else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_MaskingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    if not debug:
        # urllib3 logs full URLs at DEBUG; keep third-party chatter out of -v.
        logging.getLogger("urllib3").setLevel(logging.WARNING)


class Context:
    """What every command receives: the config path and lazily built parts."""

    def __init__(self, config_path: str, debug: bool) -> None:
        self.config_path = config_path
        self.debug = debug
        self._settings: Settings | None = None
        self._redis: tuple[RedisLayer | None] | None = None

    def settings(self) -> Settings:
        if self._settings is None:
            from .settings import ConfigError, load_settings

            try:
                self._settings = load_settings(self.config_path)
            except ConfigError as exc:
                raise UserError(str(exc)) from exc
        return self._settings

    def open_store(self) -> Store:
        from .store import DatabaseFull, StoreError, open_store

        try:
            return open_store(self.settings().database_url)
        except DatabaseFull:
            raise  # no setup error: main() says it in one line, exit 1
        except StoreError as exc:
            raise UserError(str(exc)) from exc

    def sender(self, settings: Settings) -> WebhookSender:
        from notifier.sender import WebhookSender

        from . import __version__

        return WebhookSender(
            settings.discord_api_base,
            timeout=settings.poll.timeout,
            user_agent=f"osrs-notify/{__version__} (self-hosted Discord notifier)",
        )

    def hiscores(self, settings: Settings | None = None) -> HiscoresClient:
        from .hiscores import HiscoresClient
        from .http import HttpClient
        from .redis_layer import http_options

        s = settings or self.settings()
        config = http_config(s)
        client = HttpClient(config, **http_options(self.redis(s), config))
        return HiscoresClient(client, s.api_endpoint)

    def redis(self, settings: Settings | None = None) -> RedisLayer | None:
        """The optional Redis layer (None unless `redis` / REDIS_URL is set), built once."""
        if self._redis is None:
            from .redis_layer import connect

            self._redis = (connect(settings or self.settings()),)
        return self._redis[0]


def http_config(settings: Settings) -> object:
    from . import __version__
    from .http import HttpConfig

    contact = settings.contact or "no contact configured"
    cache_path = None
    if settings.database_url.startswith("sqlite:///") and ":memory:" not in settings.database_url:
        # A file cache beside the database: cron runs are separate processes.
        cache_path = settings.database_url.removeprefix("sqlite:///") + ".http-cache"
    return HttpConfig(
        user_agent=f"osrs-notify/{__version__} (self-hosted Discord notifier; {contact})",
        timeout=settings.poll.timeout,
        retries=settings.poll.retries,
        rate_per_minute=settings.poll.rate_limit,
        cache_ttl=settings.poll.cache_ttl,
        cache_path=cache_path,
        api_key=settings.api_key,
    )


@contextmanager
def _closing(store: Store) -> Iterator[Store]:
    try:
        yield store
    finally:
        store.close()


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
    _setup_logging(verbose, debug)
    ctx.obj = Context(config_path, debug)


# -- poll ----------------------------------------------------------------------------------------


@cli.command()
@click.option("--dry-run", is_flag=True, help="Fetch and print what would be sent; change nothing.")
@metrics_file_option
@click.pass_obj
def poll(obj: Context, dry_run: bool, metrics_file: str | None) -> None:
    """Poll every configured player once: fetch, store, derive events, queue messages.

    Run it from cron or a systemd timer. Overlapping runs are safe: a second run finds the
    lock taken and exits 0 without polling. Exit 1 when some players could not be fetched
    (the rest was done and saved).

    \b
    Example:
      osrs-notify --config /etc/osrs-notify/osrs-notify.toml poll
      osrs-notify poll --dry-run
    """
    from .checks import setup_warnings
    from .cli_prices import start_prices
    from .metrics import record_run
    from .pipeline import run_once
    from .redis_layer import publish_prices, publish_report, run_lock
    from .store import LockHeld

    settings = obj.settings()
    metrics_file = checked_metrics_file(metrics_file)
    for line in setup_warnings(settings):
        log.warning("%s", line)
    with _closing(obj.open_store()) as store:
        if not settings.players and not settings.watch:
            click.echo("No players configured: add [[players]] tables to the config.")
            return
        delivery = None
        cache_hits = 0
        if dry_run:
            prices = start_prices(settings, store, dry_run=True)
            fetcher = obj.hiscores(settings)
            report = run_once(settings, store, fetcher, dry_run=True)
            cache_hits = fetcher.http.cache_hits
            prices.run()
        else:
            try:
                with run_lock(store, obj.redis(settings), "poll"):
                    prices = start_prices(settings, store)  # an unknown [[watch]] item: exit 2
                    fetcher = obj.hiscores(settings)
                    report = run_once(settings, store, fetcher)
                    publish_report(obj.redis(settings), report)  # committed: on Redis too
                    prices.run()  # after the players; a failure there is reported, exit 1
                    price_report = getattr(prices, "report", None)  # None: no [[watch]]
                    publish_prices(obj.redis(settings), price_report)
                    # Events are committed; now send them (and anything left from before).
                    delivery = _deliver(obj, settings, store)
                    record_run(store, "poll", report=report, delivery=delivery,
                               http=fetcher.http.take_stats(), prices=price_report,
                               redis=obj.redis(settings), metrics_file=metrics_file)
            except LockHeld:
                click.echo("Another poll is still running; this one is skipped.")
                return
    from .report import print_delivery_report, print_poll_report

    print_poll_report(report, settings)
    if cache_hits:
        # Each such answer is newer than the player's last poll (HttpClient's not_before).
        click.echo(
            f"{cache_hits} answer(s) came from the HTTP cache (at most "
            f"{settings.poll.cache_ttl} s old, newer than each player's last poll)."
        )
    prices_code = prices.finish()
    if delivery is not None:
        print_delivery_report(delivery)
    sys.exit(max(report.exit_code, prices_code, delivery.exit_code if delivery else 0))


def _deliver(
    obj: Context, settings: Settings, store: Store, *, only: str | None = None,
    ignore_backoff: bool = False,
) -> DeliveryReport:
    """The outbox, sent under delivery leases: a `run` process on the same database (which
    claims with leases too) can never post the same message at the same moment."""
    from .deliver import LazySender, LeaseClaim, deliver_pending

    claim = LeaseClaim(store)
    try:
        return deliver_pending(
            settings, store, LazySender(lambda: obj.sender(settings)), claim=claim, only=only,
            ignore_backoff=ignore_backoff,
        )
    finally:
        claim.release()


# -- deliver / webhook test ----------------------------------------------------------------------


@cli.command()
@click.option("--webhook", "only", metavar="NAME", default=None, help="Only this webhook.")
@click.option("--now", "now", is_flag=True,
              help="Also send messages still waiting out their retry back-off, and those "
              "leased by a process on this host that is no longer running.")
@click.option("--retry-failed", is_flag=True,
              help="Queue the messages Discord refused (400, 413) again first: after a fix.")
@metrics_file_option
@click.pass_obj
def deliver(
    obj: Context, only: str | None, now: bool, retry_failed: bool, metrics_file: str | None
) -> None:
    """Send pending messages only (no polling): what a Discord outage left behind.

    `poll` already ends by delivering; this is for retrying sooner, or from its own timer.
    It says what still waits and why: a retry back-off (until when), a lease of another
    process, a webhook without a URL or disabled by Discord, a pause Discord imposed, messages
    Discord refused. Exit 1 when some messages could not be sent or Discord paused all sending
    (they stay pending, nothing is lost).

    \b
    Example:
      osrs-notify deliver
      osrs-notify deliver --now --webhook clan     # Discord is back: don't wait
      osrs-notify deliver --retry-failed           # after fixing what Discord refused
    """
    from .metrics import record_run
    from .redis_layer import run_lock
    from .report import print_delivery_report
    from .store import LockHeld

    settings = obj.settings()
    if only is not None and only not in settings.webhooks:
        raise UserError(f"no webhook named {only!r} (configured: {', '.join(settings.webhooks)})")
    metrics_file = checked_metrics_file(metrics_file)
    requeued = 0
    with _closing(obj.open_store()) as store:
        try:
            # Same lock as poll: two senders would post the same message twice.
            with run_lock(store, obj.redis(settings), "poll"):
                if retry_failed:
                    requeued = store.retry_failed(_now(), None if only is None else [only])
                report = _deliver(obj, settings, store, only=only, ignore_backoff=now)
                record_run(store, "deliver", delivery=report, redis=obj.redis(settings),
                           metrics_file=metrics_file)
        except LockHeld:
            click.echo("A poll or delivery is still running; this one is skipped.")
            return
    if retry_failed:
        click.echo(f"{requeued} failed message(s) queued again.")
    print_delivery_report(report, idle_line=True)
    sys.exit(report.exit_code)


@cli.group()
def webhook() -> None:
    """Try a configured webhook.

    \b
    Example:
      osrs-notify webhook test clan
    """


@webhook.command("test")
@click.argument("name")
@click.pass_obj
def webhook_test(obj: Context, name: str) -> None:
    """Send a sample message to one configured webhook.

    A 404/401 from Discord disables the webhook (its queued messages are kept) until its URL
    changes; a success re-enables it.

    \b
    Example:
      osrs-notify webhook test clan
    """
    from notifier.messages import sample_message

    from .deliver import style_of, utcnow
    from .delivery_status import address_hash

    settings = obj.settings()
    hook = settings.webhooks.get(name)
    if hook is None:
        raise UserError(f"no webhook named {name!r} (configured: {', '.join(settings.webhooks)})")
    if hook.address is None:
        raise UserError(f"webhook {name!r} has no URL: set it in the environment or .env")
    message = sample_message(style_of(hook))
    result = obj.sender(settings).send(hook.address, message.body, thread_id=hook.thread_id)
    now = utcnow()
    with _closing(obj.open_store()) as store:
        store.record_attempt(
            name, now, outcome=result.outcome, status_code=result.status, error=result.error,
            elapsed_ms=int(result.elapsed * 1000), delivery_ids=(),
        )
        if result.outcome == "sent":
            state = store.webhook_states().get(name)
            if state is not None and state.disabled:
                store.enable_webhook(name, address_hash(hook.address), now)
        elif result.outcome == "disable":
            store.disable_webhook(name, result.error or "refused", address_hash(hook.address), now)
    if result.outcome == "sent":
        click.echo(f"Sent a test message to {name!r} ({hook.address.masked}).")
        return
    click.echo(f"error: webhook {name!r} ({hook.address.masked}): {result.error}", err=True)
    sys.exit(EXIT_PARTIAL)


# -- lookup --------------------------------------------------------------------------------------


@cli.command()
@click.argument("name")
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default=None,
    help="Hiscores board (default: the player's mode in the config, else regular).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.pass_obj
def lookup(obj: Context, name: str, mode: str | None, as_json: bool) -> None:
    """Show a player's current stats from the hiscores (no config needed).

    Skills with level, XP and rank, combat and total level, and every ranked boss and activity.

    \b
    Example:
      osrs-notify lookup "Lynx Titan"
      osrs-notify lookup Hey_Jase --mode ironman --json
    """
    from .errors import OSRSApiError, PlayerNotFound
    from .report import lookup_json, print_lookup
    from .settings import normalize_name, validate_player_name

    problem = validate_player_name(name)
    if problem:
        raise UserError(f"player name {name!r}: {problem}")
    settings = _settings_or_defaults(obj)
    if mode is None:
        mode = next(
            (p.mode for p in settings.players if normalize_name(p.name) == normalize_name(name)),
            "regular",
        )
    try:
        snapshot = obj.hiscores(settings).fetch(name, mode)
    except PlayerNotFound:
        click.echo(f"error: {name} is not on the {mode} hiscores", err=True)
        sys.exit(EXIT_PARTIAL)
    except OSRSApiError as exc:
        click.echo(f"error: hiscores: {exc}", err=True)
        sys.exit(EXIT_PARTIAL)
    if as_json:
        click.echo(json.dumps(lookup_json(name, mode, snapshot), indent=2))
    else:
        print_lookup(name, mode, snapshot)


def _settings_or_defaults(obj: Context) -> Settings:
    """lookup works without a config file: then env vars and defaults apply."""
    from dataclasses import replace

    from .settings import default_settings

    if Path(obj.config_path).exists():
        return obj.settings()
    # No config means no database: keep the HTTP cache in memory rather than leave an
    # osrs-notify.db.http-cache file in whatever directory lookup was run from.
    return replace(default_settings(), database_url="sqlite:///:memory:")


# -- players -------------------------------------------------------------------------------------


@cli.group()
def players() -> None:
    """List configured players, or carry a player's history to a new name.

    \b
    Example:
      osrs-notify players list --json
      osrs-notify players rename "Old Name" "New Name"
    """


@players.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.pass_obj
def players_list(obj: Context, as_json: bool) -> None:
    """Every configured player with status: last polled, last change, missing.

    Players removed from the config are listed too (their history is kept).

    \b
    Example:
      osrs-notify players list
    """
    from .checks import webhook_problems
    from .report import player_rows, print_players

    settings = obj.settings()
    with _closing(obj.open_store()) as store:
        rows = player_rows(settings, store)
        problems = webhook_problems(settings, store)
    if as_json:
        click.echo(json.dumps({"players": rows, "webhook_problems": problems}, indent=2,
                              default=str))
    else:
        print_players(rows)
        for line in problems:
            click.echo(f"warning: {line}", err=True)


@players.command("rename")
@click.argument("old")
@click.argument("new")
@click.pass_obj
def players_rename(obj: Context, old: str, new: str) -> None:
    """Carry a player's history (snapshots, events) from OLD to NEW.

    Use it when a player changes their name in game, so milestones keep counting from their
    real history instead of a fresh baseline. Update the name in the config file too.

    \b
    Example:
      osrs-notify players rename "Old Name" "New Name"
    """
    from .settings import normalize_name, validate_player_name
    from .store import StoreError

    for label, value in (("OLD", old), ("NEW", new)):
        problem = validate_player_name(value)
        if problem:
            raise UserError(f"{label} {value!r}: {problem}")
    settings = obj.settings()
    with _closing(obj.open_store()) as store:
        try:
            with store.lock("poll"):
                store.rename_player(old, new, _now())
        except StoreError as exc:
            raise UserError(str(exc)) from exc
    click.echo(f"Renamed {old} → {new}; history carried over.")
    names = {normalize_name(p.name) for p in settings.players}
    if normalize_name(old) in names or normalize_name(new) not in names:
        click.echo(
            f"Now change name = {old!r} to name = {new!r} in {settings.path} "
            "so the next poll follows the new name."
        )


def _now():  # type: ignore[no-untyped-def]
    from .pipeline import utcnow

    return utcnow()


# -- check ---------------------------------------------------------------------------------------


@cli.command()
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
    from .checks import run_checks, terminal_progress
    from .settings import ConfigError

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


# -- entry point ---------------------------------------------------------------------------------


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

        from .store import StoreError

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


from .cli_prices import price  # noqa: E402 - its own module; it imports only click up front

cli.add_command(price)

from .cli_stats import stats  # noqa: E402 - its own module; it imports only click up front

cli.add_command(stats)


from .cli_run import run  # noqa: E402 - the scheduler command, in its own module

cli.add_command(run)
