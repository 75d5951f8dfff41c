"""Could one account have made this change in this time? Pure functions of two snapshots.

A corrupt hiscores answer, or a name now worn by a stronger account, looks like progress nobody
can make: Runecraft 5M → 100M xp between two hourly polls. The Wise Old Man refuses such a
snapshot when the hours of maximum-efficiency play it needs (EHP + EHB gained) exceed
max(120 hours, the time elapsed), and tells a rollback from a name transfer by how much was lost
(wise-old-man/wise-old-man: server/src/api/modules/snapshots/snapshot.utils.ts
``hasExcessiveGains``; server/src/api/modules/players/services/ReviewFlaggedPlayerService.ts
``hasLostTooMuch``). We apply the same two rules with one flat rate per metric: the fastest
method in the Wise Old Man's tables, so our hours are never more than theirs and a real player is
never refused where they would pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from .game import ACTIVITIES, Category, is_monotonic
from .snapshot import Snapshot

# The fastest listed rate (xp per hour) of each skill in the Wise Old Man's main-account EHP
# table (wise-old-man/wise-old-man: server/src/api/modules/efficiency/configs/ehp/main.ehp.ts,
# the highest tier's `rate`). Each hour of play counts once however many skills it trains.
XP_PER_HOUR: Mapping[str, int] = {
    "Attack": 330_000,  # Nechryael with bonus xp from Slayer
    "Defence": 700_000,  # chinning in Kruk's Dungeon
    "Strength": 380_000,
    "Ranged": 1_180_000,  # chinning
    "Prayer": 1_800_000,  # superior dragon bones at the Chaos Altar
    "Cooking": 950_000,  # 1t karambwans
    "Woodcutting": 200_000,
    "Fishing": 132_000,
    "Firemaking": 505_000,
    "Crafting": 440_000,
    "Smithing": 410_000,
    "Mining": 125_000,
    "Herblore": 450_000,
    "Agility": 95_000,
    "Thieving": 280_000,
    "Slayer": 83_000,
    "Farming": 1_900_000,  # tree runs
    "Runecraft": 240_000,
    "Hunter": 291_175,
    "Construction": 935_000,
}

# Skills the Wise Old Man's table gives no rate of their own (rate 0: their xp comes as a bonus
# of training something else) and Sailing, newer than that table. They add no hours to the sum
# (that would count one hour of chinning twice), but one of them alone may not outrun a
# generous cap: Hitpoints is a third of combat xp (a third of chinning's 1.18M plus margin);
# Fletching darts reach a few million an hour.
XP_PER_HOUR_CAP: Mapping[str, int] = {
    "Hitpoints": 500_000,
    "Magic": 500_000,
    "Fletching": 4_500_000,
    "Sailing": 1_000_000,
}

# Kills per hour of each boss and raid in the Wise Old Man's main-account EHB table
# (server/src/api/modules/efficiency/configs/ehb/main.ehb.ts).
KILLS_PER_HOUR: Mapping[str, float] = {
    "Abyssal Sire": 45, "Alchemical Hydra": 30, "Amoxliatl": 70, "Araxxor": 37, "Artio": 60,
    "Barrows Chests": 22, "Bryophyta": 9, "Callisto": 85, "Calvar'ion": 55, "Cerberus": 65,
    "Chambers of Xeric: Challenge Mode": 3, "Chambers of Xeric": 3.5, "Chaos Elemental": 120,
    "Chaos Fanatic": 100, "Commander Zilyana": 58, "Corporeal Beast": 60,
    "Crazy Archaeologist": 75, "Dagannoth Prime": 105, "Dagannoth Rex": 105,
    "Dagannoth Supreme": 105, "Deranged Archaeologist": 80, "Duke Sucellus": 30,
    "General Graardor": 58, "Giant Mole": 125, "Grotesque Guardians": 37, "Hespori": 60,
    "Kalphite Queen": 55, "King Black Dragon": 130, "Kraken": 100, "Kree'Arra": 40,
    "K'ril Tsutsaroth": 65, "Lunar Chests": 18, "Mimic": 60, "Nex": 23.5, "Nightmare": 14,
    "Obor": 12, "Phantom Muspah": 26, "Phosani's Nightmare": 7, "Sarachnis": 80, "Scorpia": 130,
    "Scurrius": 85, "Skotizo": 45, "Sol Heredit": 2.5, "Spindel": 55,
    "The Corrupted Gauntlet": 7, "The Hueycoatl": 20, "The Gauntlet": 10, "The Leviathan": 30,
    "The Whisperer": 21, "Theatre of Blood: Hard Mode": 3, "Theatre of Blood": 3.2,
    "Thermonuclear Smoke Devil": 150, "Tombs of Amascut: Expert Mode": 3,
    "Tombs of Amascut": 3.5, "TzKal-Zuk": 1, "TzTok-Jad": 2.5, "Vardorvis": 37,
    "Venenatis": 40, "Vet'ion": 50, "Vorkath": 34, "Zulrah": 44,
}  # fmt: skip
# A boss newer than that table (or a skilling boss it leaves out, such as Wintertodt) counts at
# the fastest rate it lists for any boss: lenient, yet 100,000 kills in a day is still refused.
DEFAULT_KILLS_PER_HOUR = 150.0

# The Wise Old Man's floor: gains are judged over at least 120 hours, so a player who banked
# materials (or whose hiscores lagged) is not refused for a burst of real play.
MIN_WINDOW_HOURS = 120.0
# A loss of more than 24 hours of the fastest play is no rollback: Jagex rolls back hours, not
# days. (The Wise Old Man also flags a loss of 20% of the account; with our flat, fastest
# rates a small account's hours are understated, so that share would flag real rollbacks.)
LOST_HOURS_LIMIT = 24.0

_BOSS_CATEGORIES = frozenset({Category.BOSS, Category.RAID})


def _skill_rate(name: str) -> float | None:
    rate = XP_PER_HOUR.get(name)
    return float(rate) if rate is not None else None


def _kill_rate(name: str) -> float | None:
    if ACTIVITIES.get(name) not in _BOSS_CATEGORIES:
        return None  # clues, minigames and points take no part, as in the Wise Old Man
    return float(KILLS_PER_HOUR.get(name, DEFAULT_KILLS_PER_HOUR))


@dataclass(frozen=True, slots=True)
class Gain:
    """One metric's gain and the hours of the fastest play it needs."""

    metric: str
    old: int
    new: int
    hours: float


def gains(before: Snapshot, after: Snapshot) -> list[Gain]:
    """Every gain that takes play (skills with a rate, bosses), most hours first. Losses and
    unknown values count nothing; a metric known only in ``after`` counts from zero — unless
    ``before``'s layout had no row for it (a row new to the hiscores or to this release): that
    value is a baseline, as events.derive takes it, and no gain. (A layout stored before
    layouts were cannot say; it still counts from zero, and the window grows with the time.)"""
    out: list[Gain] = []
    for values_b, values_a, rate_of in (
        (before.skills, after.skills, _skill_rate),
        (before.activities, after.activities, _kill_rate),
    ):
        for name, new in values_a.items():
            known = values_b.get(name)
            if known is None and before.had_row(name) is False:
                continue
            old = known if known is not None and known > 0 else 0
            if new > old:
                rate = rate_of(name)
                if rate is not None:
                    out.append(Gain(name, old, new, (new - old) / rate))
    out.sort(key=lambda g: g.hours, reverse=True)
    return out


def hours(before: Snapshot, after: Snapshot) -> float:
    """Hours of the fastest play that the gains from ``before`` to ``after`` need."""
    return sum(g.hours for g in gains(before, after))


def _capped_skill(before: Snapshot, after: Snapshot, window: float) -> str | None:
    for name, cap in XP_PER_HOUR_CAP.items():
        new, old = after.skills.get(name), before.skills.get(name)
        if old is None and before.had_row(name) is False:
            continue  # a row new to the layout: a baseline (see gains)
        if new is not None and new - max(old or 0, 0) > cap * window:
            return name
    return None


Kind = Literal["ok", "implausible", "rollback", "new_account"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a new snapshot is, judged against the last trusted one.

    - ok: plausible progress (or none).
    - implausible: gains no one makes in the time; refuse the snapshot, keep the trusted one.
    - rollback: some metrics went down, as a Jagex rollback does; derive nothing from it.
    - new_account: a loss no rollback explains; the name now belongs to someone else.
    """

    kind: Kind
    reason: str = ""
    metrics: tuple[str, ...] = ()  # the metrics that make it so, for the anomaly record


def _fmt_hours(value: float) -> str:
    return f"{value:,.0f} h" if value >= 10 else f"{value:.1f} h"


def judge(trusted: Snapshot, current: Snapshot, *, elapsed_hours: float) -> Verdict:
    """The verdict on ``current`` after ``trusted``, taken ``elapsed_hours`` apart."""
    window = max(MIN_WINDOW_HOURS, elapsed_hours)
    gained = hours(trusted, current)
    lowered, compared = _lowered(trusted, current)
    if lowered:
        lost = hours(current, trusted)
        if gained > window:
            why = f"went down, and up by {_fmt_hours(gained)} of the fastest play"
        elif lost > LOST_HOURS_LIMIT:
            why = f"lost {_fmt_hours(lost)} of the fastest play, more than any rollback"
        elif len(lowered) * 2 > compared:
            why = f"{len(lowered)} of {compared} metrics went down"
        else:
            return Verdict(
                "rollback", f"{len(lowered)} metric(s) went down ({lowered[0]})", tuple(lowered)
            )
        return Verdict("new_account", why, tuple(lowered))
    if gained > window:
        return Verdict(
            "implausible",
            f"gains need {_fmt_hours(gained)} of the fastest play in "
            f"{_fmt_hours(elapsed_hours)} (limit: {_fmt_hours(window)})",
            tuple(g.metric for g in gains(trusted, current)[:3]),
        )
    capped = _capped_skill(trusted, current, window)
    if capped is not None:
        return Verdict(
            "implausible", f"{capped} gained more xp than the fastest method gives", (capped,)
        )
    return Verdict("ok")


def _lowered(before: Snapshot, after: Snapshot) -> tuple[list[str], int]:
    """Monotonic metrics lower in ``after`` (both known), and how many were known in both."""
    lowered: list[str] = []
    compared = 0
    pairs = ((before.skills, after.skills), (before.activities, after.activities))
    for values_b, values_a in pairs:
        for name, old in values_b.items():
            new = values_a.get(name)
            if new is None or old < 0 or new < 0 or not is_monotonic(name):
                continue
            compared += 1
            if new < old:
                lowered.append(name)
    return lowered, compared
