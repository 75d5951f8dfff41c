"""`osrs-notify competition list` and `competition show NAME`."""

from __future__ import annotations

import click

from .context import Context, UserError, closing


@click.group()
def competition() -> None:
    """Competitions from the config: past, current and upcoming rounds, with standings.

    \b
    Example:
      osrs-notify competition list
      osrs-notify competition show SOTW --json
    """


@competition.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.pass_obj
def competition_list(obj: Context, as_json: bool) -> None:
    """Every configured competition: its metric, its current or next round, the leader.

    \b
    Example:
      osrs-notify competition list
    """
    from ..competition_view import list_json, list_lines, overview

    settings = obj.settings()
    if not settings.competitions:
        click.echo("No competitions configured: add [[competition]] tables to the config.")
        return
    with closing(obj.open_store()) as store:
        views = [overview(settings, store, c) for c in settings.competitions]
    if as_json:
        import json

        click.echo(json.dumps(list_json(views, settings.timezone), indent=2))
        return
    for line in list_lines(views, settings.timezone):
        click.echo(line)


@competition.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.pass_obj
def competition_show(obj: Context, name: str, as_json: bool) -> None:
    """One competition: the current round's standings (the final ones once it ended), who has
    not gained, the next round, and for a recurring one its wins and podiums.

    \b
    Example:
      osrs-notify competition show SOTW
    """
    from ..competition_view import overview, show_json, show_lines

    settings = obj.settings()
    chosen = next((c for c in settings.competitions if c.name.lower() == name.lower()), None)
    if chosen is None:
        known = ", ".join(c.name for c in settings.competitions) or "none configured"
        raise UserError(f"no [[competition]] named {name!r} (competitions: {known})")
    with closing(obj.open_store()) as store:
        view = overview(settings, store, chosen, standings=True)
    if as_json:
        import json

        click.echo(json.dumps(show_json(view, settings.timezone), indent=2))
        return
    for line in show_lines(view, settings.timezone):
        click.echo(line)
