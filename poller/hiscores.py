"""Official OSRS hiscores: fetch a player's ``index_lite.json`` and parse it *by name*.

Positions and ``id`` fields shift whenever Jagex inserts a boss, and every positional parser has
broken on such a day, so the JSON parser looks only at names: an unknown name is ignored (and
logged once), an expected name that is missing is unknown (absent), never zero.

The CSV ``index_lite.ws`` has no names at all. It is supported only for layouts whose row order
we have established from a real JSON capture, and only when the row counts match one exactly.
"""

from __future__ import annotations

import json
import logging
import re
import reprlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import quote

from .errors import HiscoresUnavailable, OSRSApiError, PlayerNotFound, ValidationError
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
from .names import DEFAULT_MODE, MODES
from .snapshot import Snapshot

if TYPE_CHECKING:
    from datetime import datetime

    from .http import HttpClient

log = logging.getLogger("osrs_notify.hiscores")

DEFAULT_ENDPOINT = "https://secure.runescape.com"

_SKILL_CANON: dict[str, str] = {name: name for name in (OVERALL, *SKILLS)}
_ACTIVITY_CANON: dict[str, str] = {name: name for name in ACTIVITIES}
# What an unranked skill counts as in the Overall check: where every account starts.
_START_LEVELS: dict[str, int] = {name: start_level(name) for name in SKILLS}


def profile_url(name: str, mode: str = DEFAULT_MODE) -> str:
    """The player's personal hiscores page, for people (always the real site, whatever
    OSRS_API_ENDPOINT points the API client at). Regular board for an unknown mode."""
    from urllib.parse import quote

    board = MODES.get(mode, MODES[DEFAULT_MODE])
    return f"{DEFAULT_ENDPOINT}/m={board}/hiscorepersonal?user1={quote(name, safe='')}"


def board_url(endpoint: str, mode: str) -> str:
    """``{endpoint}/m={board}/index_lite.json`` for a config mode (ValidationError if unknown)."""
    board = MODES.get(mode)
    if board is None:
        raise ValidationError(f"unknown hiscores mode {mode!r}; expected one of {', '.join(MODES)}")
    return f"{endpoint.rstrip('/')}/m={board}/index_lite.json"


class HiscoresClient:
    """Fetches snapshots through the shared :class:`~poller.http.HttpClient`."""

    def __init__(self, http: HttpClient, endpoint: str = DEFAULT_ENDPOINT) -> None:
        self.http = http
        self.endpoint = endpoint.rstrip("/")

    def fetch(
        self, name: str, mode: str = DEFAULT_MODE, *, not_before: datetime | None = None
    ) -> Snapshot:
        """The player's current snapshot; never a cached answer older than ``not_before``
        (the player's last poll: a poll must see what the hiscores say now).

        Raises PlayerNotFound (404), HiscoresUnavailable (5xx, timeout, HTML page),
        RateLimitError (429) or ValidationError (anything else unexpected).
        """
        url = board_url(self.endpoint, mode)
        who = f"{name!r} on the {mode} hiscores"
        if not name.strip():
            raise ValidationError(f"empty player name for the {mode} hiscores")
        # Encoded by hand so a space is %20: unambiguous under every decoder, where '+' is a
        # space only under form decoding.
        params = "player=" + quote(name, safe="")
        try:
            response = self.http.get(url, params=params, not_before=not_before)
        except OSRSApiError as exc:
            raise _with_context(exc, who) from exc
        status = response.status_code
        if status == 404:
            raise PlayerNotFound(f"{who}: not found (renamed, banned or not on this board)")
        if status != 200:
            raise ValidationError(f"{who}: unexpected HTTP {status}")
        content_type = response.headers.get("Content-Type", "")
        if "html" in content_type.lower():
            raise HiscoresUnavailable(f"{who}: hiscores sent an HTML page (maintenance?)")
        try:
            return parse_json(response.content)
        except OSRSApiError as exc:
            raise _with_context(exc, who) from exc


def _with_context(exc: OSRSApiError, who: str) -> OSRSApiError:
    """The same error type (and retry_after), its message prefixed with player and mode."""
    new = type(exc).__new__(type(exc))
    new.__dict__.update(exc.__dict__)
    new.args = (f"{who}: {exc}",)
    return new


# -- JSON --------------------------------------------------------------------------------------


def parse_json(data: bytes | str | Mapping[str, Any]) -> Snapshot:
    """Parse an ``index_lite.json`` document by name.

    Unranked (rank -1, whatever level and xp say) is absent. Names we do not know are ignored.
    Every value is checked against the game's ranges (see `_parse_rows`): a response that is
    malformed or impossible raises ValidationError; an HTML page raises HiscoresUnavailable.
    """
    doc = _load_json(data)
    return _parse_rows(doc.get("skills"), doc.get("activities"))


def _parse_rows(skills_raw: object, acts_raw: object) -> Snapshot:
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


def _load_json(data: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(data, Mapping):
        return data
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValidationError("hiscores response is not UTF-8 text") from exc
    elif isinstance(data, str):
        text = data
    else:
        raise ValidationError(f"cannot parse hiscores data of type {type(data).__name__}")
    if text.lstrip().startswith("<"):
        # Jagex serves an HTML page (maintenance, error, login wall) during outages.
        raise HiscoresUnavailable("hiscores sent an HTML page instead of data")
    try:
        doc = json.loads(text)
    except ValueError as exc:
        # Also a number of more than 4,300 digits: Python refuses to read it.
        raise ValidationError(f"hiscores response is not JSON ({exc.__class__.__name__})") from exc
    except RecursionError:
        # [[[[…]]]] 100,000 deep: the decoder gives up; the answer is garbage, not a crash.
        raise ValidationError("hiscores JSON is nested too deeply to be an answer") from None
    if not isinstance(doc, dict):
        raise ValidationError("hiscores JSON is not an object")
    return doc


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


# -- CSV ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvLayout:
    """The row order of one ``index_lite.ws`` layout: skill rows (Overall first), then
    activity rows."""

    label: str
    skills: tuple[str, ...]
    activities: tuple[str, ...]

    @property
    def key(self) -> tuple[int, int]:
        return (len(self.skills), len(self.activities))


# The 2026-07 layout, from lynx_titan_2026-07_noids.json (Wise Old Man's maintained copy).
_SKILLS_2026_07: tuple[str, ...] = (
    "Overall", "Attack", "Defence", "Strength", "Hitpoints", "Ranged", "Prayer", "Magic",
    "Cooking", "Woodcutting", "Fletching", "Fishing", "Firemaking", "Crafting", "Smithing",
    "Mining", "Herblore", "Agility", "Thieving", "Slayer", "Farming", "Runecraft", "Hunter",
    "Construction", "Sailing",
)  # fmt: skip
_ACTIVITIES_2026_07: tuple[str, ...] = (
    "Grid Points", "League Points", "Deadman Points", "Bounty Hunter - Hunter",
    "Bounty Hunter - Rogue", "Bounty Hunter (Legacy) - Hunter", "Bounty Hunter (Legacy) - Rogue",
    "Clue Scrolls (all)", "Clue Scrolls (beginner)", "Clue Scrolls (easy)",
    "Clue Scrolls (medium)", "Clue Scrolls (hard)", "Clue Scrolls (elite)",
    "Clue Scrolls (master)", "LMS - Rank", "PvP Arena - Rank", "Soul Wars Zeal", "Rifts closed",
    "Colosseum Glory", "Collections Logged", "Abyssal Sire", "Alchemical Hydra", "Amoxliatl",
    "Araxxor", "Artio", "Barrows Chests", "Brutus", "Bryophyta", "Callisto", "Calvar'ion",
    "Cerberus", "Chambers of Xeric", "Chambers of Xeric: Challenge Mode", "Chaos Elemental",
    "Chaos Fanatic", "Commander Zilyana", "Corporeal Beast", "Crazy Archaeologist",
    "Dagannoth Prime", "Dagannoth Rex", "Dagannoth Supreme", "Deranged Archaeologist",
    "Doom of Mokhaiotl", "Duke Sucellus", "General Graardor", "Giant Mole",
    "Grotesque Guardians", "Hespori", "Kalphite Queen", "King Black Dragon", "Kraken",
    "Kree'Arra", "K'ril Tsutsaroth", "Lunar Chests", "Mad Angel", "Maggot King", "Mimic", "Nex",
    "Nightmare", "Phosani's Nightmare", "Obor", "Phantom Muspah", "Sarachnis", "Scorpia",
    "Scurrius", "Shellbane Gryphon", "Skotizo", "Sol Heredit", "Spindel", "Tempoross",
    "The Gauntlet", "The Corrupted Gauntlet", "The Hueycoatl", "The Leviathan",
    "The Royal Titans", "The Whisperer", "Theatre of Blood", "Theatre of Blood: Hard Mode",
    "Thermonuclear Smoke Devil", "Tombs of Amascut", "Tombs of Amascut: Expert Mode",
    "TzKal-Zuk", "TzTok-Jad", "Vardorvis", "Venenatis", "Vet'ion", "Vorkath", "Wintertodt",
    "Yama", "Zalcano", "Zulrah",
)  # fmt: skip


def _without(names: tuple[str, ...], *removed: str) -> tuple[str, ...]:
    # Every older layout we hold is the newest one with some rows not yet added (verified
    # against each capture's order by tests/integration/osrs/test_hiscores_fixtures.py).
    missing = set(removed) - set(names)
    if missing:
        raise AssertionError(f"layout lacks {sorted(missing)}")
    return tuple(n for n in names if n not in removed)


_SKILLS_PRE_SAILING = _without(_SKILLS_2026_07, "Sailing")
_ACTIVITIES_2026_01 = _without(_ACTIVITIES_2026_07, "Brutus", "Mad Angel", "Maggot King")
# From unranked_skills_2024.json's order.
_ACTIVITIES_2024 = _without(
    _ACTIVITIES_2026_01, "Grid Points", "Collections Logged", "Amoxliatl", "Araxxor",
    "Doom of Mokhaiotl", "Shellbane Gryphon", "The Hueycoatl", "The Royal Titans", "Yama",
)  # fmt: skip
# From b0aty_2023-08.json's order (its CSV twin proves the CSV rows follow the JSON order).
_ACTIVITIES_2023_08 = _without(
    _ACTIVITIES_2024, "Deadman Points", "Colosseum Glory", "Lunar Chests", "Scurrius",
    "Sol Heredit",
)  # fmt: skip

CSV_LAYOUTS: Mapping[tuple[int, int], CsvLayout] = {
    layout.key: layout
    for layout in (
        CsvLayout("2023-08", _SKILLS_PRE_SAILING, _ACTIVITIES_2023_08),
        CsvLayout("2024", _SKILLS_PRE_SAILING, _ACTIVITIES_2024),
        # psikoi_2025-11.csv: the last pre-Sailing layout, 88 activities in lynx 2026-01's
        # order (Sailing came as a skill row; no activity was added with it).
        CsvLayout("2025-11", _SKILLS_PRE_SAILING, _ACTIVITIES_2026_01),
        CsvLayout("2026-01", _SKILLS_2026_07, _ACTIVITIES_2026_01),
        CsvLayout("2026-07", _SKILLS_2026_07, _ACTIVITIES_2026_07),
    )
}


def parse_csv(text: str | bytes, layout: CsvLayout | None = None) -> Snapshot:
    """Parse an ``index_lite.ws`` body positionally.

    The layout is chosen by the exact counts of skill rows (``rank,level,xp``) and activity
    rows (``rank,score``); a count we have not verified raises ValidationError rather than
    mapping rows onto the wrong names. An explicit ``layout`` must match exactly too. Once
    named, the rows go through the same checks as JSON (`_parse_rows`).
    """
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValidationError("hiscores CSV is not UTF-8 text") from exc
    if text.lstrip().startswith("<"):
        raise HiscoresUnavailable("hiscores sent an HTML page instead of data")
    lines = text.strip().splitlines()
    skill_rows: list[tuple[int, ...]] = []
    act_rows: list[tuple[int, ...]] = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        # ASCII digits only: int() would also take "1_000", "+5" or Arabic-Indic digits.
        if _CSV_LINE.fullmatch(line) is None:
            raise ValidationError(f"hiscores CSV line {number} is not integers: {line[:40]!r}")
        try:
            values = tuple(int(f) for f in line.split(","))
        except ValueError:  # more digits than Python will read
            raise ValidationError(f"hiscores CSV line {number} has a number too long") from None
        if len(values) == 3 and not act_rows:
            skill_rows.append(values)
        elif len(values) == 2:
            act_rows.append(values)
        else:
            raise ValidationError(
                f"hiscores CSV line {number} has an unexpected shape: {line[:40]!r}"
            )
    counts = (len(skill_rows), len(act_rows))
    if layout is None:
        layout = CSV_LAYOUTS.get(counts)
        if layout is None:
            known = ", ".join(f"{s}+{a}" for s, a in CSV_LAYOUTS)
            raise ValidationError(
                f"hiscores CSV has {counts[0]} skill + {counts[1]} activity rows, a layout this "
                f"release does not know (known: {known}); refusing to guess"
            )
    elif layout.key != counts:
        raise ValidationError(
            f"hiscores CSV has {counts[0]}+{counts[1]} rows, layout {layout.label} has "
            f"{layout.key[0]}+{layout.key[1]}"
        )
    return _parse_rows(
        [
            {"name": name, "rank": rank, "level": level, "xp": xp}
            for name, (rank, level, xp) in zip(layout.skills, skill_rows, strict=True)
        ],
        [
            {"name": name, "rank": rank, "score": score}
            for name, (rank, score) in zip(layout.activities, act_rows, strict=True)
        ],
    )


_CSV_LINE = re.compile(r"-?[0-9]+(?:,-?[0-9]+)*")
