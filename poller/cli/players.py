"""`osrs-notify players list` and `osrs-notify players rename`; `add` and `remove` live in
:mod:`.players_edit` (joined to the group in :mod:`poller.cli`)."""

from __future__ import annotations

import json

import click

from .context import Context, UserError, closing


@click.group()
def players() -> None:
    """List, add or remove configured players, or carry a player's history to a new name.

    \b
    Example:
      osrs-notify players list --json
      osrs-notify players add "Lynx Titan" --mode ironman
      osrs-notify players remove "Lynx Titan"
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
