"""Which webhooks take a player's event when the config still names them by an old name.

Split from :mod:`poller.pipeline`: the one place a poll's routing looks past ``settings.route``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING

from .names import normalize_name

if TYPE_CHECKING:
    from .settings import Settings
    from .store import PlayerState, Store


def config_route(
    settings: Settings, store: Store, players: Sequence[PlayerState]
) -> Callable[[str, str], tuple[str, ...]]:
    """``settings.route``, but for a player followed through ``players rename`` while the config
    still lists the old name: routed as that config entry (its own webhooks, the webhooks'
    players/exclude lists), not as an unknown name that every "*" webhook takes.

    Webhooks without a URL are routed to as well: their messages are held until it is set
    (`deliver` says so on every run), never dropped because a `.env` was forgotten."""
    configured = {entry.key for entry in settings.players}
    if all(p.key in configured for p in players):  # the usual case: no extra query
        return partial(settings.route, include_unconfigured=True)
    renamed = {p.key: p.renamed_to for p in store.all_players() if p.renamed_to}
    aliases: dict[str, str] = {}
    for entry in settings.players:
        key, seen = entry.key, set()
        while key in renamed and key not in seen:
            seen.add(key)
            key = normalize_name(renamed[key])
        if key != entry.key and key not in configured:
            aliases[key] = entry.name

    def route(kind: str, player: str) -> tuple[str, ...]:
        name = aliases.get(normalize_name(player), player)
        return settings.route(kind, name, include_unconfigured=True)

    return route
