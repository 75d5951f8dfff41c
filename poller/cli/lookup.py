"""`osrs-notify lookup NAME`: a player's current stats from the hiscores (no config needed)."""

from __future__ import annotations

import json
import sys

import click

from ..names import CONFIG_MODES
from .context import EXIT_PARTIAL, Context, UserError


@click.command()
@click.argument("name")
@click.option(
    "--mode",
    type=click.Choice(CONFIG_MODES),
    default=None,
    help="Hiscores board, or auto to detect the account type (default: the player's mode in "
    "the config, else auto).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.pass_obj
def lookup(obj: Context, name: str, mode: str | None, as_json: bool) -> None:
    """Show a player's current stats from the hiscores (no config needed).

    Skills with level, XP and rank, combat and total level, and every ranked boss and activity.
    With mode auto (the default) the account type is detected first, from the regular board
    and the ironman ones (2 requests for a regular account, up to 4 for an ironman).

    \b
    Example:
      osrs-notify lookup "Lynx Titan"
      osrs-notify lookup Hey_Jase --mode ironman --json
    """
    from ..errors import OSRSApiError, PlayerNotFound
    from ..names import AUTO, DEFAULT_MODE, normalize_name, validate_player_name
    from ..report import lookup_json, print_lookup

    problem = validate_player_name(name)
    if problem:
        raise UserError(f"player name {name!r}: {problem}")
    settings = obj.settings_or_defaults()
    if mode is None:
        mode = next(
            (p.mode for p in settings.players if normalize_name(p.name) == normalize_name(name)),
            DEFAULT_MODE,
        )
    detected = mode == AUTO
    try:
        if detected:
            from ..accounts import detect
            from ..clock import utcnow

            check = detect(obj.hiscores(settings), name, utcnow())
            if check.snapshot is None or check.account_type is None:
                raise PlayerNotFound(name)
            snapshot, mode = check.snapshot, check.account_type
        else:
            snapshot = obj.hiscores(settings).fetch(name, mode)
    except PlayerNotFound:
        where = "the regular and ironman" if detected else f"the {mode}"
        click.echo(f"error: {name} is not on {where} hiscores", err=True)
        sys.exit(EXIT_PARTIAL)
    except OSRSApiError as exc:
        click.echo(f"error: hiscores: {exc}", err=True)
        sys.exit(EXIT_PARTIAL)
    if as_json:
        click.echo(json.dumps(lookup_json(name, mode, snapshot, detected=detected), indent=2))
    else:
        print_lookup(name, mode, snapshot, detected=detected)
