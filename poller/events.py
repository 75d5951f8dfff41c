"""What happened between two snapshots: pure functions of (previous, current, rules).

Nothing here reads a clock, the network or the database; every rule is table-tested.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Literal

from .game import (
    ACHIEVEMENTS,
    ACTIVITIES,
    COMBAT_SKILLS,
    MAX_LEVEL,
    MAX_VIRTUAL_LEVEL,
    MAX_XP,
    SKILLS,
    STORAGE_ORDER,
    XP_99,
    Achievement,
    Category,
    achieved,
    base_level,
    combat_level,
    is_monotonic,
    level_for_xp,
    levels_from_snapshot,
    minimum,
)
from .rules import CountRules, LevelRules, Rules
from .snapshot import Snapshot

EventKind = Literal[
    "levelup", "xp", "combat", "boss", "clue", "activity", "achievement", "price", "player"
]
PLAYER_EVENT_KINDS: tuple[str, ...] = (
    "levelup", "xp", "combat", "boss", "clue", "activity", "achievement", "player"
)


@dataclass(frozen=True, slots=True)
class Event:
    """One thing worth telling a clan, as plain values (the notifier renders it).

    - levelup:   metric=skill, old/new = levels (virtual if enabled), threshold = highest
                 announced level crossed; milestone for 99 (and 126 when virtual).
    - xp:        metric=skill, old/new = xp, threshold = highest xp milestone crossed
                 (e.g. 25_000_000); milestone for 200M.
    - combat:    metric="Combat", old/new = combat levels.
    - boss/clue/activity: metric=hiscores name, old/new = counts, threshold = highest multiple
                 crossed; ``first`` when the metric just appeared on the hiscores (old is None,
                 "now on the hiscores at N").
    - achievement: metric = achievement name ("Base 90 Stats", "99 Attack", "500 Vorkath kills",
                 "Maxed", "100M Overall XP"), new = the band's value; always milestone.
    - player:    metric = "missing" | "back" | "renamed".
    """

    kind: EventKind
    metric: str
    old: int | None = None
    new: int | None = None
    threshold: int | None = None
    milestone: bool = False
    first: bool = False

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Anomaly:
    """A monotonic metric went down (rollback, name transfer, de-iron): recorded for review."""

    metric: str
    old: int
    new: int


# -- deriving events from two snapshots -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Derivation:
    """What one new snapshot means: events to announce, or anomalies to review (never both)."""

    events: tuple[Event, ...] = ()
    anomalies: tuple[Anomaly, ...] = ()


# Which event kind and which `[rules]` table each activity category answers to. Ratings are
# absent on purpose: they go down as well as up, so "every N" would announce the same value
# again and again; their achievement bands still apply.
_COUNT_KINDS: dict[Category, tuple[EventKind, Callable[[Rules], CountRules]]] = {
    Category.BOSS: ("boss", lambda r: r.bosses),
    Category.RAID: ("boss", lambda r: r.bosses),
    Category.CLUE: ("clue", lambda r: r.clues),
    Category.MINIGAME: ("activity", lambda r: r.activities),
    Category.POINTS: ("activity", lambda r: r.activities),
}
_ORDER: dict[str, int] = {name: i for i, name in enumerate(STORAGE_ORDER)}
_SKILL_SET: frozenset[str] = frozenset(SKILLS)
_COMBAT_SET: frozenset[str] = frozenset(COMBAT_SKILLS)


def _known(values: Mapping[str, int], name: str) -> int | None:
    # -1 (and any negative) is the hiscores' "unranked": unknown, not zero.
    value = values.get(name)
    return None if value is None or value < 0 else value


def _new_row(prev: Snapshot, name: str) -> bool:
    """Whether ``prev`` had no row for ``name`` (or cannot say): a value of it now is a
    baseline, not news. Asked only of names unknown in ``prev``."""
    # had_row is None for an unknown layout: silence, rather than risk announcing everything.
    return prev.had_row(name) is not True


def _game_order(name: str) -> tuple[int, str]:
    return _ORDER.get(name, len(_ORDER)), name


def _changed(old: Mapping[str, int], new: Mapping[str, int]) -> list[str]:
    """Names whose known value differs (including unknown <-> known), in game order; names
    outside the game tables last, alphabetically.

    Every rule below looks only at these: a poll usually changes a handful of ~115 metrics,
    and the set difference of the two item views runs in C.
    """
    names = [
        name
        for name in {name for name, _ in old.items() ^ new.items()}
        if _known(old, name) != _known(new, name)
    ]
    names.sort(key=_game_order)
    return names


def derive(prev: Snapshot | None, cur: Snapshot, rules: Rules) -> Derivation:
    """Everything announced between two snapshots of one player.

    - No previous snapshot: a silent baseline.
    - Any monotonic metric lower than before (both known): no events at all, one anomaly per
      metric — a rollback or a transferred name must not produce a flood of "news".
    - A metric going known -> unknown says nothing. Unknown -> known is a first appearance
      only when ``prev``'s layout had the metric's row, unranked (see `_counts` and
      `_achievements` for what that announces). A metric whose row ``prev`` lacked — a row
      new to the hiscores or to this release, or any row when ``prev``'s layout is unknown
      (stored before layouts were) — is a silent baseline: no "now on the hiscores", no
      achievement band, no combat change. Otherwise a release that learns a row would
      announce every player's standing in it at once.

    Events come in a fixed order: skills in game order (level-up before xp), combat, activities
    in game order, achievements last in `game.ACHIEVEMENTS` order.
    """
    if prev is None or prev == cur:
        return Derivation()
    skills = _changed(prev.skills, cur.skills)
    activities = _changed(prev.activities, cur.activities)
    anomalies = _decreases(prev, cur, skills, activities)
    if anomalies:
        return Derivation(anomalies=anomalies)
    events: list[Event] = []
    events += _skills(prev, cur, rules, skills)
    if any(name in _COMBAT_SET for name in skills):
        events += _combat(prev, cur)
    events += _counts(prev, cur, rules, activities)
    events += _achievements(prev, cur, skills, activities)
    return Derivation(events=tuple(events))


def decreases(prev: Snapshot, cur: Snapshot) -> tuple[Anomaly, ...]:
    """Every monotonic metric known in both snapshots and lower in ``cur``, in game order.

    Names outside the game tables are checked too (a rollback shows in a boss we cannot yet
    announce just as well), after the known ones, alphabetically.
    """
    return _decreases(
        prev, cur, _changed(prev.skills, cur.skills), _changed(prev.activities, cur.activities)
    )


def _decreases(
    prev: Snapshot, cur: Snapshot, skills: list[str], activities: list[str]
) -> tuple[Anomaly, ...]:
    found: list[Anomaly] = []
    for old_values, new_values, names in (
        (prev.skills, cur.skills, skills),
        (prev.activities, cur.activities, activities),
    ):
        for name in names:
            old, new = _known(old_values, name), _known(new_values, name)
            if old is not None and new is not None and new < old and is_monotonic(name):
                found.append(Anomaly(name, old, new))
    return tuple(found)


# -- skills: level-ups and xp milestones ------------------------------------------------------


def announced_level(level: int, rules: LevelRules) -> bool:
    """Whether reaching ``level`` is news under ``rules`` (see `LevelRules`).

    99 always is, and so is 126 when virtual levels are on: the real and the virtual maximum.
    """
    if level == MAX_LEVEL or (rules.virtual and level == MAX_VIRTUAL_LEVEL):
        return True
    if level > MAX_LEVEL and not rules.virtual:
        return False
    if level < rules.min_level:
        return False
    if level >= rules.every_from:
        return True
    return rules.every > 0 and level % rules.every == 0


def _skills(prev: Snapshot, cur: Snapshot, rules: Rules, changed: list[str]) -> list[Event]:
    out: list[Event] = []
    virtual = rules.levels.virtual
    for skill in changed:
        if skill not in _SKILL_SET:  # Overall has no level-ups; unknown names no rules
            continue
        old_xp = _known(prev.skills, skill)
        new_xp = _known(cur.skills, skill)
        # Unknown -> known is this skill's baseline: whatever it shows was not earned "now".
        if old_xp is None or new_xp is None or new_xp <= old_xp:
            continue
        old = level_for_xp(old_xp, virtual=virtual)
        new = level_for_xp(new_xp, virtual=virtual)
        crossed = [lv for lv in range(old + 1, new + 1) if announced_level(lv, rules.levels)]
        if crossed:
            milestone = old < MAX_LEVEL <= new or old < MAX_VIRTUAL_LEVEL <= new
            out.append(Event("levelup", skill, old, new, crossed[-1], milestone=milestone))
        threshold = xp_milestone(old_xp, new_xp, rules.xp.every_after_99)
        if threshold is not None:
            milestone = old_xp < MAX_XP <= new_xp
            out.append(Event("xp", skill, old_xp, new_xp, threshold, milestone=milestone))
    return out


def xp_milestone(old_xp: int, new_xp: int, every: int) -> int | None:
    """The highest xp milestone in (old_xp, new_xp]: multiples of ``every`` past 99's xp, and
    200M always (even with ``every`` = 0, which turns the multiples off). None if none."""
    best: int | None = None
    if every > 0:
        top = new_xp // every * every
        if top > old_xp and top > XP_99:
            best = top
    if old_xp < MAX_XP <= new_xp:
        best = MAX_XP if best is None else max(best, MAX_XP)
    return best


# -- combat ------------------------------------------------------------------------------------


def _combat(prev: Snapshot, cur: Snapshot) -> list[Event]:
    before = levels_from_snapshot(prev, skills=COMBAT_SKILLS)
    after = levels_from_snapshot(cur, skills=COMBAT_SKILLS)
    # A combat skill known on one side only is taken at that value on both sides: its
    # appearance (or disappearance) on the hiscores is not a gain, and must not move combat.
    # Unknown on both sides, it counts as the starting level in both, which cancels out.
    for skill in COMBAT_SKILLS:
        if before[skill] is None:
            before[skill] = after[skill]
        elif after[skill] is None:
            after[skill] = before[skill]
    old, new = combat_level(before), combat_level(after)
    return [Event("combat", "Combat", old, new)] if new > old else []


# -- kill counts, clues, activities ------------------------------------------------------------


def _counts(prev: Snapshot, cur: Snapshot, rules: Rules, changed: list[str]) -> list[Event]:
    out: list[Event] = []
    for name in changed:
        cat = ACTIVITIES.get(name)
        kind_rules = _COUNT_KINDS.get(cat) if cat is not None else None
        new = _known(cur.activities, name)
        if kind_rules is None or new is None:
            continue
        kind, rules_for = kind_rules
        step = rules_for(rules).step(name)
        if step <= 0:
            continue
        old = _known(prev.activities, name)
        if old is None and _new_row(prev, name):
            continue  # a row prev never had: this value is its baseline
        top = new // step * step
        if old is None:
            # First appearance: "now on the hiscores at N", not a gain of N + 1. Below its
            # minimum a score is hidden, so before it was at most minimum - 1: multiples from
            # the minimum up were surely crossed now; lower ones may be old news.
            threshold = top if top >= max(step, minimum(name)) else None
            out.append(Event(kind, name, None, new, threshold, first=True))
        elif top > old:
            out.append(Event(kind, name, old, new, top))
    return out


# -- achievements ------------------------------------------------------------------------------


def _bands_by_metric() -> tuple[tuple[Achievement, ...], dict[str, tuple[Achievement, ...]]]:
    base = tuple(a for a in ACHIEVEMENTS if a.kind == "base")
    by_metric: dict[str, list[Achievement]] = {}
    for a in ACHIEVEMENTS:
        if a.kind != "base":
            by_metric.setdefault(a.metric, []).append(a)
    return base, {metric: tuple(bands) for metric, bands in by_metric.items()}


# Grouped once so that a poll only looks at the bands of the metrics it changed.
_BASE_BANDS, _BANDS_BY_METRIC = _bands_by_metric()


def _achievements(
    prev: Snapshot, cur: Snapshot, skills: list[str], activities: list[str]
) -> list[Event]:
    """One event per band reached in ``cur`` and not in ``prev``, in `ACHIEVEMENTS` order
    (which is base stats, then the changed metrics in game order).

    An unknown value reaches no band, so a metric's first appearance announces the bands it
    already meets. For activities that is exact: hidden means below the hiscore minimum, and
    every band is at or above it, so the band was crossed since the last poll. For a skill it
    takes "unranked" as "below 99", which is where unranked skills are.

    That holds only for a metric whose row ``prev`` had: one new to the layout may have met
    its bands for years, so it reaches none now — and neither do the base-stat bands it alone
    completes.
    """
    baselines = {
        name
        for name in (*skills, *activities)
        if _known(prev.skills if name in skills else prev.activities, name) is None
        and _new_row(prev, name)
    }
    reached: list[Achievement] = []
    if any(name in _SKILL_SET for name in skills) and not baselines & _SKILL_SET:
        old_base, new_base = base_level(prev), base_level(cur)
        if new_base is not None:
            reached += [
                a
                for a in _BASE_BANDS
                if new_base >= a.threshold and (old_base is None or old_base < a.threshold)
            ]
    for name in (*skills, *activities):
        if name in baselines:
            continue
        for a in _BANDS_BY_METRIC.get(name, ()):
            if achieved(a, cur) and not achieved(a, prev):
                reached.append(a)
    return [Event("achievement", a.name, new=a.threshold, milestone=True) for a in reached]


# -- presence: a player the hiscores no longer know ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Presence:
    """Whether a player is on the hiscores, judged from consecutive "not found" answers only.

    Outages (5xx, HTML pages) never reach here, so they neither add to nor reset the streak.
    """

    status: Literal["ok", "missing"] = "ok"
    not_found_streak: int = 0


def next_presence(
    prev: Presence, found: bool, *, missing_after: int
) -> tuple[Presence, tuple[Event, ...]]:
    """The presence after one more hiscores answer, and the events the change announces.

    A 404 alone proves little (the hiscores 404 transiently too), so a player becomes
    "missing" only after ``missing_after`` consecutive 404s — announced once. Any answer that
    finds the player clears the streak; if they were missing, they are announced "back".
    """
    if missing_after < 1:
        raise ValueError(f"missing_after must be >= 1, got {missing_after}")
    if found:
        events = (Event("player", "back"),) if prev.status == "missing" else ()
        return Presence(), events
    streak = prev.not_found_streak + 1
    if prev.status == "ok" and streak >= missing_after:
        return Presence("missing", streak), (Event("player", "missing", new=streak),)
    return Presence(prev.status, streak), ()
