"""Game modes and player names: the rules every part of the program compares players by.

Tiny and dependency-free on purpose: the config reader, the hiscores client, the store and the
CLI all import it, and a cron start pays for every module on that path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

# Hiscores mode → board (the path segment after ``m=``). With ``auto`` these are the values
# allowed for ``mode`` in ``[[players]]`` and ``--mode`` on the command line, in this order.
MODES: Mapping[str, str] = MappingProxyType({
    "regular": "hiscore_oldschool",
    "ironman": "hiscore_oldschool_ironman",
    "hardcore": "hiscore_oldschool_hardcore_ironman",
    "ultimate": "hiscore_oldschool_ultimate",
    "deadman": "hiscore_oldschool_deadman",
    "seasonal": "hiscore_oldschool_seasonal",
    "tournament": "hiscore_oldschool_tournament",
    "fresh_start": "hiscore_oldschool_fresh_start",
    "skiller": "hiscore_oldschool_skiller",
    "defence_pure": "hiscore_oldschool_skiller_defence",
})
REGULAR = "regular"
# ``auto``: the account type is detected from the boards (:mod:`poller.accounts`); the player's
# stats are then read from the board of the type found.
AUTO = "auto"
CONFIG_MODES: tuple[str, ...] = (AUTO, *MODES)
DEFAULT_MODE = AUTO
# The types ``auto`` tells apart, as the Wise Old Man does (the others are separate games with
# boards of their own, never detected).
ACCOUNT_TYPES: tuple[str, ...] = ("regular", "ironman", "hardcore", "ultimate")
IRON_TYPES: frozenset[str] = frozenset({"ironman", "hardcore", "ultimate"})


def board_mode(mode: str, detected: str | None = None) -> str:
    """The hiscores mode to read a player from: the configured one, or for ``auto`` the
    detected type (regular until one is known)."""
    if mode != AUTO:
        return mode
    return detected if detected in MODES else REGULAR

PLAYER_NAME_ALLOWED = "1–12 letters, digits, spaces, '-' or '_'"
_PLAYER_NAME = re.compile(r"[A-Za-z0-9 _-]{1,12}")


def validate_player_name(name: str) -> str | None:
    """Why ``name`` cannot be an OSRS display name, or None when it can."""
    if not _PLAYER_NAME.fullmatch(name):
        if not name:
            return "is empty"
        if len(name) > 12:
            return "is longer than 12 characters"
        return "has characters not allowed"
    if name != name.strip():
        return "starts or ends with a space"
    return None


def normalize_name(name: str) -> str:
    """The form under which the hiscores treat two names as the same player (and the key a
    player is stored under).

    Jagex treats case, ``_``, ``-`` and spaces (including the non-breaking space the hiscores
    sometimes return) as the same character, so "Lynx_Titan", "lynx titan" and "Lynx-Titan" are
    one account: duplicates, webhook player lists, routing and the database keys go through this.
    """
    return " ".join(name.lower().replace("_", " ").replace("-", " ").split())
