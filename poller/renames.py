"""Did a name that arrived in the config continue one that left? Pure functions of snapshots.

When an admin replaces a member's old name by their new one in the same edit (or adds the new
name of a player the hiscores no longer find), the new name's first answer is compared with the
old name's last snapshot. An account that changed its name keeps every xp point and kill: its
stats never go down, and what it gained in between is play one account can make in that time —
the bound :func:`poller.plausibility.judge` applies to every poll. Such a name is carried over
(its history, milestones and gains continue); anything else is a different account, which
starts from a fresh baseline, with the reason said once on the console.

Nothing here reads a clock, the network or the database; :mod:`poller.rename_pass` feeds it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from . import plausibility
from .names import normalize_name
from .snapshot import Snapshot


@dataclass(frozen=True, slots=True)
class Seen:
    """One side of a possible rename: a name and its stats at a time.

    For a name that left: its last stored snapshot and when it was taken; for a name that
    arrived: its first answer from the hiscores and when it came."""

    name: str
    snapshot: Snapshot
    taken_at: datetime


DecisionKind = Literal["renamed", "fresh", "respelled"]


@dataclass(frozen=True, slots=True)
class Decision:
    """What an arrived name is.

    - renamed: it continues ``old``; carry ``old``'s history over to ``new``.
    - fresh: no name that left continues into it; ``new`` starts from a baseline. ``old`` is
      None; ``reason`` says why for each name that left.
    - respelled: ``old`` and ``new`` differ only in case, spaces, '-' or '_': the same player
      (the hiscores' key), whose display name changes. Never a rename.
    """

    kind: DecisionKind
    new: str
    old: str | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Continuation:
    """Whether ``new`` continues ``old``: the hours of the fastest play its gains need when it
    does (the smaller, the closer), else None and why not."""

    hours: float | None
    reason: str


def continuation(old: Seen, new: Seen) -> Continuation:
    """Whether ``new``'s stats continue ``old``'s: overall xp known on both sides (an account
    too small for the hiscores to rank proves nothing), nothing lower, and the gains within the
    plausibility bound for the time between."""
    before, after = old.snapshot.overall_xp, new.snapshot.overall_xp
    if before is None or before < 0 or after is None or after < 0:
        return Continuation(None, "overall xp is not ranked on both names, so the stats "
                                  "cannot be compared")
    elapsed = max((new.taken_at - old.taken_at).total_seconds() / 3600, 0.0)
    verdict = plausibility.judge(old.snapshot, new.snapshot, elapsed_hours=elapsed)
    if verdict.kind in ("rollback", "new_account"):
        lower = ", ".join(verdict.metrics[:3])
        more = f" and {len(verdict.metrics) - 3} more" if len(verdict.metrics) > 3 else ""
        return Continuation(None, f"{lower}{more} would have gone down")
    if verdict.kind == "implausible":
        return Continuation(None, verdict.reason)
    return Continuation(plausibility.hours(old.snapshot, new.snapshot), "the stats continue")


def match_renames(departed: Sequence[Seen], arrived: Sequence[Seen]) -> tuple[Decision, ...]:
    """One decision per arrived name, in ``arrived``'s order.

    Each arrival takes at most one departure and each departure goes to at most one arrival.
    Among the plausible pairs the closest continuation (fewest hours of play between) is
    taken first: when several names leave and arrive at once, each new name gets the old one
    its stats continue most tightly. A pair whose names are the same key is a respelling.
    """
    taken_old: set[int] = set()
    decided: dict[int, Decision] = {}
    for a, new in enumerate(arrived):
        for d, old in enumerate(departed):
            if d not in taken_old and normalize_name(old.name) == normalize_name(new.name):
                taken_old.add(d)
                decided[a] = Decision("respelled", new.name, old.name,
                                      "the same player: only the display name changes")
                break

    why: dict[int, list[str]] = {a: [] for a in range(len(arrived))}
    pairs: list[tuple[float, int, int]] = []
    for a, new in enumerate(arrived):
        if a in decided:
            continue
        for d, old in enumerate(departed):
            if d in taken_old:
                continue
            found = continuation(old, new)
            if found.hours is None:
                why[a].append(f"not {old.name}: {found.reason}")
            else:
                pairs.append((found.hours, d, a))
    pairs.sort()
    for _, d, a in pairs:
        if a in decided:
            continue
        if d in taken_old:
            # A closer arrival took this name already: say so rather than nothing.
            went = next(x.new for x in decided.values() if x.old == departed[d].name)
            why[a].append(f"not {departed[d].name}: that name continues as {went}")
            continue
        taken_old.add(d)
        decided[a] = Decision("renamed", arrived[a].name, departed[d].name, "the stats continue")

    out: list[Decision] = []
    for a, new in enumerate(arrived):
        if a in decided:
            out.append(decided[a])
        else:
            reason = "; ".join(why[a]) or "no player left the config"
            out.append(Decision("fresh", new.name, None, reason))
    return tuple(out)
