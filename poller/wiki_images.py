"""Pictures a message may show: the OSRS Wiki's own file names, verified, never guessed.

The notifier shows a thumbnail (a skill, boss, raid or clue picture) and the account type's helm
badge, but it must never build an OSRS file name itself: a name guessed from a hiscores name is
often wrong ("Kree'Arra.png" is "Kree'arra.png", Zulrah's picture is "Zulrah_(serpentine).png",
the Mimic's "The_Mimic.png") and Discord then shows a broken image. So the poller hands it URLs
from the tables below (``poller.notices`` puts them in the notice), and a name that is not in a
table gets no picture at all.

How each name was verified (2026-07; the proof is kept beside each entry):

- ``"f/fe"`` — a **MediaWiki hash path**: the Wiki stores ``X.png`` under ``/images/a/ab/X.png``
  where ``ab`` starts the MD5 of the name, and public projects quote such URLs copied from the
  Wiki (e.g. ``oldschool.runescape.wiki/images/f/fe/Attack_icon.png?b4bce``). A matching hash
  cannot come from guessing; ``tests/unit/test_wiki_images.py`` re-checks every one.
- ``"?1ce3f"`` — the Wiki's **cache suffix**: the Wiki appends ``?xxxxx`` to the image URLs it
  serves, so a URL carrying one was copied from a Wiki page, not typed. Where two independent
  projects quote the same file the proof names the first; the sources are listed per group.
- ``"item"`` — an item's inventory picture, which the Wiki names after the item
  (``"Clue scroll (easy).png"``); that rule is what the Wiki's own ``/mapping`` API returns for
  ~94% of items, the exceptions being stacks and charged variants, which clue scrolls are not.
  Two of the six tiers are confirmed independently (hard by hash path, master by cache suffix).

Sources (public projects quoting Wiki image URLs; facts only, no code taken):

- [H] URLs with MediaWiki hash paths in public projects' source, found by full-text search of
  public GitHub code (skill icons: a Vue stat calculator's ``skillImageDict``; badges: a RuneLite
  plugin's ``getPlayerIconUrl``; Clue scroll (hard): a 2014 script quoting the Wiki's Fandom-era
  path, whose files the OSRS Wiki took over in 2018).
- [R] ``Ramon96/DiscordBot`` — ``src/helpers/osrs/bosses.ts`` (Wiki thumbnails with cache suffixes).
- [T] a public boss-icon table (``bossIconUrls`` / ``getBossIconUrls``, 96px Wiki thumbnails with
  cache suffixes; search-corpus file 66538207994), agreeing with [R] file for file where both
  name the same picture.
- [B] public bingo-board and clan-site sources quoting the same Wiki URLs with cache suffixes
  (for the raid logos, Yama, Maggot King, Brutus, Doom of Mokhaiotl, Sol Heredit, the Max cape,
  the collection log).

Left out (no thumbnail) because no name could be verified: Clue Scrolls (all), Mad Angel, the
minigames and points (League, Deadman and Grid Points, Bounty Hunter, LMS, PvP Arena, Soul Wars
Zeal, Rifts closed, Colosseum Glory), and the hardcore group ironman badge.

Items (price alerts) are verified by rule, not listed here: their icon is the ``icon`` field of
the Wiki's ``/mapping`` API, i.e. the Wiki's own file name (:attr:`poller.items.ItemInfo.icon_url`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from . import game
from .wiki import image_url


@dataclass(frozen=True, slots=True)
class WikiFile:
    """One verified Wiki image: its file name (underscores for spaces) and the proof kept."""

    name: str
    proof: str  # "f/fe" (hash path), "?b4bce" (cache suffix) or "item" (see the module doc)

    @property
    def url(self) -> str:
        return image_url(self.name)


def _files(table: Mapping[str, tuple[str, str]]) -> Mapping[str, WikiFile]:
    return MappingProxyType({key: WikiFile(name, proof) for key, (name, proof) in table.items()})


# -- skills [H] ---------------------------------------------------------------------------------
# Hash paths from [H]; Sailing (2025, newer than that source) by its cache suffix, quoted by
# several Sailing tools as their page icon.
SKILL_ICONS: Mapping[str, WikiFile] = _files({
    "Attack": ("Attack_icon.png", "f/fe"),
    "Defence": ("Defence_icon.png", "b/b7"),
    "Strength": ("Strength_icon.png", "1/1b"),
    "Hitpoints": ("Hitpoints_icon.png", "9/96"),
    "Ranged": ("Ranged_icon.png", "1/19"),
    "Prayer": ("Prayer_icon.png", "f/f2"),
    "Magic": ("Magic_icon.png", "5/5c"),
    "Cooking": ("Cooking_icon.png", "d/dc"),
    "Woodcutting": ("Woodcutting_icon.png", "f/f4"),
    "Fletching": ("Fletching_icon.png", "9/93"),
    "Fishing": ("Fishing_icon.png", "3/3b"),
    "Firemaking": ("Firemaking_icon.png", "9/9b"),
    "Crafting": ("Crafting_icon.png", "c/cf"),
    "Smithing": ("Smithing_icon.png", "d/dd"),
    "Mining": ("Mining_icon.png", "4/4a"),
    "Herblore": ("Herblore_icon.png", "0/03"),
    "Agility": ("Agility_icon.png", "8/86"),
    "Thieving": ("Thieving_icon.png", "4/4a"),
    "Slayer": ("Slayer_icon.png", "2/28"),
    "Farming": ("Farming_icon.png", "f/fc"),
    "Runecraft": ("Runecraft_icon.png", "6/63"),
    "Hunter": ("Hunter_icon.png", "d/dd"),
    "Construction": ("Construction_icon.png", "f/f6"),
    "Sailing": ("Sailing_icon.png", "?ebfec"),
})
COMBAT_ICON = WikiFile("Combat_icon.png", "8/8f")  # [H]
STATS_ICON = WikiFile("Stats_icon.png", "b/bd")  # [H]: the total-level icon, for Overall and bases
MAX_CAPE = WikiFile("Max_cape_detail.png", "?4f67e")  # [B]

# -- bosses, raids, clues, activities, by hiscores name ----------------------------------------
# Bosses: [R] and [T] name the same file with the same suffix unless a note says otherwise.
ACTIVITY_IMAGES: Mapping[str, WikiFile] = _files({
    "Abyssal Sire": ("Abyssal_Sire.png", "?d2205"),  # [R], [B]
    "Alchemical Hydra": ("Alchemical_Hydra_(serpentine).png", "?925dd"),
    "Amoxliatl": ("Amoxliatl.png", "?01b12"),
    "Araxxor": ("Araxxor.png", "?35d2e"),
    "Artio": ("Artio.png", "?bfba7"),
    "Barrows Chests": ("Chest_(Barrows).png", "?9aff2"),
    "Brutus": ("Brutus.png", "?eda9e"),  # [T], [B]
    "Bryophyta": ("Bryophyta.png", "?08bc8"),
    "Callisto": ("Callisto.png", "?bfba7"),
    "Calvar'ion": ("Calvar'ion.png", "?6268f"),
    "Cerberus": ("Cerberus.png", "?47f4c"),
    "Chambers of Xeric": ("Chambers_of_Xeric_logo.png", "0/04"),  # [H], [T], [B]
    "Chambers of Xeric: Challenge Mode": ("Chambers_of_Xeric_logo.png", "0/04"),
    "Chaos Elemental": ("Chaos_Elemental.png", "?c170c"),
    "Chaos Fanatic": ("Chaos_Fanatic.png", "?8871d"),
    "Commander Zilyana": ("Commander_Zilyana.png", "?c5eaa"),
    "Corporeal Beast": ("Corporeal_Beast.png", "?52ebb"),
    "Crazy Archaeologist": ("Crazy_archaeologist.png", "?3ecc9"),
    "Dagannoth Prime": ("Dagannoth_Prime.png", "?945b1"),
    "Dagannoth Rex": ("Dagannoth_Rex.png", "?a99a9"),
    "Dagannoth Supreme": ("Dagannoth_Supreme.png", "?81f00"),
    "Deranged Archaeologist": ("Deranged_archaeologist.png", "?3ecc9"),  # [R]; [T] ?32c7e
    "Doom of Mokhaiotl": ("Doom_of_Mokhaiotl.png", "?e5edb"),  # [T], [B]
    "Duke Sucellus": ("Duke_Sucellus.png", "?d588a"),
    "General Graardor": ("General_Graardor.png", "?4dd90"),
    "Giant Mole": ("Giant_Mole.png", "?3f58a"),
    "Grotesque Guardians": ("Dawn.png", "?8b8ea"),  # [T], [B]
    "Hespori": ("Hespori.png", "?cd901"),  # [R]; [T] ?83c72
    "Kalphite Queen": ("Kalphite_Queen.png", "5/57"),  # [H], [T], [B]
    "King Black Dragon": ("King_Black_Dragon.png", "?d25f0"),
    "Kraken": ("Kraken.png", "?a4955"),
    "Kree'Arra": ("Kree'arra.png", "?ba75c"),
    "K'ril Tsutsaroth": ("K'ril_Tsutsaroth.png", "?73bda"),
    "Lunar Chests": ("Lunar_Chest_(closed).png", "?19bbc"),
    "Maggot King": ("Maggot_King.png", "?a6790"),  # [B]
    "Mimic": ("The_Mimic.png", "?b45f4"),  # [R], [B]
    "Nex": ("Nex.png", "?d2205"),  # [R]; [T] ?2a1b3
    "Nightmare": ("The_Nightmare.png", "?0128a"),
    "Phosani's Nightmare": ("The_Nightmare.png", "?0128a"),  # [T]
    "Obor": ("Obor.png", "?08bc8"),
    "Phantom Muspah": ("Phantom_Muspah_(ranged).png", "?9cf6a"),
    "Sarachnis": ("Sarachnis.png", "?8f040"),
    "Scorpia": ("Scorpia.png", "?d588a"),  # [R]; [T] ?517c9
    "Scurrius": ("Scurrius.png", "?e66a5"),
    "Shellbane Gryphon": ("Shellbane_gryphon.png", "?bc76e"),  # [T]
    "Skotizo": ("Skotizo.png", "?dc8b8"),
    "Sol Heredit": ("Sol_Heredit.png", "?91250"),  # [T], [B]
    "Spindel": ("Spindel.png", "?2c818"),
    "Tempoross": ("Tempoross.png", "?12042"),
    "The Gauntlet": ("Crystalline_Hunllef.png", "?7737a"),
    "The Corrupted Gauntlet": ("Corrupted_Hunllef.png", "?0cd55"),
    "The Hueycoatl": ("The_Hueycoatl.png", "?7b216"),
    "The Leviathan": ("The_Leviathan.png", "?d588a"),
    "The Royal Titans": ("Branda_the_Fire_Queen.png", "?0687c"),  # [T]
    "The Whisperer": ("The_Whisperer.png", "?aedab"),
    "Theatre of Blood": ("Theatre_of_Blood_logo.png", "?e6e68"),  # [T], [B]
    "Theatre of Blood: Hard Mode": ("Theatre_of_Blood_logo.png", "?e6e68"),
    "Thermonuclear Smoke Devil": ("Thermonuclear_smoke_devil.png", "?de858"),  # [T]
    "Tombs of Amascut": ("Tombs_of_Amascut.png", "?f9992"),  # [T], [B]
    "Tombs of Amascut: Expert Mode": ("Tombs_of_Amascut.png", "?f9992"),
    "TzKal-Zuk": ("TzKal-Zuk.png", "?2d222"),
    "TzTok-Jad": ("TzTok-Jad.png", "?87507"),  # [R]; [T] ?df681
    "Vardorvis": ("Vardorvis.png", "?48af8"),
    "Venenatis": ("Venenatis.png", "?13693"),
    "Vet'ion": ("Vet'ion.png", "?8695f"),  # [T]
    "Vorkath": ("Vorkath.png", "?1ce3f"),
    "Wintertodt": ("Wintertodt_icon.png", "?73109"),  # [T]
    "Yama": ("Yama.png", "?7653a"),  # [T], [B]
    "Zalcano": ("Zalcano_(weakened).png", "?fa423"),
    "Zulrah": ("Zulrah_(serpentine).png", "?29a54"),
    # Clue tiers: the scroll items (see "item" in the module doc); hard [H], master [B].
    "Clue Scrolls (beginner)": ("Clue_scroll_(beginner).png", "item"),
    "Clue Scrolls (easy)": ("Clue_scroll_(easy).png", "item"),
    "Clue Scrolls (medium)": ("Clue_scroll_(medium).png", "item"),
    "Clue Scrolls (hard)": ("Clue_scroll_(hard).png", "7/7c"),
    "Clue Scrolls (elite)": ("Clue_scroll_(elite).png", "item"),
    "Clue Scrolls (master)": ("Clue_scroll_(master).png", "?09bb0"),
    "Collections Logged": ("Collection_log.png", "?7b468"),  # [B]
})

# -- account types: the chat badges the game shows before an ironman's name [H] ---------------
# Labels as the game names the types. Only the ironman family is marked: the other boards
# (deadman, seasonal, ...) are game modes, not account types, and their link says which board.
# "group"/"hardcore_group" are not hiscores boards (no config mode selects them yet); they are
# here so that a detected group ironman is marked the same way.
ACCOUNT_TYPES: Mapping[str, tuple[str, WikiFile | None]] = MappingProxyType({
    "ironman": ("Ironman", WikiFile("Ironman_chat_badge.png", "0/09")),
    "hardcore": ("Hardcore Ironman", WikiFile("Hardcore_ironman_chat_badge.png", "b/b8")),
    "ultimate": ("Ultimate Ironman", WikiFile("Ultimate_ironman_chat_badge.png", "0/02")),
    "group": ("Group Ironman", WikiFile("Group_ironman_chat_badge.png", "?1b467")),
    "hardcore_group": ("Hardcore Group Ironman", None),
})


# -- lookups ------------------------------------------------------------------------------------


def metric_image(metric: str) -> WikiFile | None:
    """The verified picture of a skill, boss, raid, clue tier or activity; None if unverified."""
    if metric == game.OVERALL:
        return STATS_ICON
    return SKILL_ICONS.get(metric) or ACTIVITY_IMAGES.get(metric)


def achievement_image(a: game.Achievement) -> WikiFile | None:
    if a.kind == "base":
        return MAX_CAPE if a.threshold >= game.MAX_LEVEL else STATS_ICON
    return metric_image(a.metric)


def account_type(mode: str) -> tuple[str, WikiFile | None] | None:
    """(label, badge) for an ironman account type, None for every other mode."""
    return ACCOUNT_TYPES.get(mode)
