"""Everything the program knows about Old School RuneScape itself, in one place.

Names are the hiscores JSON names (``index_lite.json``). Parsing is by name, so a boss Jagex
inserts tomorrow shifts nothing; adding it here only lets us announce it.
"""

from __future__ import annotations

from enum import Enum

# The 24 skills in hiscores order, Overall excluded. "Runecraft" is the JSON spelling.
SKILLS: tuple[str, ...] = (
    "Attack", "Defence", "Strength", "Hitpoints", "Ranged", "Prayer", "Magic", "Cooking",
    "Woodcutting", "Fletching", "Fishing", "Firemaking", "Crafting", "Smithing", "Mining",
    "Herblore", "Agility", "Thieving", "Slayer", "Farming", "Runecraft", "Hunter",
    "Construction", "Sailing",
)
OVERALL = "Overall"


class Category(str, Enum):
    BOSS = "boss"
    RAID = "raid"
    CLUE = "clue"
    MINIGAME = "minigame"
    RATING = "rating"  # LMS, PvP Arena: may go down
    POINTS = "points"  # league/deadman/bounty points


# Activities in hiscores order as of 2026-07 (91), with their category.
ACTIVITIES: dict[str, Category] = {
    "Grid Points": Category.POINTS,
    "League Points": Category.POINTS,
    "Deadman Points": Category.POINTS,
    "Bounty Hunter - Hunter": Category.POINTS,
    "Bounty Hunter - Rogue": Category.POINTS,
    "Bounty Hunter (Legacy) - Hunter": Category.POINTS,
    "Bounty Hunter (Legacy) - Rogue": Category.POINTS,
    "Clue Scrolls (all)": Category.CLUE,
    "Clue Scrolls (beginner)": Category.CLUE,
    "Clue Scrolls (easy)": Category.CLUE,
    "Clue Scrolls (medium)": Category.CLUE,
    "Clue Scrolls (hard)": Category.CLUE,
    "Clue Scrolls (elite)": Category.CLUE,
    "Clue Scrolls (master)": Category.CLUE,
    "LMS - Rank": Category.RATING,
    "PvP Arena - Rank": Category.RATING,
    "Soul Wars Zeal": Category.MINIGAME,
    "Rifts closed": Category.MINIGAME,
    "Colosseum Glory": Category.MINIGAME,
    "Collections Logged": Category.MINIGAME,
    "Abyssal Sire": Category.BOSS,
    "Alchemical Hydra": Category.BOSS,
    "Amoxliatl": Category.BOSS,
    "Araxxor": Category.BOSS,
    "Artio": Category.BOSS,
    "Barrows Chests": Category.BOSS,
    "Brutus": Category.BOSS,
    "Bryophyta": Category.BOSS,
    "Callisto": Category.BOSS,
    "Calvar'ion": Category.BOSS,
    "Cerberus": Category.BOSS,
    "Chambers of Xeric": Category.RAID,
    "Chambers of Xeric: Challenge Mode": Category.RAID,
    "Chaos Elemental": Category.BOSS,
    "Chaos Fanatic": Category.BOSS,
    "Commander Zilyana": Category.BOSS,
    "Corporeal Beast": Category.BOSS,
    "Crazy Archaeologist": Category.BOSS,
    "Dagannoth Prime": Category.BOSS,
    "Dagannoth Rex": Category.BOSS,
    "Dagannoth Supreme": Category.BOSS,
    "Deranged Archaeologist": Category.BOSS,
    "Doom of Mokhaiotl": Category.BOSS,
    "Duke Sucellus": Category.BOSS,
    "General Graardor": Category.BOSS,
    "Giant Mole": Category.BOSS,
    "Grotesque Guardians": Category.BOSS,
    "Hespori": Category.BOSS,
    "Kalphite Queen": Category.BOSS,
    "King Black Dragon": Category.BOSS,
    "Kraken": Category.BOSS,
    "Kree'Arra": Category.BOSS,
    "K'ril Tsutsaroth": Category.BOSS,
    "Lunar Chests": Category.BOSS,
    "Mad Angel": Category.BOSS,
    "Maggot King": Category.BOSS,
    "Mimic": Category.BOSS,
    "Nex": Category.BOSS,
    "Nightmare": Category.BOSS,
    "Phosani's Nightmare": Category.BOSS,
    "Obor": Category.BOSS,
    "Phantom Muspah": Category.BOSS,
    "Sarachnis": Category.BOSS,
    "Scorpia": Category.BOSS,
    "Scurrius": Category.BOSS,
    "Shellbane Gryphon": Category.BOSS,
    "Skotizo": Category.BOSS,
    "Sol Heredit": Category.BOSS,
    "Spindel": Category.BOSS,
    "Tempoross": Category.BOSS,
    "The Gauntlet": Category.BOSS,
    "The Corrupted Gauntlet": Category.BOSS,
    "The Hueycoatl": Category.BOSS,
    "The Leviathan": Category.BOSS,
    "The Royal Titans": Category.BOSS,
    "The Whisperer": Category.BOSS,
    "Theatre of Blood": Category.RAID,
    "Theatre of Blood: Hard Mode": Category.RAID,
    "Thermonuclear Smoke Devil": Category.BOSS,
    "Tombs of Amascut": Category.RAID,
    "Tombs of Amascut: Expert Mode": Category.RAID,
    "TzKal-Zuk": Category.BOSS,
    "TzTok-Jad": Category.BOSS,
    "Vardorvis": Category.BOSS,
    "Venenatis": Category.BOSS,
    "Vet'ion": Category.BOSS,
    "Vorkath": Category.BOSS,
    "Wintertodt": Category.BOSS,
    "Yama": Category.BOSS,
    "Zalcano": Category.BOSS,
    "Zulrah": Category.BOSS,
}

# Storage codes for snapshot encoding. APPEND-ONLY: a stored row names metrics by their index
# here, so reordering or removing an entry would corrupt every database. New names go at the end.
STORAGE_ORDER: tuple[str, ...] = (OVERALL, *SKILLS, *ACTIVITIES)
