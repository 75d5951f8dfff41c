"""`check`: every problem with a setup, found in one go rather than one per cron failure."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from .hiscores import HiscoresClient
    from .settings import Settings
    from .store import PlayerState, Store

# Called after each hiscores lookup: (players looked up so far, how many in all).
Progress = Callable[[int, int], None]


def setup_warnings(settings: Settings) -> list[str]:
    """Things that are allowed at load time (so the example config runs) but need a look."""
    lines = [
        f"{settings.path.name}: ${{{var.split(' ')[0]}}} is not set {' '.join(var.split(' ')[1:])}"
        for var in settings.unset_vars
    ]
    for hook in settings.webhooks.values():
        if not hook.url:
            lines.append(
                f"webhook {hook.name!r} has no URL: its messages are held until it is set "
                "(in the environment or in .env beside the config)"
            )
    return lines


def webhook_problems(settings: Settings, store: Store) -> list[str]:
    """Delivery problems a server owner must act on: held, disabled, paused, refused
    (see :func:`poller.delivery_status.outbox_problems`)."""
    from .clock import utcnow
    from .delivery_status import outbox_problems

    return outbox_problems(settings, store, utcnow())


def player_problems(settings: Settings, store: Store) -> list[str]:
    """Configured players the hiscores have never known (a typo or the wrong mode): the
    admin's problem, never a "missing" message to the clan."""
    from .names import normalize_name

    configured = {normalize_name(p.name) for p in settings.players}
    return [
        _never_found(st)
        for st in store.all_players()
        if st.key in configured and _never_found_before(st)
    ]


def _never_found_before(st: PlayerState) -> bool:
    return st.last_snapshot is None and st.not_found_streak > 0


def _never_found(st: PlayerState) -> str:
    from .names import board_mode

    return (
        f"player {st.name!r} was never found on the {board_mode(st.mode, st.account_type)} "
        "hiscores in "
        f"{st.not_found_streak} poll(s): check the spelling and the mode"
    )


# A player to look up: the name and mode a poll would fetch (a `players rename` followed), and
# what earlier polls stored about them (None when the database could not say).
Lookup = tuple[str, str, "PlayerState | None"]


def run_checks(
    settings: Settings, *, hiscores: HiscoresClient | None, progress: Progress | None = None
) -> list[str]:
    """Return one line per problem (empty = all good). Never raises for a reachable problem.

    Online (``hiscores`` given), every configured player is looked up; ``progress`` hears of
    each lookup (a terminal shows how far it is: at the default rate that is a minute per 60
    players).
    """
    from .names import board_mode
    from .store import StoreError, open_store

    problems = setup_warnings(settings)
    lookups: list[Lookup] | None = None

    try:
        store = open_store(settings.database_url)
    except StoreError as exc:
        problems.append(f"database: {exc}")
    else:
        try:
            damage = store.integrity_problems()
            if damage:
                # The rest would read the same broken pages: the file is the one problem.
                problems.append(
                    f"database: {store.url} fails SQLite's integrity check "
                    f"({'; '.join(damage)}): restore it from a backup, or move it aside to "
                    "start a new database"
                )
            else:
                problems += webhook_problems(settings, store)
                if hiscores is None:
                    problems += player_problems(settings, store)
                else:
                    # The lookups below say it better (and now): never both for one player.
                    wanted = [(p.name, p.mode) for p in settings.players]
                    # An ``auto`` player is looked up on the board of the type last found.
                    lookups = [(st.name, board_mode(st.mode, st.account_type), st)
                               for st in store.preview_players(wanted)]
                if settings.watch:
                    problems += _watch_problems(settings, store, online=hiscores is not None)
        except StoreError as exc:
            problems.append(f"database: {exc}")
        finally:
            store.close()

    if hiscores is not None:
        if lookups is None:  # the database could not say which names a poll would fetch
            lookups = [(p.name, board_mode(p.mode), None) for p in settings.players]
        if lookups:
            problems += hiscores_problems(
                hiscores, lookups, concurrency=settings.poll.concurrency,
                endpoint=settings.api_endpoint, progress=progress,
            )
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


_SKIPPED = object()  # a lookup not made: the hiscores had already failed


def hiscores_problems(
    hiscores: HiscoresClient,
    players: Sequence[Lookup],
    *,
    concurrency: int,
    endpoint: str,
    progress: Progress | None = None,
) -> list[str]:
    """Look every player up and name those the hiscores do not know.

    Requests go through the client, so they keep its rate limit (the configured one, shared
    through Redis when set) and its cache; ``concurrency`` lookups are in flight at most, as in
    a poll. A failure of the hiscores themselves (down, or refusing us) ends the round with one
    line rather than one per player still to go.
    """
    import threading
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from .errors import OSRSApiError, PlayerNotFound

    stop = threading.Event()

    def look_up(name: str, mode: str) -> object:
        if stop.is_set():
            return _SKIPPED
        try:
            hiscores.fetch(name, mode)
        except OSRSApiError as exc:
            if exc.transient:
                stop.set()
            return exc
        return None

    total = len(players)
    outcomes: list[object] = [_SKIPPED] * total
    if progress is not None:
        progress(0, total)
    pool = ThreadPoolExecutor(max_workers=max(1, min(concurrency, total)))
    try:
        futures = {pool.submit(look_up, name, mode): i for i, (name, mode, _) in enumerate(players)}
        for done, future in enumerate(as_completed(futures), start=1):
            outcomes[futures[future]] = future.result()
            if progress is not None:
                progress(done, total)
    finally:
        # Ctrl-C included: drop the lookups still queued rather than wait for each one's slot.
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)

    lines: list[str] = []
    outage: OSRSApiError | None = None
    not_looked_up = 0
    for (name, mode, state), outcome in zip(players, outcomes, strict=True):
        if isinstance(outcome, PlayerNotFound):
            lines.append(_not_on_the_hiscores(name, mode, state))
        elif isinstance(outcome, OSRSApiError) and not outcome.transient:
            lines.append(f"hiscores: {outcome}")  # this player's answer was refused
        elif outcome is not None:  # skipped, or the hiscores failed on this lookup
            outage = outage or (outcome if isinstance(outcome, OSRSApiError) else None)
            not_looked_up += 1
            if state is not None and _never_found_before(state):
                lines.append(_never_found(state))  # what earlier polls know still stands
    if outage is not None:
        lines.insert(
            0,
            f"hiscores ({endpoint}): {outage}; {not_looked_up} of {total} player(s) could not "
            "be looked up",
        )
    return lines


def _not_on_the_hiscores(name: str, mode: str, state: PlayerState | None) -> str:
    head = f"hiscores: {name!r} is not on the {mode} hiscores"
    if state is not None and state.last_snapshot is not None:
        return (
            f"{head} now (renamed or banned? `osrs-notify players rename OLD NEW` carries a "
            "renamed player's history over)"
        )
    if state is not None and state.not_found_streak > 0:
        return (
            f"{head}, nor was in {state.not_found_streak} poll(s): check the spelling and "
            "the mode"
        )
    return f"{head}: check the spelling and the mode"


def terminal_progress(stream: TextIO, rate_per_minute: int) -> Progress:
    """A progress line for a terminal, rewritten in place and wiped when done."""

    def show(done: int, total: int) -> None:
        if done >= total:
            stream.write("\r\033[K")
        else:
            line = f"hiscores: looked up {done} of {total} players"
            if rate_per_minute > 0:
                left = (total - done) * 60 / rate_per_minute
                line += f", about {_duration(left)} to go at {rate_per_minute}/min"
            stream.write(f"\r{line}\033[K")
        stream.flush()

    return show


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    return f"{round(seconds / 60)} min"


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
