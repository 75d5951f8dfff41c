"""`osrs-notify players add NAME` and `osrs-notify players remove NAME`: edit the config file's
``[[players]]`` in place (comments and layout kept; see :mod:`poller.config_edit`)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from ..names import CONFIG_MODES
from .context import EXIT_PARTIAL, Context, UserError

if TYPE_CHECKING:
    from pathlib import Path


def _write(path: Path, text: str) -> None:
    """Write the edited config once the normal loader accepts it; refuse otherwise."""
    from ..config import load_settings
    from ..config_edit import write_checked
    from ..settings import ConfigError

    try:
        write_checked(path, text, load_settings)
    except ConfigError as exc:
        where = f"{exc.key}: " if exc.key else ""
        allowed = f" (allowed: {exc.allowed})" if exc.allowed else ""
        raise UserError(f"the config would not load after this edit, so {path} is left as it "
                        f"is: {where}{exc.problem}{allowed}") from None
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None


@click.command("add")
@click.argument("name")
@click.option("--mode", type=click.Choice(tuple(CONFIG_MODES)), default=None,
              help="The player's hiscores board (written to the config; default: regular).")
@click.option("--webhooks", metavar="NAMES", default=None,
              help="Comma-separated webhooks that take this player (default: every webhook "
                   "that includes them).")
@click.option("--offline", is_flag=True, help="Add without looking the player up first.")
@click.option("--force", is_flag=True,
              help="Add even when the hiscores do not know the name (or cannot be reached).")
@click.pass_obj
def players_add(obj: Context, name: str, mode: str | None, webhooks: str | None,
                offline: bool, force: bool) -> None:
    """Add NAME to the config file as a [[players]] table, keeping its comments.

    The name is checked (the game's rules, not already listed) and looked up on the hiscores
    first: a name they do not know is refused unless --force. The next poll takes the new
    player's baseline — or carries a renamed player's history over when the old name was
    removed in the same edit.

    \b
    Example:
      osrs-notify players add "Lynx Titan"
      osrs-notify players add Hey_Jase --mode ironman --webhooks clan
    """
    from ..config_edit import EditRefused, add_player
    from ..errors import OSRSApiError, PlayerNotFound
    from ..names import DEFAULT_MODE, board_mode, validate_player_name

    problem = validate_player_name(name)
    if problem:
        raise UserError(f"player name {name!r}: {problem}")
    settings = obj.settings()  # a config that does not load is refused before any edit
    hooks = None
    if webhooks is not None:
        hooks = [h.strip() for h in webhooks.split(",") if h.strip()]
        unknown = [h for h in hooks if h not in settings.webhooks]
        if unknown or not hooks:
            known = ", ".join(sorted(settings.webhooks)) or "none"
            raise UserError(f"--webhooks: no webhook named {', '.join(unknown) or '(empty)'} "
                            f"(configured: {known})")
    path = settings.path
    try:
        text = add_player(path.read_text(encoding="utf-8"), name, mode=mode, webhooks=hooks)
    except EditRefused as exc:
        raise UserError(str(exc)) from None
    # `auto` (the default) looks on the regular board, then the ironman one (a low ironman
    # may be ranked only there); the poll detects the exact type.
    boards = [board_mode(mode)] if mode and mode != DEFAULT_MODE else ["regular", "ironman"]
    board = boards[0]
    found = ""
    if not offline:
        try:
            client = obj.hiscores(settings)
            for board in boards:
                try:
                    snapshot = client.fetch(name, board)
                    break
                except PlayerNotFound:
                    if board == boards[-1]:
                        raise
            level = snapshot.overall_level
            found = f"; on the {board} hiscores" + (f" at total level {level:,}" if level else "")
        except PlayerNotFound:
            if not force:
                raise UserError(f"{name} is not on the {' or '.join(boards)} hiscores: check the "
                                "spelling and --mode (--force adds it anyway)") from None
            found = f"; not on the {' or '.join(boards)} hiscores (added with --force)"
        except OSRSApiError as exc:
            if not force:
                click.echo(f"error: could not look {name} up on the hiscores: {exc} "
                           "(--offline adds it without looking)", err=True)
                sys.exit(EXIT_PARTIAL)
            found = "; not looked up (the hiscores could not be reached; added with --force)"
    _write(path, text)
    click.echo(f"Added {name} to {path}{found}. The next poll takes their baseline.")


@click.command("remove")
@click.argument("name")
@click.pass_obj
def players_remove(obj: Context, name: str) -> None:
    """Remove NAME's [[players]] table from the config file, keeping its comments.

    Their history stays in the database, as when the table is deleted by hand: `players list`
    shows it, and adding the name back carries on from it.

    \b
    Example:
      osrs-notify players remove "Lynx Titan"
    """
    from ..config_edit import EditRefused, remove_player

    settings = obj.settings()
    path = settings.path
    try:
        text, shown = remove_player(path.read_text(encoding="utf-8"), name)
    except EditRefused as exc:
        raise UserError(f"{exc} ({path})") from None
    _write(path, text)
    click.echo(f"Removed {shown} from {path}. Their history is kept: `players list` shows it, "
               "and adding the name back carries on from it.")
