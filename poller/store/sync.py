"""Planning a config sync: a pure function from (config, stored rows) to the changes.

Kept apart from the writes so ``poll --dry-run`` can show the same roster a real poll would
use without touching the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..names import normalize_name
from .values import StoreError, SyncReport


@dataclass(frozen=True, slots=True)
class PlayerRow:
    """The identity columns of a stored player."""

    id: int
    key: str
    name: str
    mode: str
    active: bool
    renamed_to: str | None


@dataclass(slots=True)
class SyncPlan:
    inserts: list[tuple[str, str, str]] = field(default_factory=list)  # key, name, mode
    activate: list[int] = field(default_factory=list)
    deactivate: list[int] = field(default_factory=list)
    set_name: dict[int, str] = field(default_factory=dict)
    set_mode: dict[int, str] = field(default_factory=dict)
    wanted: dict[int, tuple[str, str]] = field(default_factory=dict)  # id → name, mode
    report: SyncReport = field(default_factory=SyncReport)


def plan_sync(players: Sequence[tuple[str, str]], rows: Sequence[PlayerRow]) -> SyncPlan:
    """What mirroring ``players`` (config ``(name, mode)`` pairs) onto ``rows`` changes.

    A config name that is a rename tombstone follows the rename to the current row, unless
    that row's own name is in the config too; a broken chain revives the tombstone.
    """
    by_key = {r.key: r for r in rows}
    entries: list[tuple[str, str, str]] = []
    seen: dict[str, str] = {}
    for name, mode in players:
        key = normalize_name(name)
        if not key:
            raise StoreError(f"player name {name!r} is empty")
        if key in seen:
            raise StoreError(f"players {seen[key]!r} and {name!r} are the same player")
        seen[key] = name
        entries.append((key, " ".join(name.split()), mode))

    def follow(row: PlayerRow) -> PlayerRow | None:
        hops = 0
        while row.renamed_to is not None:
            nxt = by_key.get(normalize_name(row.renamed_to))
            hops += 1
            if nxt is None or hops > len(by_key):  # broken or circular
                return None
            row = nxt
        return row

    plan = SyncPlan()
    added: list[str] = []
    reactivated: list[str] = []
    modes: list[str] = []
    names: list[str] = []
    redirected: list[tuple[str, str]] = []
    followed: list[tuple[str, PlayerRow, str]] = []

    def want(row: PlayerRow, name: str, mode: str, *, own_name: bool) -> None:
        shown = name if own_name else row.name
        plan.wanted[row.id] = (shown, mode)
        if not row.active or (own_name and row.renamed_to is not None):
            plan.activate.append(row.id)
            if not row.active:
                reactivated.append(shown)
        if own_name and row.name != name:
            plan.set_name[row.id] = name
            names.append(name)
        if row.mode != mode:
            plan.set_mode[row.id] = mode
            modes.append(shown)

    for key, name, mode in entries:
        row = by_key.get(key)
        if row is None:
            plan.inserts.append((key, name, mode))
            added.append(name)
            continue
        target = follow(row) if row.renamed_to is not None else row
        if target is None or target is row:
            want(row, name, mode, own_name=True)
        else:
            followed.append((name, target, mode))
    for name, target, mode in followed:
        redirected.append((name, target.name))
        if target.id not in plan.wanted:
            want(target, name, mode, own_name=False)

    plan.deactivate = [r.id for r in rows if r.active and r.id not in plan.wanted]
    by_id = {r.id: r for r in rows}
    plan.report = SyncReport(
        added=tuple(added),
        reactivated=tuple(reactivated),
        deactivated=tuple(by_id[i].name for i in plan.deactivate),
        updated_mode=tuple(modes),
        updated_name=tuple(names),
        redirected=tuple(redirected),
    )
    return plan
