"""`osrs-notify players list`, `players rename` and `players refresh`; `add` and `remove`
live in :mod:`.players_edit` (joined to the group in :mod:`poller.cli`)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from .context import Context, UserError, closing

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from datetime import datetime

    from ..passes import Batch


@click.group()
def players() -> None:
    """List, add or remove configured players, carry a player's history to a new name, or
    re-check account types now.

    \b
    Example:
      osrs-notify players list --json
      osrs-notify players add "Lynx Titan" --mode ironman
      osrs-notify players remove "Lynx Titan"
      osrs-notify players rename "Old Name" "New Name"
      osrs-notify players refresh
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
    from ..checks import webhook_problems
    from ..report import player_rows, print_players

    settings = obj.settings()
    with closing(obj.open_store()) as store:
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
    from ..clock import utcnow
    from ..names import normalize_name, validate_player_name
    from ..store import StoreError

    for label, value in (("OLD", old), ("NEW", new)):
        problem = validate_player_name(value)
        if problem:
            raise UserError(f"{label} {value!r}: {problem}")
    settings = obj.settings()
    with closing(obj.open_store()) as store:
        try:
            with store.lock("poll"):
                store.rename_player(old, new, utcnow())
        except StoreError as exc:
            raise UserError(str(exc)) from exc
    click.echo(f"Renamed {old} → {new}; history carried over.")
    names = {normalize_name(p.name) for p in settings.players}
    if normalize_name(old) in names or normalize_name(new) not in names:
        click.echo(
            f"Now change name = {old!r} to name = {new!r} in {settings.path} "
            "so the next poll follows the new name."
        )


@players.command("refresh")
@click.argument("name", required=False)
@click.pass_obj
def players_refresh(obj: Context, name: str | None) -> None:
    """Re-check the account type of every mode = "auto" player now (or of NAME only).

    The check is a poll of those players that looks at the boards first: their stats are
    stored, and a change of type is announced as a poll would (a hardcore's death, a
    de-iron). It costs 1 extra request for a regular account, 2 for a hardcore and 3 for an
    ironman or ultimate, at the configured rate. Polls re-check by themselves weekly (daily for
    hardcores); this is for "now".

    \b
    Example:
      osrs-notify players refresh
      osrs-notify players refresh "Lynx Titan"
    """
    import dataclasses

    from ..clock import utcnow
    from ..names import AUTO, normalize_name
    from ..passes import Batch, Players, run_pass
    from ..redis_layer import run_lock
    from ..store import LockHeld

    settings = obj.settings()
    wanted = [p for p in settings.players if p.mode == AUTO]
    if name is not None:
        entry = settings.player(name)
        if entry is None:
            raise UserError(f"{name!r} is not a player in {settings.path}")
        if entry.mode != AUTO:
            raise UserError(
                f"{entry.name} has mode = {entry.mode!r} in {settings.path}: an explicit mode "
                "is not detected (remove it, or set mode = \"auto\")"
            )
        wanted = [entry]
    if not wanted:
        click.echo('No player has mode = "auto": nothing to re-check.')
        return
    keys = {normalize_name(p.name) for p in wanted}

    class Due:
        """The chosen players, their types made due (a check happens on the way)."""

        def batches(self, now: Callable[[], datetime]) -> Iterator[Batch]:
            yield Batch(players=[
                dataclasses.replace(p, account_type_at=None)
                for p in store.active_players() if p.key in keys
            ])

    with closing(obj.open_store()) as store:
        fetcher = obj.hiscores(settings)
        redis = obj.redis(settings)
        before = {p.key: p.account_type for p in store.all_players()}
        try:
            with run_lock(store, redis, "poll"):
                store.sync_players([(p.name, p.mode) for p in settings.players], utcnow())
                done = run_pass(settings, store, players=Players(fetcher, Due()), prices=False,
                                redis=redis)
                delivery = obj.deliver(settings, store)
        except LockHeld:
            click.echo("A poll is running; try again when it is done.")
            return
        after = {p.key: p for p in store.all_players()}
    failed = {r.name: r.error for r in (done.players.failed if done.players else ())}
    for entry in wanted:
        st = after.get(entry.key)
        was, now = before.get(entry.key), st.account_type if st else None
        if entry.name in failed:
            click.echo(f"{entry.name}: not checked ({failed[entry.name]}); still {was or '?'}")
        elif now is None:
            click.echo(f"{entry.name}: on none of the regular and ironman boards")
        elif was is not None and was != now:
            click.echo(f"{entry.name}: {was} → {now}")
        else:
            click.echo(f"{entry.name}: {now}")
    from ..report import print_delivery_report

    print_delivery_report(delivery)
    sys.exit(max(done.exit_code, delivery.exit_code))

