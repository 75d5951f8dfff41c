"""`osrs-notify deliver` (the outbox only) and `osrs-notify webhook test`."""

from __future__ import annotations

import sys

import click

from .context import (
    EXIT_PARTIAL,
    Context,
    UserError,
    checked_metrics_file,
    closing,
    metrics_file_option,
)


@click.command()
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
    from ..clock import utcnow
    from ..redis_layer import run_lock
    from ..report import print_delivery_report
    from ..run_log import record_run
    from ..store import LockHeld

    settings = obj.settings()
    if only is not None and only not in settings.webhooks:
        raise UserError(f"no webhook named {only!r} (configured: {', '.join(settings.webhooks)})")
    metrics_file = checked_metrics_file(metrics_file)
    requeued = 0
    with closing(obj.open_store()) as store:
        try:
            # Same lock as poll: two senders would post the same message twice.
            with run_lock(store, obj.redis(settings), "poll"):
                if retry_failed:
                    requeued = store.retry_failed(utcnow(), None if only is None else [only])
                report = obj.deliver(settings, store, only=only, ignore_backoff=now)
                record_run(store, "deliver", delivery=report, redis=obj.redis(settings),
                           metrics_file=metrics_file)
        except LockHeld:
            click.echo("A poll or delivery is still running; this one is skipped.")
            return
    if retry_failed:
        click.echo(f"{requeued} failed message(s) queued again.")
    print_delivery_report(report, idle_line=True)
    sys.exit(report.exit_code)


@click.group()
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

    from ..clock import utcnow
    from ..deliver import style_of
    from ..delivery_status import address_hash

    settings = obj.settings()
    hook = settings.webhooks.get(name)
    if hook is None:
        raise UserError(f"no webhook named {name!r} (configured: {', '.join(settings.webhooks)})")
    if hook.address is None:
        raise UserError(f"webhook {name!r} has no URL: set it in the environment or .env")
    message = sample_message(style_of(hook))
    result = obj.sender(settings).send(hook.address, message.body, thread_id=hook.thread_id)
    now = utcnow()
    with closing(obj.open_store()) as store:
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
