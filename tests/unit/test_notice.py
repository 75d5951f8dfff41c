"""notifier.notice: the versioned contract between poller and notifier.

The outbox holds ``Notice.to_json()``; ``Notice.from_json`` reads every version stored so far.
``golden/outbox_v0_payloads.json`` holds the payloads of every golden test exactly as the release
before notices (version 0) stored them, captured from that release's ``event_payload`` and
``price_payload``: read back today, they must render byte for byte as the goldens.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from notifier.messages import Style, build_messages
from notifier.notice import VERSION, Notice, NoticeError, Player, PriceAlert
from poller.alerts import Alert
from poller.events import Event
from poller.items import ItemInfo
from poller.notices import count_unit, event_notice, price_notice
from poller.snapshot import Snapshot

GOLDEN = Path(__file__).parent / "golden"
V0 = json.loads((GOLDEN / "outbox_v0_payloads.json").read_text(encoding="utf-8"))
WHEN = datetime(2026, 7, 1, 12, tzinfo=timezone.utc)


@pytest.mark.parametrize("name", sorted(V0))
def test_payloads_stored_by_the_release_before_render_as_the_goldens(name: str) -> None:
    case = V0[name]
    assert all("version" not in p for _, p in case["items"])  # really version 0
    items = [(i, Notice.from_json(p)) for i, p in case["items"]]
    messages = build_messages(items, Style(**case["style"]))
    actual = [{"delivery_ids": list(m.delivery_ids), "body": m.body} for m in messages]
    expected = json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
    assert json.loads(json.dumps(actual)) == expected


def test_version_0_gets_the_unit_and_scale_its_notifier_derived() -> None:
    def v0(kind: str, metric: str) -> Notice:
        return Notice.from_json({"kind": kind, "metric": metric, "new": 5, "player": "Zezima"})

    assert (v0("boss", "Barrows Chests").unit, v0("boss", "Vorkath").unit) == ("chests", "kills")
    assert v0("clue", "Clue Scrolls (hard)").unit == "completed"
    assert (v0("activity", "League Points").unit, v0("activity", "Soul Wars Zeal").unit) == (
        "points", "")
    assert [v0(k, "x").scale for k in ("levelup", "xp", "boss", "combat", "player")] == [
        "level", "xp", "score", None, None]
    # The poller decides the same today, from game data.
    for kind, metric in (("boss", "Barrows Chests"), ("boss", "Vorkath"),
                         ("clue", "Clue Scrolls (hard)"), ("activity", "League Points"),
                         ("activity", "Soul Wars Zeal")):
        assert count_unit(kind, metric) == v0(kind, metric).unit


def _snapshot() -> Snapshot:
    skills = {"Overall": 13_034_431 * 2, "Attack": 13_034_431, "Strength": 13_034_431}
    return Snapshot(skills=skills, activities={"Vorkath": 503}, overall_level=198)


@pytest.mark.parametrize(
    "notice",
    [
        event_notice(Event("boss", "Vorkath", 495, 503, 500), player="Iron_Lynx",
                     mode="hardcore", snapshot=_snapshot(), taken_at=WHEN),
        event_notice(Event("achievement", "500 Vorkath kills", new=500, milestone=True),
                     player="Zezima", mode="regular", snapshot=None, taken_at=WHEN),
        event_notice(Event("clue", "Clue Scrolls (hard)", 99, 100, 100), player="Zezima",
                     mode="ultimate", snapshot=None, taken_at=WHEN),
        event_notice(Event("player", "missing", new=5), player="Zezima", mode="regular",
                     snapshot=None, taken_at=WHEN),
        price_notice(
            ItemInfo(20997, "Twisted bow", icon="Twisted bow.png"),
            Alert("change", "down", 1_300_000_000, 1_150_000_000, 1_235_000_000,
                  ("change", "below"), change_pct=-11.54),
            SimpleNamespace(above=None, below=1_200_000_000, change_pct=5.0, window="1h"),  # type: ignore[arg-type]
            high=1_160_000_000, low=1_140_000_000, average=1_300_000_000, now=WHEN,
        ),
        Notice("player", "renamed", player=Player("New"), old_name="Old_Name"),
    ],
)
def test_round_trip_through_json(notice: Notice) -> None:
    stored = json.loads(json.dumps(notice.to_json(), allow_nan=False))
    assert stored["version"] == VERSION
    assert Notice.from_json(stored) == notice


def test_what_the_poller_fills_in() -> None:
    n = event_notice(Event("boss", "Vorkath", 495, 503, 500), player="Iron_Lynx",
                     mode="hardcore", snapshot=_snapshot(), taken_at=WHEN)
    assert n.player == Player(
        "Iron_Lynx", "hardcore",
        "https://secure.runescape.com/m=hiscore_oldschool_hardcore_ironman/hiscorepersonal"
        "?user1=Iron_Lynx",
        "Hardcore Ironman",
        "https://oldschool.runescape.wiki/images/Hardcore_ironman_chat_badge.png",
    )
    assert (n.unit, n.scale, n.icon_url) == (
        "kills", "score", "https://oldschool.runescape.wiki/images/Vorkath.png")
    assert n.total_level == 198 and n.combat is not None
    band = event_notice(Event("achievement", "200M Fishing", new=200_000_000, milestone=True),
                        player="Zezima", mode="regular", snapshot=None, taken_at=WHEN)
    assert (band.about, band.scale) == ("Fishing", "xp")
    tier = event_notice(Event("clue", "Clue Scrolls (all)", 1, 2), player="Zezima",
                        mode="regular", snapshot=None, taken_at=WHEN)
    assert tier.tier == "all"


def test_json_keeps_the_version_0_keys() -> None:
    # Redis subscribers read the outbox payload (README "Redis"): its keys stay.
    n = event_notice(Event("levelup", "Strength", 98, 99, 99, milestone=True), player="Zezima",
                     mode="hardcore", snapshot=_snapshot(), taken_at=WHEN)
    assert {"kind", "metric", "old", "new", "threshold", "milestone", "first", "player", "mode",
            "profile_url", "taken_at", "icon_url", "account_type", "account_icon_url", "combat",
            "total_level", "overall_xp"} <= set(n.to_json())
    p = price_notice(ItemInfo(1, "Feather"), Alert("above", "up", 1, 3, 2, ("above",)),
                     SimpleNamespace(above=2, below=None, change_pct=None, window="1h"),  # type: ignore[arg-type]
                     high=None, low=None, average=None, now=WHEN)
    assert {"item_id", "url", "rule", "rules", "direction", "window", "average", "change_pct",
            "high", "low", "watch_above", "watch_below", "watch_change_pct"} <= set(p.to_json())
    assert p.price == PriceAlert(1, "https://prices.runescape.wiki/osrs/item/1", "above",
                                 ("above",), "up", "1h", watch_above=2)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ([1, 2], "must be a JSON object"),
        ({"version": VERSION + 1, "kind": "levelup"}, "newer release"),
        ({"version": "1"}, "unreadable"),
    ],
)
def test_what_cannot_be_read_is_refused(data: object, problem: str) -> None:
    with pytest.raises(NoticeError, match=problem):
        Notice.from_json(data)


def test_wrong_types_read_as_unknown() -> None:
    n = Notice.from_json({"kind": "levelup", "metric": None, "old": True, "new": "7",
                          "player": 5, "taken_at": "not a time", "icon_url": 3})
    assert (n.metric, n.old, n.new, n.taken_at, n.icon_url) == ("?", None, None, None, None)
    assert n.player == Player("5")
