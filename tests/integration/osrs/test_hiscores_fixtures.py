"""The hiscores parsers against real captured responses in ../shared/fixtures/hiscores.

Skips cleanly where the captures are absent (a user's fresh clone)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import responses

from poller.errors import ValidationError
from poller.game import ACTIVITIES, OVERALL, SKILLS
from poller.hiscores import HiscoresClient, parse_json
from poller.hiscores_csv import CSV_LAYOUTS, parse_csv
from poller.http import HttpClient, HttpConfig
from poller.names import MODES
from poller.snapshot import Snapshot


@pytest.fixture(scope="module")
def captures(shared_fixtures: Path) -> Path:
    return shared_fixtures / "hiscores"


def load(captures: Path, name: str) -> dict[str, Any]:
    return json.loads((captures / name).read_text())


def parse_file(path: Path) -> Snapshot:
    if path.suffix == ".json":
        return parse_json(path.read_bytes())
    return parse_csv(path.read_text())


def test_every_capture_parses(captures: Path) -> None:
    files = sorted(p for p in captures.iterdir() if p.suffix in (".json", ".csv"))
    assert files, "no captures found"
    for path in files:
        snap = parse_file(path)
        assert snap.overall_level is not None, path.name
        assert snap.skills, path.name


def test_every_json_capture_uses_only_known_names(captures: Path) -> None:
    for path in sorted(captures.glob("*.json")):
        doc = load(captures, path.name)
        names = [e["name"] for e in doc["skills"]]
        assert set(names) <= {OVERALL, *SKILLS}, path.name
        assert {e["name"] for e in doc["activities"]} <= set(ACTIVITIES), path.name


def test_b0aty_json_and_csv_twins_agree(captures: Path) -> None:
    from_json = parse_json((captures / "b0aty_2023-08.json").read_bytes())
    from_csv = parse_csv((captures / "b0aty_2023-08.csv").read_text())
    assert from_csv == from_json
    assert dict(from_csv.ranks) == dict(from_json.ranks)
    assert from_csv.overall_level == from_json.overall_level == 2277
    assert "Sailing" not in from_json.skills  # a 2023 layout: unknown, not zero


def test_csv_layouts_follow_the_captured_json_order(captures: Path) -> None:
    # Every JSON capture fixes one layout's row order; the CSV twin pair shows the CSV rows
    # come in the JSON order. Our positional tables must agree with each capture exactly.
    checked = set()
    for path in sorted(captures.glob("*.json")):
        doc = load(captures, path.name)
        skills = tuple(e["name"] for e in doc["skills"])
        acts = tuple(e["name"] for e in doc["activities"])
        layout = CSV_LAYOUTS[(len(skills), len(acts))]
        assert layout.skills == skills, path.name
        assert layout.activities == acts, path.name
        checked.add(layout.key)
    assert checked == {(24, 74), (24, 79), (25, 88), (25, 91)}


def test_lynx_2026_07_newest_layout(captures: Path, caplog: pytest.LogCaptureFixture) -> None:
    doc = load(captures, "lynx_titan_2026-07_noids.json")
    skill_names = [e["name"] for e in doc["skills"]]
    act_names = [e["name"] for e in doc["activities"]]
    assert len(SKILLS) == 24
    assert set(SKILLS) <= set(skill_names)
    assert skill_names == [OVERALL, *SKILLS]
    assert len(act_names) == 91 == len(ACTIVITIES)
    assert set(act_names) == set(ACTIVITIES)
    assert {"Brutus", "Maggot King", "Mad Angel"} <= set(act_names)

    with caplog.at_level(logging.INFO, logger="osrs_notify.hiscores"):
        snap = parse_json((captures / "lynx_titan_2026-07_noids.json").read_bytes())
    assert not caplog.records  # nothing unknown
    assert set(snap.skills) == {OVERALL, *SKILLS}
    assert snap.overall_xp == 4_800_000_000
    assert snap.overall_level == 2277
    ranked = {e["name"]: e["score"] for e in doc["activities"] if e["rank"] != -1}
    assert dict(snap.activities) == ranked
    unranked = {e["name"] for e in doc["activities"] if e["rank"] == -1}
    assert unranked and not unranked & set(snap.activities)


def test_lynx_2026_01_sailing_unranked_is_absent(captures: Path) -> None:
    doc = load(captures, "lynx_titan_2026-01.json")
    sailing = next(e for e in doc["skills"] if e["name"] == "Sailing")
    assert sailing["rank"] == -1 and sailing["xp"] == 0  # the capture's shape
    snap = parse_json((captures / "lynx_titan_2026-01.json").read_bytes())
    assert "Sailing" not in snap.skills
    assert snap.xp("Sailing") is None
    assert set(snap.skills) == {OVERALL, *SKILLS} - {"Sailing"}
    assert snap.overall_xp == 4_600_000_000  # over 2^31
    assert snap.overall_level == 2278
    assert len(doc["activities"]) == 88
    assert "Brutus" not in snap.activities  # not on that layout: unknown


def test_unranked_skills_2024(captures: Path) -> None:
    doc = load(captures, "unranked_skills_2024.json")
    unranked = {e["name"] for e in doc["skills"] if e["rank"] == -1}
    assert unranked == {"Attack", "Defence", "Strength", "Hitpoints", "Prayer"}
    snap = parse_json((captures / "unranked_skills_2024.json").read_bytes())
    assert not unranked & set(snap.skills)
    assert snap.overall_level == 1429
    assert snap.overall_xp == 24_320_820
    assert snap.xp("Ranged") == 1_480_269
    assert "Hitpoints" not in snap.skills


def test_psikoi_csv_uses_2025_11_layout(captures: Path) -> None:
    text = (captures / "psikoi_2025-11.csv").read_text()
    layout = CSV_LAYOUTS[(24, 88)]
    assert layout.label == "2025-11"
    assert "Sailing" not in layout.skills
    snap = parse_csv(text)
    assert snap == parse_csv(text, layout)
    assert snap.overall_level == 2184
    assert snap.overall_xp == 300_192_115
    assert snap.xp("Construction") == 4_537_106
    assert "Sailing" not in snap.skills
    assert snap.score("Clue Scrolls (all)") == 585
    assert snap.score("LMS - Rank") == 500
    assert snap.score("Zulrah") == 1646  # the last row
    assert snap.score("Grid Points") is None  # first activity row, unranked


@pytest.mark.parametrize("name", ["b0aty_2023-08.csv", "psikoi_2025-11.csv"])
def test_csv_with_one_row_more_or_less_is_refused(captures: Path, name: str) -> None:
    text = (captures / name).read_text().strip()
    with pytest.raises(ValidationError, match="refusing to guess"):
        parse_csv(text + "\n-1,-1\n")
    with pytest.raises(ValidationError, match="refusing to guess"):
        parse_csv("\n".join(text.splitlines()[:-1]))


@pytest.mark.parametrize(
    "name",
    [
        "lynx_titan_2026-01.json",
        "lynx_titan_2026-07_noids.json",
        "b0aty_2023-08.json",
        "unranked_skills_2024.json",
    ],
)
def test_client_against_served_captures(captures: Path, name: str) -> None:
    body = (captures / name).read_bytes()
    endpoint = "https://hiscores.test"
    url = f"{endpoint}/m={MODES['regular']}/index_lite.json"
    http = HttpClient(
        HttpConfig(user_agent="osrs-notify-tests/1.0 (ops@example.invalid)", rate_per_minute=0)
    )
    client = HiscoresClient(http, endpoint)
    with responses.RequestsMock() as rsps:
        rsps.get(url, body=body, content_type="application/json")
        assert client.fetch("Lynx Titan") == parse_json(body)
        assert client.fetch("Lynx Titan") == parse_json(body)  # second one from the cache
        assert len(rsps.calls) == 1
        assert rsps.calls[0].request.url == url + "?player=Lynx%20Titan"
    http.close()
