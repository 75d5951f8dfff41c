"""What every command receives (:class:`Context`), and what they share: the user-error type, the
exit codes, the ``--metrics-file`` option.

Imports only click up front: a cron run pays for every import, and ``--help`` should pay for
almost none. The parts a command needs (settings, store, clients) are built on first use.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from notifier.sender import WebhookSender

    from ..deliver import DeliveryReport
    from ..hiscores import HiscoresClient
    from ..http import HttpConfig
    from ..redis_layer import RedisLayer
    from ..settings import Settings
    from ..store import Store

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2


class UserError(click.ClickException):
    """A problem the user can fix: one line on stderr, exit 2, nothing done."""

    exit_code = EXIT_USAGE

    def show(self, file: object = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


# `poll`, `deliver` and `run` take it (`stats` has its own, without the env var).
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
    from ..prometheus import check_metrics_path

    problem = check_metrics_path(path)
    if problem:
        raise UserError(problem)
    return path


def http_config(settings: Settings) -> HttpConfig:
    """The HTTP settings for Jagex's servers (hiscores, the official GE guide)."""
    from .. import __version__
    from ..http import HttpConfig

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
def closing(store: Store) -> Iterator[Store]:
    try:
        yield store
    finally:
        store.close()


class Context:
    """What every command receives: the config path and lazily built parts."""

    def __init__(self, config_path: str, debug: bool) -> None:
        self.config_path = config_path
        self.debug = debug
        self._settings: Settings | None = None
        self._redis: tuple[RedisLayer | None] | None = None

    def settings(self) -> Settings:
        if self._settings is None:
            from ..config import load_settings
            from ..settings import ConfigError

            try:
                self._settings = load_settings(self.config_path)
            except ConfigError as exc:
                raise UserError(str(exc)) from exc
        return self._settings

    def settings_or_defaults(self) -> Settings:
        """For commands that work without a config file (lookup, price): then env vars and
        defaults apply."""
        from dataclasses import replace

        from ..config import default_settings

        if self.has_config():
            return self.settings()
        # No config means no database: keep the HTTP cache in memory rather than leave an
        # osrs-notify.db.http-cache file in whatever directory the command was run from.
        return replace(default_settings(), database_url="sqlite:///:memory:")

    def has_config(self) -> bool:
        return Path(self.config_path).exists()

    def open_store(self) -> Store:
        from ..store import DatabaseFull, StoreError, open_store

        try:
            return open_store(self.settings().database_url)
        except DatabaseFull:
            raise  # no setup error: main() says it in one line, exit 1
        except StoreError as exc:
            raise UserError(str(exc)) from exc

    def sender(self, settings: Settings) -> WebhookSender:
        from notifier.sender import WebhookSender

        from .. import __version__

        return WebhookSender(
            settings.discord_api_base,
            timeout=settings.poll.timeout,
            user_agent=f"osrs-notify/{__version__} (self-hosted Discord notifier)",
        )

    def hiscores(self, settings: Settings | None = None) -> HiscoresClient:
        from ..hiscores import HiscoresClient
        from ..http import HttpClient
        from ..redis_layer import http_options

        s = settings or self.settings()
        config = http_config(s)
        client = HttpClient(config, **http_options(self.redis(s), config))
        return HiscoresClient(client, s.api_endpoint)

    def redis(self, settings: Settings | None = None) -> RedisLayer | None:
        """The optional Redis layer (None unless `redis` / REDIS_URL is set), built once."""
        if self._redis is None:
            from ..redis_layer import connect

            self._redis = (connect(settings or self.settings()),)
        return self._redis[0]

    def deliver(
        self, settings: Settings, store: Store, *, only: str | None = None,
        ignore_backoff: bool = False,
    ) -> DeliveryReport:
        """The outbox, sent under delivery leases: a `run` process on the same database (which
        claims with leases too) can never post the same message at the same moment."""
        from ..deliver import LazySender, LeaseClaim, deliver_pending

        claim = LeaseClaim(store)
        try:
            return deliver_pending(
                settings, store, LazySender(lambda: self.sender(settings)), claim=claim,
                only=only, ignore_backoff=ignore_backoff,
            )
        finally:
            claim.release()
