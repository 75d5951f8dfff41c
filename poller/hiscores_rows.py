"""Hiscores rows → :class:`~poller.snapshot.Snapshot`, refusing anything the game cannot produce.

Both formats end here: :func:`poller.hiscores.parse_json` hands over the JSON's ``skills`` and
``activities`` lists, :func:`poller.hiscores_csv.parse_csv` builds the same rows from a CSV
layout. Rows are read *by name*: an unknown name is ignored (and logged once), an expected name
that is missing is unknown (absent), never zero. Every value is checked against the game's
ranges here, so no format can skip a check.
"""

from __future__ import annotations

import logging
import reprlib
import threading
from collections.abc import Mapping
from typing import Any, NoReturn

from .errors import ValidationError
from .game import (
    ACTIVITIES,
    MAX_LEVEL,
    MAX_RANK,
    MAX_SCORE,
    MAX_XP,
    OVERALL,
    SKILLS,
    XP_99,
    XP_TABLE,
    level_for_xp,
    start_level,
)
from .snapshot import Snapshot

# The hiscores module's logger: "unknown name" lines are about the hiscores response.
log = logging.getLogger("osrs_notify.hiscores")

_SKILL_CANON: dict[str, str] = {name: name for name in (OVERALL, *SKILLS)}
_ACTIVITY_CANON: dict[str, str] = {name: name for name in ACTIVITIES}
# What an unranked skill counts as in the Overall check: where every account starts.
_START_LEVELS: dict[str, int] = {name: start_level(name) for name in SKILLS}


def parse_rows(skills_raw: object, acts_raw: object) -> Snapshot:
    """The snapshot from skill and activity rows (JSON entries; the CSV parser builds the same),
    refusing anything the game cannot produce.

    One impossible value refuses the whole response: a body that says 10^30 xp or a negative
    total level is broken, and nothing else in it can be trusted either. Refused:
    - a rank, xp, level or score outside its range (ranks and scores are 32-bit on the
      hiscores; xp at most 200M per skill; levels 1-99 as the hiscores show them);
    - a ranked skill whose level is not the level its xp gives;
    - an Overall row the skill rows make impossible (see `_check_overall`);
    - a response with no row this release knows.
    Unranked rows (rank or value -1) are placeholders: only their range is checked.
    """
    if not isinstance(skills_raw, list) or not isinstance(acts_raw, list):
        raise ValidationError("hiscores JSON lacks 'skills' and 'activities' lists")

    skills: dict[str, int] = {}
    activities: dict[str, int] = {}
    ranks: dict[str, int] = {}
    seen: set[str] = set()
    overall: tuple[int, int, int] | None = None
    # What the Overall row is checked against once every row is read: sums over the ranked
    # skills, the start levels of the unranked ones, and the rows under names we do not know
    # (a skill newer than this release, which the Overall includes).
    ranked_levels = ranked_xp = ranked_count = unranked_levels = skill_rows = foreign_rows = 0
    table, xp_99, max_xp, max_rank, max_score = XP_TABLE, XP_99, MAX_XP, MAX_RANK, MAX_SCORE

    # The hot path of every poll: one dict lookup gives the row's canonical name (our own
    # string, so 10,000 snapshots share their keys instead of holding each body's copies),
    # and a few inline comparisons against locals check its range; anything unusual falls to
    # the helpers, which know the exact error to raise.
    for entry in skills_raw:
        try:
            name = _SKILL_CANON[entry["name"]]
        except (KeyError, TypeError):
            _report_unknown(_entry_name(entry))
            foreign_rows += 1
            continue
        if name in seen:
            _check_new(name, seen)
        seen.add(name)
        rank, level, xp = entry.get("rank"), entry.get("level"), entry.get("xp")
        if type(rank) is not int or type(level) is not int or type(xp) is not int:
            _ints(entry, name, "rank", "level", "xp")  # raises, naming the bad field
        if name == OVERALL:
            overall = (rank, level, xp)  # judged against the skills once all are read
            continue
        skill_rows += 1
        if rank < 0 or xp < 0:
            # Unranked skills read {"rank":-1,"level":1,"xp":-1} or xp 0: placeholders, not
            # data — but never outside what the hiscores can write.
            if rank < -1 or xp < -1 or not -1 <= level <= 99 or rank > max_rank or xp > max_xp:
                _refuse_skill(name, rank, level, xp, ranked=False)
            unranked_levels += _START_LEVELS[name]
            continue
        # The hiscores show the real level (99 at most): exactly the one the xp gives.
        if rank > max_rank or not (
            table[level - 1] <= xp < table[level]
            if 0 < level < 99
            else level == 99 and xp_99 <= xp <= max_xp
        ):
            _refuse_skill(name, rank, level, xp, ranked=True)
        skills[name] = xp
        ranks[name] = rank
        ranked_levels += level
        ranked_xp += xp
        ranked_count += 1

    for entry in acts_raw:
        try:
            name = _ACTIVITY_CANON[entry["name"]]
        except (KeyError, TypeError):
            _report_unknown(_entry_name(entry))
            continue
        if name in seen:
            _check_new(name, seen)
        seen.add(name)
        rank, score = entry.get("rank"), entry.get("score")
        if type(rank) is not int or type(score) is not int:
            _ints(entry, name, "rank", "score")
        if rank > max_rank or score > max_score or rank < -1 or score < -1:
            _refuse_activity(name, rank, score)
        if rank < 0 or score < 0:
            continue
        activities[name] = score
        ranks[name] = rank

    if not seen:
        raise ValidationError(
            "hiscores response has no rows this release knows (no skill or activity by a known "
            "name); refusing to take it as a player with no stats"
        )
    overall_level: int | None = None
    if overall is not None:
        rank, level, xp = overall
        _check_overall(
            rank,
            level,
            xp,
            ranked_levels=ranked_levels,
            ranked_xp=ranked_xp,
            least_levels=ranked_levels + unranked_levels,
            open_slots=len(SKILLS) + foreign_rows - ranked_count,
            skill_rows=skill_rows,
            foreign_rows=foreign_rows,
        )
        if rank >= 0 and xp >= 0:
            skills[OVERALL] = xp
            ranks[OVERALL] = rank
            overall_level = level

    return Snapshot(
        skills=skills,
        activities=activities,
        overall_level=overall_level,
        ranks=ranks,
        layout=frozenset(seen),  # interned by Snapshot: every answer of a layout shares one
    )


def _check_overall(
    rank: int,
    level: int,
    xp: int,
    *,
    ranked_levels: int,
    ranked_xp: int,
    least_levels: int,
    open_slots: int,
    skill_rows: int,
    foreign_rows: int,
) -> None:
    """Refuse an Overall row the skill rows make impossible; once per response.

    The Overall is the sum over every skill, unranked ones included, so:
    - xp: at least the ranked skills' sum, at most that plus 200M for every skill not ranked
      here (unranked, missing from this layout, or under a name we do not know) — at most
      4.8B with today's 24 skills;
    - level: at most the ranked levels plus 99 for every such skill (2,376 at most today);
      at least the ranked levels plus the start level (1, Hitpoints 10) of every unranked
      row, less one skill's 99. That allowance is for data, not theory: the Wise Old Man's
      maintained 2026-07 capture has Sailing at 99 while Overall still reads 2277, the
      pre-Sailing maximum, and an Overall lagging one new skill is not worth refusing a
      player for. Anything further off is impossible; so is a level below one less than the
      number of skill rows (every skill is at least level 1), or below 1.
    An unranked Overall's level and xp are placeholders: only their range is checked.
    """
    most_levels = MAX_LEVEL * (len(SKILLS) + foreign_rows)
    most_xp = MAX_XP * (len(SKILLS) + foreign_rows)
    if rank < -1 or rank > MAX_RANK:
        _refuse(OVERALL, _rank_problem(rank))
    if rank < 0 or xp < 0:
        if xp < -1 or xp > most_xp:
            _refuse(OVERALL, f"xp {_show(xp)} is outside -1 to {most_xp:,}")
        if level < -1 or level > most_levels:
            _refuse(OVERALL, f"level {_show(level)} is outside -1 to {most_levels:,}")
        return
    if level < 1:
        _refuse(OVERALL, f"level {_show(level)} is outside 1 to {most_levels:,}")
    if xp > ranked_xp + MAX_XP * open_slots:
        if xp > most_xp:
            _refuse(OVERALL, f"xp {_show(xp)} is above the game's maximum {most_xp:,}")
        _refuse(
            OVERALL,
            f"xp {_show(xp)} is more than the skills can hold ({ranked_xp:,} ranked, "
            f"{open_slots} other skills at {MAX_XP:,} each)",
        )
    if xp < ranked_xp:
        _refuse(OVERALL, f"xp {_show(xp)} is less than the ranked skills' sum {ranked_xp:,}")
    if level > ranked_levels + MAX_LEVEL * open_slots:
        if level > most_levels:
            _refuse(OVERALL, f"level {_show(level)} is above the game's maximum {most_levels:,}")
        _refuse(
            OVERALL,
            f"level {_show(level)} is more than the skills allow ({ranked_levels:,} ranked, "
            f"{open_slots} other skills at {MAX_LEVEL} each)",
        )
    lowest = max(least_levels - MAX_LEVEL, skill_rows - 1, 1)
    if level < lowest:
        _refuse(
            OVERALL,
            f"level {_show(level)} is below what the skill rows add up to ({least_levels:,}, "
            f"at least {lowest:,})",
        )


def _show(value: int) -> str:
    """A value for an error message: 10**30 as "~10^30", not 31 digits (and never str() of a
    number too long for Python to print)."""
    if -(10**15) < value < 10**15:
        return f"{value:,}"
    digits = int(abs(value).bit_length() * 0.30103)  # log10(2)
    return f"{'-' if value < 0 else ''}~10^{digits}"


def _rank_problem(rank: int) -> str:
    if rank < -1:
        return f"rank {_show(rank)} is below -1 (unranked)"
    return f"rank {_show(rank)} is above the hiscores' maximum {MAX_RANK:,}"


def _refuse(name: str, problem: str) -> NoReturn:
    raise ValidationError(f"hiscores {name!r}: {problem}")


def _refuse_skill(name: str, rank: int, level: int, xp: int, *, ranked: bool) -> NoReturn:
    if not -1 <= rank <= MAX_RANK:
        _refuse(name, _rank_problem(rank))
    if xp > MAX_XP:
        _refuse(name, f"xp {_show(xp)} is above the game's maximum {MAX_XP:,}")
    if xp < -1:
        _refuse(name, f"xp {_show(xp)} is below -1 (unranked)")
    low = 1 if ranked else -1
    if not low <= level <= MAX_LEVEL:
        _refuse(name, f"level {_show(level)} is outside {low} to {MAX_LEVEL}")
    _refuse(name, f"level {level} does not match xp {xp:,} (that is level {level_for_xp(xp)})")


def _refuse_activity(name: str, rank: int, score: int) -> NoReturn:
    if not -1 <= rank <= MAX_RANK:
        _refuse(name, _rank_problem(rank))
    if score < -1:
        _refuse(name, f"score {_show(score)} is below -1 (unranked)")
    _refuse(name, f"score {_show(score)} is above the hiscores' maximum {MAX_SCORE:,}")


def _entry_name(entry: object) -> str:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        # reprlib: bounded in depth and length, so a deeply nested entry cannot recurse.
        raise ValidationError(f"hiscores entry without a name: {_REPR.repr(entry)}")
    return entry["name"]


_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxstring = _REPR.maxother = 60


def _check_new(name: str, seen: set[str]) -> None:
    # Two rows for one name: which is right? Refuse to guess.
    if name in seen:
        raise ValidationError(f"hiscores JSON lists {name!r} twice")
    seen.add(name)


def _ints(entry: Mapping[str, Any], name: str, *keys: str) -> tuple[int, ...]:
    values = tuple(entry.get(k) for k in keys)
    for key, value in zip(keys, values, strict=True):
        # type() rather than isinstance: True is an int to Python, but not to us.
        if type(value) is not int:
            raise ValidationError(f"hiscores {name!r}: {key} is {value!r}, not an integer")
    return values  # type: ignore[return-value]  # checked above


_reported_unknown: set[str] = set()
_reported_lock = threading.Lock()


def _report_unknown(name: str) -> None:
    """Log a name we don't know once per process: a new boss, most likely."""
    if name in _reported_unknown:
        return
    with _reported_lock:
        if name in _reported_unknown:
            return
        _reported_unknown.add(name)
    # INFO, not WARNING: a cron run is a new process each time, and cron mails what reaches
    # stderr; a new boss is news for the maintainers, not a fault for the server owner.
    log.info("ignoring unknown hiscores name %r (newer than this release?)", name)
