"""`check`: every problem with a setup, found in one go rather than one per cron failure."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .hiscores import HiscoresClient
    from .settings import Settings
    from .store import Store


def setup_warnings(settings: Settings) -> list[str]:
    """Things that are allowed at load time (so the example config runs) but need a look."""
    lines = [
        f"{settings.path.name}: ${{{var.split(' ')[0]}}} is not set {' '.join(var.split(' ')[1:])}"
        for var in settings.unset_vars
    ]
    for hook in settings.webhooks.values():
        if not hook.url:
            lines.append(
                f"webhook {hook.name!r} has no URL: nothing is queued or sent for it "
                "(set it in the environment or in .env beside the config)"
            )
    return lines


def webhook_problems(settings: Settings, store: Store) -> list[str]:
    """Webhooks Discord refused (disabled until their URL changes) and messages stranded for
    webhooks no longer in the config: the things a server owner must act on."""
    from .deliver import address_hash

    held = store.count_pending(include_held=True)
    lines = []
    for name, state in store.webhook_states().items():
        if not state.disabled:
            continue
        hook = settings.webhooks.get(name)
        if hook is not None and hook.address is not None and (
            address_hash(hook.address) != state.address_hash
        ):
            continue  # its URL changed since: the next run re-enables it
        lines.append(
            f"webhook {name!r} is disabled since {state.changed_at:%Y-%m-%d %H:%M} UTC "
            f"({state.reason}); {held.get(name, 0)} message(s) kept until its URL is fixed"
        )
    for name, count in held.items():
        if name not in settings.webhooks:
            lines.append(
                f"{count} message(s) wait for webhook {name!r}, which is no longer in the config"
            )
    return lines


def player_problems(settings: Settings, store: Store) -> list[str]:
    """Configured players the hiscores have never known (a typo or the wrong mode): the
    admin's problem, never a "missing" message to the clan."""
    from .store import normalize_name

    configured = {normalize_name(p.name) for p in settings.players}
    return [
        f"player {st.name!r} was never found on the {st.mode} hiscores in "
        f"{st.not_found_streak} poll(s): check the spelling and the mode"
        for st in store.all_players()
        if st.key in configured and st.last_snapshot is None and st.not_found_streak > 0
    ]


def run_checks(settings: Settings, *, hiscores: HiscoresClient | None) -> list[str]:
    """Return one line per problem (empty = all good). Never raises for a reachable problem."""
    from .errors import OSRSApiError, PlayerNotFound
    from .store import StoreError, open_store

    problems = setup_warnings(settings)

    try:
        store = open_store(settings.database_url)
    except StoreError as exc:
        problems.append(f"database: {exc}")
    else:
        try:
            problems += webhook_problems(settings, store)
            problems += player_problems(settings, store)
            if settings.watch:
                problems += _watch_problems(settings, store, online=hiscores is not None)
        finally:
            store.close()

    if hiscores is not None:
        if settings.players:
            first = settings.players[0]
            try:
                hiscores.fetch(first.name, first.mode)
            except PlayerNotFound:
                # The endpoint answered, so it is reachable; the player may be renamed.
                problems.append(
                    f"hiscores: {first.name} is not on the {first.mode} hiscores "
                    "(renamed, banned, or a typo?)"
                )
            except OSRSApiError as exc:
                problems.append(f"hiscores ({settings.api_endpoint}): {exc}")
        for hook in settings.webhooks.values():
            if hook.address is not None:
                problem = _check_webhook(settings, hook.address)
                if problem:
                    problems.append(f"webhook {hook.name!r} ({hook.address.masked}): {problem}")
        if settings.redis_url:
            from .redis_layer import connect

            layer = connect(settings)
            assert layer is not None
            problem = layer.ping()
            layer.close()
            if problem:
                problems.append(problem)
    return problems


def _watch_problems(settings: Settings, store: Store, *, online: bool) -> list[str]:
    """The watchlist: a contact for the Wiki's User-Agent, every item known (online: after
    refreshing the item list, which also proves the Wiki answers)."""
    from .price_pass import watch_problems

    client = None
    if online:
        from .http import HttpClient
        from .prices import PricesClient, wiki_http_config

        client = PricesClient(HttpClient(wiki_http_config(settings)), settings.prices_endpoint)
    return watch_problems(settings, store, client)


def _check_webhook(settings: Settings, address: object) -> str | None:
    """GET on a webhook URL returns its details without posting anything."""
    import requests

    url = address.url(settings.discord_api_base)  # type: ignore[attr-defined]
    try:
        resp = requests.get(url, timeout=settings.poll.timeout)
    except requests.RequestException as exc:
        return f"unreachable ({type(exc).__name__})"
    if resp.status_code == 200:
        return None
    if resp.status_code in (401, 404):
        return f"Discord says the webhook does not exist or the token is wrong ({resp.status_code})"
    return f"unexpected answer {resp.status_code}"
