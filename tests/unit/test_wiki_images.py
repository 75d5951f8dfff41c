"""poller.wiki_images: the verified table of OSRS Wiki pictures, and what the notice carries.

A thumbnail Discord cannot load is worse than none; these tests keep the table honest (every
MediaWiki hash path re-computed, every key a real hiscores name) and the notifier from guessing.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from notifier.notice import Notice
from poller import game, wiki_images
from poller.events import Event
from poller.notices import event_notice
from poller.wiki import WIKI_IMAGES
from poller.wiki_images import ACCOUNT_TYPES, ACTIVITY_IMAGES, SKILL_ICONS, WikiFile

WHEN = datetime(2026, 7, 1, 12, tzinfo=timezone.utc)


def notice(kind: str, metric: str, mode: str = "regular") -> Notice:
    return event_notice(Event(kind, metric, new=1), player="Zezima",  # type: ignore[arg-type]
                        mode=mode, snapshot=None, taken_at=WHEN)

ALL_FILES: list[WikiFile] = [
    *SKILL_ICONS.values(), *ACTIVITY_IMAGES.values(),
    wiki_images.COMBAT_ICON, wiki_images.STATS_ICON, wiki_images.MAX_CAPE,
    *(badge for _, badge in ACCOUNT_TYPES.values() if badge is not None),
]
HASH_PATH = re.compile(r"[0-9a-f]/[0-9a-f]{2}")
CACHE_SUFFIX = re.compile(r"\?[0-9a-f]{5}")


@pytest.mark.parametrize("file", ALL_FILES, ids=lambda f: f.name)
def test_every_name_carries_its_proof(file: WikiFile) -> None:
    assert file.proof == "item" or HASH_PATH.fullmatch(file.proof) or CACHE_SUFFIX.fullmatch(
        file.proof
    ), f"{file.name}: unknown proof {file.proof!r}"
    if HASH_PATH.fullmatch(file.proof):
        # MediaWiki files live under /images/<md5[0]>/<md5[:2]>/: a typo in the name breaks this.
        digest = hashlib.md5(file.name.encode()).hexdigest()
        assert file.proof == f"{digest[0]}/{digest[:2]}", file.name
    assert " " not in file.name and file.name.endswith(".png")
    assert file.url.startswith(WIKI_IMAGES) and " " not in file.url


def test_items_by_rule_only_where_the_family_is_confirmed() -> None:
    by_rule = {k for k, f in ACTIVITY_IMAGES.items() if f.proof == "item"}
    assert by_rule == {f"Clue Scrolls ({t})" for t in ("beginner", "easy", "medium", "elite")}
    # The tiers confirmed independently: hard by hash path, master by cache suffix.
    assert ACTIVITY_IMAGES["Clue Scrolls (hard)"].proof == "7/7c"
    assert CACHE_SUFFIX.fullmatch(ACTIVITY_IMAGES["Clue Scrolls (master)"].proof)


def test_every_skill_has_an_icon_and_every_key_is_a_hiscores_name() -> None:
    assert tuple(SKILL_ICONS) == game.SKILLS
    unknown = set(ACTIVITY_IMAGES) - set(game.ACTIVITIES)
    assert not unknown, f"not hiscores names: {unknown}"


def test_what_could_not_be_verified_has_no_picture() -> None:
    for name in ("Clue Scrolls (all)", "Mad Angel", "LMS - Rank", "Soul Wars Zeal",
                 "League Points", "Rifts closed", "Colosseum Glory", "PvP Arena - Rank"):
        assert wiki_images.metric_image(name) is None, name
        assert notice("boss", name).icon_url is None


@pytest.mark.parametrize(
    ("hiscores", "wiki"),
    [
        ("Kree'Arra", "Kree%27arra.png"),  # the Wiki's capitalisation, not the hiscores'
        ("Zulrah", "Zulrah_(serpentine).png"),
        ("Mimic", "The_Mimic.png"),
        ("The Gauntlet", "Crystalline_Hunllef.png"),
        ("Barrows Chests", "Chest_(Barrows).png"),
        ("Chambers of Xeric: Challenge Mode", "Chambers_of_Xeric_logo.png"),
    ],
)
def test_names_a_guess_would_get_wrong(hiscores: str, wiki: str) -> None:
    image = wiki_images.metric_image(hiscores)
    assert image is not None and image.url == WIKI_IMAGES + wiki


def test_every_achievement_says_what_it_is_about() -> None:
    for a in game.ACHIEVEMENTS:
        n = notice("achievement", a.name)
        assert n.about == a.metric and n.scale == a.kind, a.name
    assert notice("achievement", "Maxed").icon_url == WIKI_IMAGES + "Max_cape_detail.png"
    assert notice("achievement", "Base 70 Stats").icon_url == WIKI_IMAGES + "Stats_icon.png"
    assert notice("achievement", "500 Vorkath kills").icon_url == WIKI_IMAGES + "Vorkath.png"
    assert notice("achievement", "1,000 Clue Scrolls (all)").icon_url is None
    unknown = notice("achievement", "not an achievement")
    assert (unknown.about, unknown.scale, unknown.icon_url) == (None, None, None)


@pytest.mark.parametrize(
    ("mode", "label", "badge"),
    [
        ("ironman", "Ironman", "Ironman_chat_badge.png"),
        ("hardcore", "Hardcore Ironman", "Hardcore_ironman_chat_badge.png"),
        ("ultimate", "Ultimate Ironman", "Ultimate_ironman_chat_badge.png"),
        ("group", "Group Ironman", "Group_ironman_chat_badge.png"),
        ("hardcore_group", "Hardcore Group Ironman", None),
        ("regular", None, None),
        ("deadman", None, None),
        ("seasonal", None, None),
    ],
)
def test_account_types(mode: str, label: str | None, badge: str | None) -> None:
    player = notice("levelup", "Attack", mode).player
    assert player is not None and player.account_type == label
    assert player.badge_url == (WIKI_IMAGES + badge if badge else None)


def test_clue_tiers() -> None:
    every = notice("clue", "Clue Scrolls (all)")
    assert (every.tier, every.icon_url) == ("all", None)
    hard = notice("clue", "Clue Scrolls (hard)")
    assert (hard.tier, hard.icon_url) == ("hard", WIKI_IMAGES + "Clue_scroll_(hard).png")
    assert notice("boss", "Vorkath").tier is None


def test_the_stored_notice_keeps_its_keys_and_adds_the_new_ones() -> None:
    when = WHEN
    p = event_notice(Event("boss", "Vorkath", 495, 503, 500), player="Lynx Titan",
                     mode="hardcore", snapshot=None, taken_at=when).to_json()
    assert {"kind", "metric", "old", "new", "threshold", "milestone", "first", "player", "mode",
            "profile_url", "taken_at"} <= set(p)
    assert p["icon_url"] == WIKI_IMAGES + "Vorkath.png"
    assert p["account_type"] == "Hardcore Ironman"
    assert p["account_icon_url"] == WIKI_IMAGES + "Hardcore_ironman_chat_badge.png"
    combat = event_notice(Event("combat", "Combat", 101, 102), player="Zezima", mode="regular",
                          snapshot=None, taken_at=when).to_json()
    assert combat["icon_url"] == WIKI_IMAGES + "Combat_icon.png" and "account_type" not in combat


def test_the_notifier_builds_no_wiki_url() -> None:
    # Pictures and item pages come in the notice (poller.wiki is their one home).
    notifier = Path(__file__).resolve().parents[2] / "notifier"
    for source in notifier.glob("*.py"):
        text = source.read_text(encoding="utf-8")
        assert "runescape.wiki" not in text, f"{source.name} builds a Wiki URL"
