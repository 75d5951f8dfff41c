"""Account types read off the hiscores (``mode = "auto"``), and the type changes that are news.

An ironman is listed on the regular board *and* on the ironman board with the same overall XP; a
hardcore or an ultimate also on their own board. When an account leaves a type its board freezes:
a dead hardcore's hardcore board stops at the XP of the death while the ironman board grows, a
de-ironed account's ironman board stops while the regular one grows. So, as the Wise Old Man
does, the type is the most specific board whose overall XP is not below the next more general
one's, and the boards are asked cheapest first: most players settle after the regular and the
ironman board (a 404 on the ironman board: regular), only the iron family goes on.

A board that is *down* (5xx, timeout, a maintenance page, 429) says nothing about the player: the
check is not settled, the known type stays, and the check is due again on the next poll. Only a
404 means "not on this board". Pure rules (:func:`next_board`, :func:`classify`,
:func:`type_news`) are table-tested; :func:`fetch_auto` drives a fetcher and never reads a clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol

from .errors import OSRSApiError, PlayerNotFound
from .events import Event
from .names import IRON_TYPES, REGULAR

if TYPE_CHECKING:
    from .snapshot import Snapshot

# How long a settled type is trusted. A hardcore's death is news a clan wants the same day; a
# de-iron or an ultimate's downgrade can wait for the weekly look.
RECHECK_AFTER = timedelta(days=7)
RECHECK_AFTER_TYPE: Mapping[str, timedelta] = MappingProxyType({"hardcore": timedelta(days=1)})

# The `player` event variants a type change announces.
HARDCORE_DEATH = "hardcore_death"
DEIRONED = "deironed"
TYPE_NEWS: tuple[str, ...] = (HARDCORE_DEATH, DEIRONED)

# Overall XP per board asked; None = that board does not know the player (404).
Seen = Mapping[str, "int | None"]


class BoardFetcher(Protocol):
    """The hiscores seam (:class:`poller.hiscores.HiscoresClient`, or a test fake)."""

    def fetch(
        self, name: str, mode: str = REGULAR, *, not_before: datetime | None = None
    ) -> Snapshot: ...


class TypeState(Protocol):
    """What a check needs to know of a player (:class:`poller.store.PlayerState`)."""

    @property
    def name(self) -> str: ...

    @property
    def account_type(self) -> str | None: ...

    @property
    def account_type_at(self) -> datetime | None: ...

    @property
    def not_found_streak(self) -> int: ...

    @property
    def last_polled_at(self) -> datetime | None: ...

    @property
    def last_snapshot(self) -> Snapshot | None: ...


# -- the rules ------------------------------------------------------------------------------------


def next_board(seen: Seen) -> str | None:
    """The next board to ask given what the boards asked so far said; None once settled."""
    if "regular" not in seen:
        return "regular"
    if "ironman" not in seen:
        return "ironman"
    regular, iron = seen["regular"], seen["ironman"]
    if iron is None or (regular is not None and iron < regular):
        return None  # never an ironman, or de-ironed: the iron family's boards cannot matter
    if "hardcore" not in seen:
        return "hardcore"
    hardcore = seen["hardcore"]
    if hardcore is not None and hardcore >= iron:
        return None
    return "ultimate" if "ultimate" not in seen else None


def classify(seen: Seen) -> str | None:
    """The account type the boards show; None when no board knows the player.

    A board "holds" the player when its overall XP is at least the more general board's: an
    ironman's regular and ironman XP are equal, a dead hardcore's hardcore XP is below the
    ironman XP earned since. A low-level ironman may be on the ironman board only (the regular
    board has a higher bar to be listed), which still makes an ironman.
    """
    regular, iron = seen.get("regular"), seen.get("ironman")
    if iron is None or (regular is not None and iron < regular):
        return REGULAR if regular is not None else None
    for board in ("hardcore", "ultimate"):
        xp = seen.get(board)
        if xp is not None and xp >= iron:
            return board
    return "ironman"


def recheck_due(account_type: str | None, checked_at: datetime | None, now: datetime) -> bool:
    """Whether a settled check is old enough to look at the boards again (a check that found
    the player on no board, ``account_type`` None, counts too: weekly)."""
    if checked_at is None:
        return True
    return now - checked_at >= RECHECK_AFTER_TYPE.get(account_type or "", RECHECK_AFTER)


@dataclass(frozen=True, slots=True)
class TypeCheck:
    """A settled look at the boards: the type (None: on no board), when, and each board's
    answer (None: 404) in the order asked."""

    account_type: str | None
    checked_at: datetime
    boards: Mapping[str, Snapshot | None]

    @property
    def snapshot(self) -> Snapshot | None:
        """The player's stats from their own board (a dead hardcore's from the ironman one)."""
        return self.boards.get(self.account_type) if self.account_type is not None else None

    def xp(self, board: str) -> int | None:
        return overall(self.boards.get(board))


def overall(snapshot: Snapshot | None) -> int | None:
    """A board's overall XP; 0 when the board lists the player with overall unranked (a very
    low total), so that being listed still counts."""
    if snapshot is None:
        return None
    xp = snapshot.overall_xp
    return xp if xp is not None and xp >= 0 else 0


def type_news(before: str | None, check: TypeCheck) -> tuple[tuple[Event, Snapshot | None], ...]:
    """The news in a type change, each with the snapshot its message shows.

    Only changes the boards *prove* are news: a death needs the hardcore board listing the
    player below the ironman board (it froze at the death; its snapshot is the total level and
    XP at death), a de-iron the ironman board below the regular one. A change read from a 404
    (a board that stopped knowing the player, maybe for an hour) is applied but said nowhere.
    The first check (``before`` None) is a baseline, never news.
    """
    after = check.account_type
    if before is None or after is None or before == after:
        return ()
    iron, hardcore, regular = check.xp("ironman"), check.xp("hardcore"), check.xp("regular")
    if before == "hardcore" and after == "ironman" and hardcore is not None and (
        iron is not None and hardcore < iron
    ):
        return ((Event("player", HARDCORE_DEATH), check.boards["hardcore"]),)
    if before in IRON_TYPES and after == REGULAR and iron is not None and (
        regular is not None and iron < regular
    ):
        return ((Event("player", DEIRONED), check.snapshot),)
    return ()


# -- asking the boards ----------------------------------------------------------------------------


def detect(fetcher: BoardFetcher, name: str, now: datetime) -> TypeCheck:
    """Ask the boards, cheapest first, until the type is settled.

    Every answer must be fresh (``not_before=now``): a cached hardcore board older than the
    ironman board just fetched would look frozen below it, which reads as a death. Raises the
    first error other than a 404 (the check is then not settled).
    """
    seen: dict[str, int | None] = {}
    boards: dict[str, Snapshot | None] = {}
    while (board := next_board(seen)) is not None:
        try:
            snapshot: Snapshot | None = fetcher.fetch(name, board, not_before=now)
        except PlayerNotFound:
            snapshot = None
        boards[board] = snapshot
        seen[board] = overall(snapshot)
    return TypeCheck(classify(seen), now, MappingProxyType(boards))


class OnNoBoard(PlayerNotFound):
    """A settled check found the player on no board: a 404 for the poll, and a check whose
    time is kept, so a name no board knows costs one request a poll, not every board."""

    def __init__(self, message: str, check: TypeCheck) -> None:
        super().__init__(message)
        self.check = check


@dataclass(frozen=True, slots=True)
class Polled:
    """An ``auto`` player's poll: their stats, and the check made on the way (if one was)."""

    snapshot: Snapshot
    check: TypeCheck | None = None


def fetch_auto(fetcher: BoardFetcher, player: TypeState, now: datetime) -> Polled:
    """Poll an ``auto`` player: from their known board, after a check when one is due.

    A check is due on the first poll, when the type is older than its re-check interval, and at
    once when the known board stops knowing a player it listed last time (a type change can do
    that; a player still missing after it waits for the next due check, so a banned member does
    not cost every board on every poll) or when the regular board first lists a name the last
    check found nowhere. The boards a check read are the poll: the snapshot of
    the type found is used, never fetched twice. Raises as :meth:`HiscoresClient.fetch` does.
    """
    known = player.account_type
    board = known or REGULAR
    not_before = player.last_polled_at
    stopped_knowing = False
    if not recheck_due(known, player.account_type_at, now):
        try:
            snapshot = fetcher.fetch(player.name, board, not_before=not_before)
        except PlayerNotFound:
            listed_last_time = player.last_snapshot is not None and player.not_found_streak == 0
            if not listed_last_time:
                raise
            stopped_knowing = True
        else:
            if known is not None:
                return Polled(snapshot)
            # Found at last (a name on no board at the last check, now ranked): settle the
            # type before the first snapshot is taken from a board.
    try:
        check = detect(fetcher, player.name, now)
    except OSRSApiError as exc:
        if not exc.transient or known is None or stopped_knowing:
            # Not a 404 either: the poll is "unavailable", no step towards "missing".
            raise
        # A board is down: no verdict on the type. The stats still flow from the known board;
        # the check stays due and is tried again on the next poll.
        return Polled(fetcher.fetch(player.name, board, not_before=not_before))
    if check.snapshot is None:
        raise OnNoBoard(f"{player.name!r} is on none of the regular and ironman boards", check)
    return Polled(check.snapshot, check)
