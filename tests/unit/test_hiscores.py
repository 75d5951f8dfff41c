"""poller/hiscores.py on synthetic, real-shaped responses: parse by name, unknown is absent,
typed errors, board URLs and name encoding. No network: ``responses`` serves every reply."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from poller import hiscores
from poller.errors import (
    HiscoresUnavailable,
    PlayerNotFound,
    RateLimitError,
    ValidationError,
)
from poller.game import ACTIVITIES, OVERALL, SKILLS, xp_for_level
from poller.hiscores import (
    HiscoresClient,
    board_url,
    parse_json,
    profile_url,
)
from poller.hiscores_csv import CSV_LAYOUTS, parse_csv
from poller.http import HttpClient, HttpConfig
from poller.names import MODES

ENDPOINT = "https://hiscores.test"
UA = "osrs-notify-tests/1.0 (ops@example.invalid)"


# A possible account: eleven skills at 200M (Overall xp past 2^31), the rest at 70 and one 71;
# the Overall row is their sum, as the hiscores' is (parse_json checks it).
LEVELS: dict[str, int] = {
    name: 99 if i < 11 else 71 if name == "Sailing" else 70 for i, name in enumerate(SKILLS)
}
XP: dict[str, int] = {
    name: 200_000_000 - i if LEVELS[name] == 99 else xp_for_level(LEVELS[name]) + 1_000 + i
    for i, name in enumerate(SKILLS)
}
TOTAL_LEVEL = sum(LEVELS.values())
TOTAL_XP = sum(XP.values())
assert TOTAL_LEVEL == 2000 and TOTAL_XP > 2**31


def real_shaped(*, with_ids: bool = True) -> dict[str, Any]:
    """A document shaped like today's index_lite.json: every skill and activity, by name."""
    skills: list[dict[str, Any]] = [
        {"name": OVERALL, "rank": 1234, "level": TOTAL_LEVEL, "xp": TOTAL_XP},
    ]
    for i, name in enumerate(SKILLS):
        skills.append({"name": name, "rank": 100 + i, "level": LEVELS[name], "xp": XP[name]})
    activities = [
        {"name": name, "rank": 10 + i, "score": 50 + i} for i, name in enumerate(ACTIVITIES)
    ]
    if with_ids:
        for i, entry in enumerate(skills):
            entry["id"] = i
        for i, entry in enumerate(activities):
            entry["id"] = i
    return {"skills": skills, "activities": activities}


def unique_name() -> str:
    # The "logged once" set is per process; a fresh name keeps tests independent.
    return f"Test Boss {uuid.uuid4().hex[:8]}"


# -- parse_json --------------------------------------------------------------------------------


def test_parse_real_shaped_document() -> None:
    snap = parse_json(json.dumps(real_shaped()))
    assert set(snap.skills) == {OVERALL, *SKILLS}
    assert set(snap.activities) == set(ACTIVITIES)
    assert snap.overall_xp == TOTAL_XP > 2**31
    assert snap.overall_level == 2000
    assert snap.xp("Attack") == 200_000_000
    assert snap.xp("Sailing") == XP["Sailing"]
    # Every row it had, ranked or not: what tells a new row from an unranked one later.
    assert snap.layout == {OVERALL, *SKILLS, *ACTIVITIES}
    assert snap.score("Zulrah") == 50 + list(ACTIVITIES).index("Zulrah")
    assert snap.ranks["Attack"] == 100
    assert snap.ranks[OVERALL] == 1234


def test_parse_accepts_bytes_str_mapping_and_bom() -> None:
    doc = real_shaped()
    text = json.dumps(doc)
    expected = parse_json(doc)
    assert parse_json(text) == expected
    assert parse_json(text.encode()) == expected
    assert parse_json(b"\xef\xbb\xbf" + text.encode()) == expected


def test_ids_and_positions_are_ignored() -> None:
    doc = real_shaped()
    shuffled = real_shaped()
    shuffled["skills"].reverse()
    shuffled["activities"].reverse()
    for entry in shuffled["activities"]:
        entry["id"] = 999  # nonsense ids must not matter
    assert parse_json(shuffled) == parse_json(doc)
    assert parse_json(real_shaped(with_ids=False)) == parse_json(doc)


@pytest.mark.parametrize(
    "placeholder",
    [
        {"rank": -1, "level": 1, "xp": -1},
        {"rank": -1, "level": 1, "xp": 0},
        {"rank": -1, "level": 15, "xp": 2_500},
    ],
)
def test_unranked_skill_is_absent_whatever_level_and_xp_say(
    placeholder: dict[str, int],
) -> None:
    doc = real_shaped()
    for entry in doc["skills"]:
        if entry["name"] in ("Hitpoints", "Sailing"):
            entry.update(placeholder)
    snap = parse_json(doc)
    assert "Hitpoints" not in snap.skills
    assert "Sailing" not in snap.skills
    assert "Hitpoints" not in snap.ranks
    assert snap.xp("Hitpoints") is None
    assert snap.overall_level == 2000  # Overall still ranked
    # Unranked, not missing: the rows were there, so a later value is an appearance.
    assert {"Hitpoints", "Sailing"} <= snap.layout
    assert snap.had_row("Sailing") is True


def test_unranked_overall_has_no_level() -> None:
    doc = real_shaped()
    doc["skills"][0].update(rank=-1, level=1, xp=-1)
    snap = parse_json(doc)
    assert snap.overall_level is None
    assert snap.overall_xp is None
    assert snap.xp("Attack") is not None


@pytest.mark.parametrize("entry", [{"rank": -1, "score": -1}, {"rank": -1, "score": 3}])
def test_unranked_activity_is_absent(entry: dict[str, int]) -> None:
    doc = real_shaped()
    for act in doc["activities"]:
        if act["name"] == "Vorkath":
            act.update(entry)
    snap = parse_json(doc)
    assert "Vorkath" not in snap.activities
    assert snap.score("Vorkath") is None


def test_expected_names_missing_are_unknown_not_zero() -> None:
    doc = real_shaped()
    doc["skills"] = [s for s in doc["skills"] if s["name"] != "Sailing"]
    doc["activities"] = [a for a in doc["activities"] if a["name"] not in ("Yama", "Brutus")]
    snap = parse_json(doc)
    assert "Sailing" not in snap.skills
    assert snap.score("Yama") is None and snap.score("Brutus") is None
    assert len(snap.activities) == len(ACTIVITIES) - 2
    # Missing is not unranked: the layout says which rows the response had.
    assert snap.layout == {OVERALL, *SKILLS, *ACTIVITIES} - {"Sailing", "Yama", "Brutus"}
    assert snap.had_row("Yama") is False


def test_unknown_boss_in_the_middle_changes_nothing_else() -> None:
    doc = real_shaped()
    with_new = real_shaped()
    middle = len(with_new["activities"]) // 2
    # Jagex-style insertion: new row in the middle, every later id shifted by one.
    with_new["activities"].insert(
        middle, {"id": middle, "name": unique_name(), "rank": 7, "score": 9}
    )
    for i, entry in enumerate(with_new["activities"]):
        entry["id"] = i
    with_new["skills"].insert(5, {"id": 5, "name": "Necromancy", "rank": 1, "level": 99, "xp": 1})
    old, new = parse_json(doc), parse_json(with_new)
    assert new == old
    assert dict(new.ranks) == dict(old.ranks)
    assert new.overall_level == old.overall_level


def test_unknown_name_logged_once_per_process(caplog: pytest.LogCaptureFixture) -> None:
    name = unique_name()
    doc = real_shaped()
    doc["activities"].append({"name": name, "rank": 1, "score": 1})
    with caplog.at_level(logging.INFO, logger="osrs_notify.hiscores"):
        threads = [threading.Thread(target=parse_json, args=(doc,)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        parse_json(doc)
    mentions = [r for r in caplog.records if name in r.getMessage()]
    assert len(mentions) == 1
    assert mentions[0].name == "osrs_notify.hiscores"


def test_unknown_entries_need_only_a_name() -> None:
    # A future row kind with other fields must not break parsing of the rows we know.
    doc = real_shaped()
    doc["activities"].append({"name": unique_name(), "rank": 1, "kills": "lots"})
    assert parse_json(doc) == parse_json(real_shaped())


def test_a_skill_name_in_the_activities_list_is_not_taken_as_a_skill() -> None:
    doc = real_shaped()
    doc["activities"].append({"name": "Attack", "rank": 1, "score": 1})
    assert parse_json(doc) == parse_json(real_shaped())


@pytest.mark.parametrize(
    "body",
    [
        "",
        "not json at all",
        "[1, 2, 3]",
        '{"activities": []}',
        '{"skills": [], "activities": {}}',
        '{"skills": {}, "activities": []}',
        '{"skills": [{"rank": 1, "level": 1, "xp": 1}], "activities": []}',
        '{"skills": ["Attack"], "activities": []}',
    ],
)
def test_malformed_documents_raise_validation_error(body: str) -> None:
    with pytest.raises(ValidationError):
        parse_json(body)


@pytest.mark.parametrize("bad", ["5", 5.0, True, None, [1]])
def test_non_integer_values_raise_validation_error(bad: object) -> None:
    doc = real_shaped()
    doc["skills"][3]["xp"] = bad
    with pytest.raises(ValidationError, match="Strength"):
        parse_json(doc)
    doc = real_shaped()
    doc["activities"][2]["score"] = bad
    with pytest.raises(ValidationError):
        parse_json(doc)


def test_missing_field_on_a_known_name_raises() -> None:
    doc = real_shaped()
    del doc["skills"][1]["level"]
    with pytest.raises(ValidationError, match="level"):
        parse_json(doc)


def test_duplicate_name_refuses_to_guess() -> None:
    doc = real_shaped()
    doc["activities"].append({"name": "Zulrah", "rank": 1, "score": 99999})
    with pytest.raises(ValidationError, match="Zulrah"):
        parse_json(doc)


@pytest.mark.parametrize(
    "body", ["<!DOCTYPE html><html>Maintenance</html>", b"\n  <html><body>down</body></html>"]
)
def test_html_means_outage(body: str | bytes) -> None:
    with pytest.raises(HiscoresUnavailable):
        parse_json(body)


def test_non_utf8_bytes_raise_validation_error() -> None:
    with pytest.raises(ValidationError):
        parse_json(b"\xff\xfe\xfa garbage")


def test_ranks_do_not_affect_equality() -> None:
    doc = real_shaped()
    moved = real_shaped()
    for entry in moved["skills"]:
        entry["rank"] += 1000
    assert parse_json(moved) == parse_json(doc)


# -- parse_csv ---------------------------------------------------------------------------------


def csv_for(snapshot_doc: dict[str, Any], skills: tuple[str, ...], acts: tuple[str, ...]) -> str:
    by_name = {e["name"]: e for e in snapshot_doc["skills"] + snapshot_doc["activities"]}
    rows = [f"{by_name[n]['rank']},{by_name[n]['level']},{by_name[n]['xp']}" for n in skills]
    rows += [f"{by_name[n]['rank']},{by_name[n]['score']}" for n in acts]
    return "\n".join(rows) + "\n"


@pytest.mark.parametrize("key", list(CSV_LAYOUTS))
def test_csv_matches_json_for_every_known_layout(key: tuple[int, int]) -> None:
    layout = CSV_LAYOUTS[key]
    doc = real_shaped()
    doc["skills"] = [s for s in doc["skills"] if s["name"] in layout.skills]
    doc["activities"] = [a for a in doc["activities"] if a["name"] in layout.activities]
    text = csv_for(doc, layout.skills, layout.activities)
    assert parse_csv(text) == parse_json(doc)
    assert parse_csv(text, layout) == parse_json(doc)
    assert parse_csv(text.encode()) == parse_json(doc)


def test_csv_layouts_hold_only_known_names_once() -> None:
    for layout in CSV_LAYOUTS.values():
        assert layout.skills[0] == OVERALL
        assert set(layout.skills) <= {OVERALL, *SKILLS}
        assert set(layout.activities) <= set(ACTIVITIES)
        assert len(set(layout.activities)) == len(layout.activities)
        assert len(set(layout.skills)) == len(layout.skills)


def test_csv_unranked_rows_are_absent() -> None:
    layout = CSV_LAYOUTS[(25, 91)]
    rows = ["-1,1,-1"] + ["5,50,101333"] * 24 + ["-1,-1"] * 90 + ["3,12"]
    snap = parse_csv("\n".join(rows))
    assert snap.overall_level is None
    assert OVERALL not in snap.skills
    assert len(snap.skills) == 24
    assert dict(snap.activities) == {layout.activities[-1]: 12}


def test_csv_unknown_row_count_refuses_to_guess() -> None:
    rows = ["1,99,13034431"] * 25 + ["-1,-1"] * 92
    with pytest.raises(ValidationError, match="refusing to guess"):
        parse_csv("\n".join(rows))


def test_csv_explicit_layout_must_match_exactly() -> None:
    rows = ["1,99,13034431"] * 25 + ["-1,-1"] * 91
    with pytest.raises(ValidationError):
        parse_csv("\n".join(rows), CSV_LAYOUTS[(25, 88)])


@pytest.mark.parametrize(
    "text",
    [
        "1,99,13034431\n-1,-1\n1,99,13034431",  # a skill row after an activity row
        "1,99,13034431\nfoo,bar",
        "1,99\n\n-1,-1",  # blank line in the middle
        "1,2,3,4",
        "",
    ],
)
def test_csv_malformed(text: str) -> None:
    with pytest.raises(ValidationError):
        parse_csv(text)


def test_csv_html_means_outage() -> None:
    with pytest.raises(HiscoresUnavailable):
        parse_csv("<html><title>Down for maintenance</title></html>")


# -- board URLs --------------------------------------------------------------------------------

EXPECTED_BOARDS = {
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
}


def test_modes_cover_every_board() -> None:
    assert dict(MODES) == EXPECTED_BOARDS


@pytest.mark.parametrize("mode", list(EXPECTED_BOARDS))
def test_board_url(mode: str) -> None:
    expected = f"https://secure.runescape.com/m={EXPECTED_BOARDS[mode]}/index_lite.json"
    assert board_url(hiscores.DEFAULT_ENDPOINT, mode) == expected
    assert board_url(hiscores.DEFAULT_ENDPOINT + "/", mode) == expected


def test_unknown_mode_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="ironmen"):
        board_url(ENDPOINT, "ironmen")


# -- HiscoresClient ----------------------------------------------------------------------------


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:
        yield mock


def client(**overrides: object) -> HiscoresClient:
    options: dict[str, object] = {
        "user_agent": UA,
        "rate_per_minute": 0,
        "cache_ttl": 0,
        "retries": 0,
    }
    options.update(overrides)
    http = HttpClient(HttpConfig(**options), sleep=lambda s: None)  # type: ignore[arg-type]
    return HiscoresClient(http, ENDPOINT + "/")


def url(mode: str = "regular") -> str:
    return f"{ENDPOINT}/m={MODES[mode]}/index_lite.json"


@pytest.mark.parametrize("mode", list(MODES))
def test_fetch_requests_each_board(rsps: responses.RequestsMock, mode: str) -> None:
    rsps.get(url(mode), json=real_shaped())
    snap = client().fetch("Zezima", mode)
    assert snap.overall_level == 2000
    sent = urlsplit(rsps.calls[0].request.url)
    assert f"{sent.scheme}://{sent.netloc}{sent.path}" == url(mode)


@pytest.mark.parametrize(
    ("name", "query"),
    [
        ("Lynx Titan", "player=Lynx%20Titan"),
        ("Iron-Man_99", "player=Iron-Man_99"),
        ("a&b=c", "player=a%26b%3Dc"),
        ("Zezima", "player=Zezima"),
    ],
)
def test_player_name_is_url_encoded(rsps: responses.RequestsMock, name: str, query: str) -> None:
    rsps.get(url(), json=real_shaped())
    client().fetch(name)
    sent = urlsplit(rsps.calls[0].request.url)
    assert sent.query == query
    assert parse_qs(sent.query) == {"player": [name]}


def test_fetch_sends_user_agent(rsps: responses.RequestsMock) -> None:
    rsps.get(url(), json=real_shaped())
    client().fetch("Zezima")
    assert rsps.calls[0].request.headers["User-Agent"] == UA


def test_404_is_player_not_found(rsps: responses.RequestsMock) -> None:
    rsps.get(url("ironman"), status=404, body="")
    with pytest.raises(PlayerNotFound, match="'Lynx Titan' on the ironman hiscores"):
        client().fetch("Lynx Titan", "ironman")


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_is_unavailable_naming_player(rsps: responses.RequestsMock, status: int) -> None:
    rsps.get(url(), status=status)
    with pytest.raises(HiscoresUnavailable, match=f"'Zezima' on the regular.*HTTP {status}"):
        client().fetch("Zezima")


def test_5xx_retried_by_http_layer(rsps: responses.RequestsMock) -> None:
    rsps.get(url(), status=502)
    rsps.get(url(), json=real_shaped())
    assert client(retries=2).fetch("Zezima").overall_level == 2000
    assert len(rsps.calls) == 2


@pytest.mark.parametrize(
    "exc", [requests.exceptions.ConnectTimeout(), requests.exceptions.ConnectionError()]
)
def test_timeouts_and_connection_errors_are_unavailable(
    rsps: responses.RequestsMock, exc: Exception
) -> None:
    rsps.get(url(), body=exc)
    with pytest.raises(HiscoresUnavailable, match="Zezima"):
        client().fetch("Zezima")


def test_429_keeps_retry_after(rsps: responses.RequestsMock) -> None:
    rsps.get(url(), status=429, headers={"Retry-After": "600"})
    with pytest.raises(RateLimitError, match="Zezima") as info:
        client().fetch("Zezima")
    assert info.value.retry_after == 600.0


@pytest.mark.parametrize("status", [400, 403, 410])
def test_other_4xx_is_validation_error(rsps: responses.RequestsMock, status: int) -> None:
    rsps.get(url(), status=status)
    with pytest.raises(ValidationError, match=f"HTTP {status}"):
        client().fetch("Zezima")


def test_html_with_html_content_type_is_unavailable(rsps: responses.RequestsMock) -> None:
    rsps.get(url(), body="<html>maintenance</html>", content_type="text/html; charset=utf-8")
    with pytest.raises(HiscoresUnavailable, match="HTML"):
        client().fetch("Zezima")


def test_html_body_labelled_json_is_unavailable(rsps: responses.RequestsMock) -> None:
    rsps.get(url(), body="  <!DOCTYPE html><html></html>", content_type="application/json")
    with pytest.raises(HiscoresUnavailable):
        client().fetch("Zezima")


def test_garbage_json_is_validation_error(rsps: responses.RequestsMock) -> None:
    rsps.get(url(), body='{"skills": [', content_type="application/json")
    with pytest.raises(ValidationError, match="'Zezima' on the regular hiscores"):
        client().fetch("Zezima")


def test_errors_never_show_the_api_key(rsps: responses.RequestsMock) -> None:
    rsps.get(url(), status=500)
    with pytest.raises(HiscoresUnavailable) as info:
        client(api_key="sekrit-123").fetch("Zezima")
    assert "sekrit" not in str(info.value)
    assert rsps.calls[0].request.headers["X-Api-Key"] == "sekrit-123"


def test_empty_name_is_rejected_without_a_request(rsps: responses.RequestsMock) -> None:
    with pytest.raises(ValidationError):
        client().fetch("   ")
    assert len(rsps.calls) == 0


def test_second_fetch_within_ttl_is_served_from_cache(rsps: responses.RequestsMock) -> None:
    rsps.get(url(), json=real_shaped())
    c = client(cache_ttl=300)
    assert c.fetch("Lynx Titan") == c.fetch("Lynx Titan")
    assert len(rsps.calls) == 1
    assert c.http.cache_hits == 1


def test_profile_url_by_mode_and_encoding() -> None:
    assert profile_url("Lynx Titan") == (
        "https://secure.runescape.com/m=hiscore_oldschool/hiscorepersonal?user1=Lynx%20Titan"
    )
    assert "m=hiscore_oldschool_hardcore_ironman/" in profile_url("x", "hardcore")
    assert "m=hiscore_oldschool_skiller_defence/" in profile_url("x", "defence_pure")
    assert "m=hiscore_oldschool/" in profile_url("x", "no-such-mode")
    assert profile_url("a&b=c").endswith("user1=a%26b%3Dc")
