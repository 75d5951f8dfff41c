"""Renames noticed: after a config sync that added names, carry over the history of a name that
left (or went missing) to a new name whose stats continue it.

The decision is :func:`poller.renames.match_renames`; this module gathers its inputs (the new
names' first answers, the old names' last snapshots) and applies what it decides with
:meth:`Store.rename_player` — the same move `players rename` makes by hand. The new names'
answers are handed back, so the poll that follows uses them instead of asking the hiscores
twice.

Costs nothing on a run whose sync added no name (the usual run): no query, no request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from .errors import error_line
from .renames import Decision, Seen, match_renames
from .snapshot import Snapshot

if TYPE_CHECKING:
    from notifier.notice import Notice

    from .events import Event
    from .store import PlayerState, Store, SyncReport

# The first answers of the new names, by player id: a snapshot, or the error fetching raised.
Answers = Mapping[int, "Snapshot | BaseException"]
FetchMany = Callable[[Sequence["PlayerState"]], Answers]


@dataclass(frozen=True, slots=True)
class RenamePass:
    """What the pass decided, and what the poll after it needs.

    ``decisions`` has one entry per new name that had names to be compared with;
    ``answers`` the new names' first answers (reused by the poll); ``carried`` maps each new
    name's player id to the old name whose history it took (announced once, by that poll).
    """

    decisions: tuple[Decision, ...] = ()
    answers: Answers = field(default_factory=dict)
    carried: Mapping[int, str] = field(default_factory=dict)


def _departed(store: Store, report: SyncReport) -> list[PlayerState]:
    """Names that left the config in this sync, and configured players the hiscores no longer
    find: those a new name may continue. Each must have history to continue."""
    out: list[PlayerState] = []
    for name in report.deactivated:
        state = store.get_player(name)
        if state is not None:
            out.append(state)
    missing = [p.name for p in store.active_players(with_snapshots=False)
               if p.status == "missing"]
    for name in missing:
        state = store.get_player(name)
        if state is not None:
            out.append(state)
    return [s for s in out if s.last_snapshot is not None and s.last_snapshot_at is not None
            and s.renamed_to is None]


def notice_renames(
    store: Store,
    report: SyncReport,
    fetch: FetchMany,
    now: Callable[[], datetime],
    *,
    dry_run: bool = False,
) -> RenamePass:
    """Compare the names ``report`` added with those it removed (and the missing players), and
    carry over each rename found — unless ``dry_run``, which only decides."""
    if not report.added:
        return RenamePass()
    arrived = [s for s in (store.get_player(n) for n in report.added)
               if s is not None and s.last_snapshot is None]
    departed = _departed(store, report) if arrived else []
    if not departed:
        return RenamePass()

    answers = fetch(arrived)
    taken = now()
    seen_new = [Seen(p.name, answer, taken) for p in arrived
                if isinstance(answer := answers.get(p.id), Snapshot)]
    seen_old = [Seen(p.name, p.last_snapshot, p.last_snapshot_at) for p in departed
                if p.last_snapshot is not None and p.last_snapshot_at is not None]
    decisions = list(match_renames(seen_old, seen_new))
    olds = ", ".join(p.name for p in departed)
    for p in arrived:
        answer = answers.get(p.id)
        if isinstance(answer, BaseException):
            # Unknown now, and the next run no longer sees the edit: say how to do it by hand.
            decisions.append(Decision(
                "fresh", p.name, None,
                f"could not be compared with {olds} ({error_line(answer)}); if it is one "
                f"of them renamed, `osrs-notify players rename OLD {p.name}` carries it over",
            ))

    carried: dict[int, str] = {}
    ids = {p.name: p.id for p in arrived}
    for i, decision in enumerate(decisions):
        if decision.kind != "renamed" or decision.old is None or dry_run:
            continue
        from .store import StoreError

        try:
            store.rename_player(decision.old, decision.new, taken)
        except StoreError as exc:  # e.g. both names gained history meanwhile
            decisions[i] = Decision("fresh", decision.new, None,
                                    f"its stats continue {decision.old}'s, but {exc}")
            continue
        carried[ids[decision.new]] = decision.old
    return RenamePass(tuple(decisions), answers, carried)


def renamed_notice(
    player: PlayerState, old: str, snapshot: Snapshot | None, now: datetime
) -> tuple[Event, Notice]:
    """The one "renamed" announcement of ``player``, who took ``old``'s history."""
    from .events import Event
    from .notices import event_notice

    event = Event("player", "renamed")
    return event, event_notice(event, player=player.name, mode=player.mode, snapshot=snapshot,
                               taken_at=now, old_name=old)
