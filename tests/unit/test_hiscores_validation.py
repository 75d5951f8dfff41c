"""parse_json / parse_csv refuse what the game cannot produce (issue #9, item 2).

Each rule is a row of a table: a real-shaped body with one value broken, and the one-line
message that names it. Then what must still be accepted (real data is stranger than a rule
book), and what a refusal costs in a poll: that player alone, nothing stored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import responses

from poller import game
from poller.config import load_settings
from poller.errors import HiscoresUnavailable, PlayerNotFound, ValidationError
from poller.hiscores import HiscoresClient, parse_json
from poller.hiscores_csv import CSV_LAYOUTS, parse_csv
from poller.http import HttpClient, HttpConfig
from poller.names import MODES
from poller.pipeline import run_once
from poller.snapshot import Snapshot
from poller.store import Store, open_store

from support import config as write_config
from support import hiscores_body
from support import players as players_toml

Doc = dict[str, Any]
XP_99 = game.XP_99
MAX_INT = 2**31 - 1

# A possible account: a few skills ranked at varied levels, the rest unranked, some bosses.
SKILLS_XP = {"Attack": XP_99, "Strength": 1_500_000, "Hitpoints": 2_000_000, "Cooking": 83,
             "Sailing": 0}
ACTS = {"Vorkath": 600, "Clue Scrolls (all)": 12}


def body() -> Doc:
    return json.loads(json.dumps(hiscores_body(SKILLS_XP, ACTS)))


def row(doc: Doc, name: str) -> dict[str, Any]:
    return next(r for r in doc["skills"] + doc["activities"] if r["name"] == name)


def setting(name: str, **values: Any) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        row(doc, name).update(values)

    return mutate


def maxed(overall_level: int, overall_xp: int = game.MAX_TOTAL_XP) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        for r in doc["skills"]:
            r.update(rank=5, level=99, xp=game.MAX_XP)
        doc["skills"][0].update(level=overall_level, xp=overall_xp)

    return mutate


def test_the_base_body_is_accepted() -> None:
    snap = parse_json(body())
    assert snap.xp("Attack") == XP_99 and snap.score("Vorkath") == 600
    assert snap.overall_level == game.total_level(snap)


# -- refused: every value outside the game's ranges -------------------------------------------

REFUSED: list[tuple[str, Callable[[Doc], None], str]] = [
    # id, how the body is broken, what the one-line message says
    ("xp-above-200m", setting("Attack", xp=200_000_001),
     "'Attack': xp 200,000,001 is above the game's maximum 200,000,000"),
    ("xp-10^30", setting("Attack", xp=10**30),
     "'Attack': xp ~10^30 is above the game's maximum 200,000,000"),
    ("xp-below-minus-one", setting("Attack", xp=-2), "'Attack': xp -2 is below -1"),
    ("rank-below-minus-one", setting("Attack", rank=-2), "'Attack': rank -2 is below -1"),
    ("rank-above-2^31-1", setting("Attack", rank=2**31),
     "'Attack': rank 2,147,483,648 is above the hiscores' maximum 2,147,483,647"),
    ("level-zero", setting("Cooking", level=0), "'Cooking': level 0 is outside 1 to 99"),
    ("level-100", setting("Attack", level=100, xp=14_391_160),
     "'Attack': level 100 is outside 1 to 99"),
    ("level-not-the-xp's", setting("Attack", level=60),
     "'Attack': level 60 does not match xp 13,034,431 (that is level 99)"),
    ("level-one-short-of-99", setting("Attack", xp=XP_99 - 1), "does not match xp 13,034,430"),
    ("level-2-at-82-xp", setting("Cooking", level=2, xp=82), "(that is level 1)"),
    ("unranked-row-with-10^30-xp", setting("Defence", rank=-1, xp=10**30),
     "'Defence': xp ~10^30"),
    ("unranked-row-with-level-1000", setting("Defence", rank=-1, level=1000),
     "'Defence': level 1,000 is outside -1 to 99"),
    ("score-above-2^31-1", setting("Vorkath", score=2**31),
     "'Vorkath': score 2,147,483,648 is above the hiscores' maximum 2,147,483,647"),
    ("score-10^30", setting("Vorkath", score=10**30), "'Vorkath': score ~10^30"),
    ("score-below-minus-one", setting("Vorkath", score=-7), "'Vorkath': score -7 is below -1"),
    ("activity-rank-10^20", setting("Zulrah", rank=10**20, score=5),
     "'Zulrah': rank ~10^20 is above"),
    ("activity-rank-below-minus-one", setting("Zulrah", rank=-3), "'Zulrah': rank -3 is below"),
    ("overall-level-negative", setting("Overall", level=-5),
     "'Overall': level -5 is outside 1 to 2,376"),
    ("overall-level-zero", setting("Overall", level=0), "'Overall': level 0 is outside 1"),
    ("overall-level-above-2376", maxed(3_000), "'Overall': level 3,000 is above the game's "
     "maximum 2,376"),
    ("overall-level-above-what-skills-allow", setting("Overall", level=2_300),
     "'Overall': level 2,300 is more than the skills allow"),
    ("overall-level-far-below-the-skills", maxed(1_000),
     "'Overall': level 1,000 is below what the skill rows add up to (2,376"),
    ("overall-level-below-the-rows", setting("Overall", level=3), "is below what the skill rows"),
    ("overall-xp-above-4.8b", maxed(2_376, game.MAX_TOTAL_XP + 1),
     "'Overall': xp 4,800,000,001 is above the game's maximum 4,800,000,000"),
    ("overall-xp-10^30", setting("Overall", xp=10**30), "'Overall': xp ~10^30 is above"),
    ("overall-xp-below-ranked-sum", setting("Overall", xp=1_000), "'Overall': xp 1,000 is less "
     "than the ranked skills' sum"),
    ("overall-rank-above-2^31-1", setting("Overall", rank=2**31), "'Overall': rank"),
    ("unranked-overall-10^30", setting("Overall", rank=-1, xp=10**30), "'Overall': xp ~10^30"),
    ("unranked-overall-level-10^6", setting("Overall", rank=-1, xp=-1, level=10**6),
     "'Overall': level 1,000,000 is outside -1 to 2,376"),
    ("no-rows-at-all", lambda d: d.update(skills=[], activities=[]), "no rows this release knows"),
    ("only-unknown-names", lambda d: d.update(
        skills=[{"name": "Necromancy", "rank": 1, "level": 99, "xp": 1}],
        activities=[{"name": "Some Future Boss", "rank": 1, "score": 5}]),
     "no rows this release knows"),
    ("float-xp", setting("Attack", xp=1e30), "'Attack': xp is 1e+30, not an integer"),
    ("nan-score", setting("Vorkath", score=float("nan")), "'Vorkath': score is nan"),
    ("bool-rank", setting("Vorkath", rank=True), "'Vorkath': rank is True"),
]


@pytest.mark.parametrize(
    ("mutate", "message"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_refused(mutate: Callable[[Doc], None], message: str) -> None:
    doc = body()
    mutate(doc)
    for data in (doc, json.dumps(doc, allow_nan=True), json.dumps(doc).encode()):
        with pytest.raises(ValidationError, match=_literal(message)) as info:
            parse_json(data)
        assert "\n" not in str(info.value)


def test_overall_xp_more_than_skills_hold_names_the_reason() -> None:
    # Every skill ranked: the Overall is exactly their sum, and one xp more is impossible.
    doc = body()
    maxed(2_376, game.MAX_TOTAL_XP)(doc)
    row(doc, "Attack").update(xp=XP_99)
    row(doc, "Overall").update(xp=game.MAX_TOTAL_XP - game.MAX_XP + XP_99 + 1)
    with pytest.raises(ValidationError, match="more than the skills can hold"):
        parse_json(doc)


def _literal(message: str) -> str:
    return re.escape(message)


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"skills": ' + "[" * 100_000 + "]" * 100_000 + ', "activities": []}',
        '{"skills": [{"name": "Attack", "rank": 1, "level": 1, "xp": ' + "[" * 50_000 + "]"
        * 50_000 + "}]}",
    ],
    ids=["array", "inside-skills", "inside-a-row"],
)
def test_answers_nested_100000_deep_are_refused_not_a_traceback(text: str) -> None:
    with pytest.raises(ValidationError, match="nested too deeply"):
        parse_json(text)
    with pytest.raises(ValidationError):
        parse_json(text.encode())


def test_an_entry_nested_just_under_the_decoder_limit_is_refused_in_one_short_line() -> None:
    # json.loads reads ~900 levels; the message must not try to print them all.
    doc = body()
    doc["skills"].append([[[[[[[[[["deep"]]]]]]]]]])
    nested: list[Any] = []
    for _ in range(900):
        nested = [nested]
    doc["activities"].append(nested)
    with pytest.raises(ValidationError, match="without a name") as info:
        parse_json(doc)
    assert len(str(info.value)) < 200


def test_a_number_of_5000_digits_is_refused() -> None:
    text = json.dumps(body()).replace(f'"xp": {XP_99}', '"xp": ' + "9" * 5_000, 1)
    with pytest.raises(ValidationError):
        parse_json(text)


def test_a_huge_number_in_a_mapping_is_named_without_printing_it() -> None:
    doc = body()
    row(doc, "Attack")["xp"] = 10**5_000  # more digits than str() will print
    with pytest.raises(ValidationError, match=r"xp ~10\^5000 is above"):
        parse_json(doc)


# -- CSV: the same checks once rows are named -------------------------------------------------


def csv_of(doc: Doc, key: tuple[int, int] = (25, 91)) -> str:
    layout = CSV_LAYOUTS[key]
    lines = [f"{row(doc, n)['rank']},{row(doc, n)['level']},{row(doc, n)['xp']}"
             for n in layout.skills]
    lines += [f"{row(doc, n)['rank']},{row(doc, n)['score']}" for n in layout.activities]
    return "\n".join(lines) + "\n"


CSV_REFUSED: list[tuple[str, Callable[[Doc], None], str]] = [
    ("xp-10^30", setting("Attack", xp=10**30), "'Attack': xp ~10^30"),
    ("level-not-the-xp's", setting("Attack", level=60), "'Attack': level 60 does not match"),
    ("overall-level-negative", setting("Overall", level=-5), "'Overall': level -5"),
    ("score-above-2^31-1", setting("Vorkath", score=2**31), "'Vorkath': score 2,147,483,648"),
]


@pytest.mark.parametrize(
    ("mutate", "message"), [c[1:] for c in CSV_REFUSED], ids=[c[0] for c in CSV_REFUSED]
)
def test_csv_refused(mutate: Callable[[Doc], None], message: str) -> None:
    doc = body()
    mutate(doc)
    with pytest.raises(ValidationError, match=_literal(message)):
        parse_csv(csv_of(doc))


def test_csv_round_trip_of_the_base_body() -> None:
    assert parse_csv(csv_of(body())) == parse_json(body())


@pytest.mark.parametrize(
    "field", ["1_000", "+5", "\u0665", " 7", "1e3", "9" * 5_000],
    ids=["underscore", "plus", "arabic-indic-digit", "inner-space", "exponent", "5000-digits"],
)
def test_csv_numbers_are_plain_ascii_integers(field: str) -> None:
    lines = csv_of(body()).splitlines()
    lines[30] = f"5,{field}"  # an activity row
    with pytest.raises(ValidationError, match="line 31"):
        parse_csv("\n".join(lines))


# -- accepted: what real data looks like ------------------------------------------------------

ACCEPTED: list[tuple[str, Callable[[Doc], None]]] = [
    ("sailing-unranked-level-1-xp-0", setting("Sailing", rank=-1, level=1, xp=0)),
    ("unranked-xp-minus-one", setting("Strength", rank=-1, level=1, xp=-1)),
    # Hitpoints unranked counts as 10 towards the Overall level, as every account starts there.
    ("hitpoints-unranked", setting("Hitpoints", rank=-1, level=1, xp=-1)),
    ("unranked-with-real-looking-values", setting("Defence", rank=-1, level=15, xp=2_500)),
    ("overall-unranked", setting("Overall", rank=-1, level=1, xp=-1)),
    ("every-skill-200m", maxed(2_376)),
    # The Wise Old Man's maintained 2026-07 shape: Sailing 99, Overall still 2277.
    ("overall-lagging-one-new-skill", maxed(2_277)),
    ("boundaries-xp-0-and-82", lambda d: (setting("Cooking", level=1, xp=0)(d),
                                           setting("Fishing", rank=9, level=1, xp=82)(d),
                                           setting("Overall", xp=row(d, "Overall")["xp"] - 1)(d))),
    ("xp-exactly-200m", lambda d: (setting("Attack", xp=game.MAX_XP)(d),
                                   setting("Overall", xp=row(d, "Overall")["xp"] + game.MAX_XP
                                           - XP_99)(d))),
    ("score-and-rank-2^31-1", setting("Vorkath", rank=MAX_INT, score=MAX_INT)),
    ("unranked-activity-with-a-score", setting("Zulrah", rank=-1, score=3)),
    # A skill newer than this release: ignored, and the Overall may count it.
    ("future-skill-raises-the-overall", lambda d: (
        maxed(2_475, game.MAX_TOTAL_XP + game.MAX_XP)(d),
        d["skills"].append({"name": "Necromancy", "rank": 3, "level": 99, "xp": game.MAX_XP}))),
    ("only-activities", lambda d: d.update(skills=[])),
    ("older-layout-without-sailing", lambda d: d.update(
        skills=[r for r in d["skills"] if r["name"] != "Sailing"])),
]


@pytest.mark.parametrize("mutate", [c[1] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_accepted(mutate: Callable[[Doc], None]) -> None:
    doc = body()
    mutate(doc)
    snap = parse_json(doc)
    assert Snapshot.decode(snap.encode()) == snap
    for name, value in snap.skills.items():
        cap = game.MAX_TOTAL_XP + game.MAX_XP if name == game.OVERALL else game.MAX_XP
        assert 0 <= value <= cap
    assert all(0 <= v <= MAX_INT for v in snap.activities.values())


def test_real_captures_still_parse(shared_fixtures: Path) -> None:
    for path in sorted((shared_fixtures / "hiscores").iterdir()):
        if path.suffix == ".json":
            assert parse_json(path.read_bytes()).skills, path.name
        elif path.suffix == ".csv":
            assert parse_csv(path.read_text()).skills, path.name


# -- a refused answer costs its own player, nothing else ---------------------------------------

ENDPOINT = "https://hiscores.test"


def test_the_client_says_who_in_one_line() -> None:
    doc = body()
    row(doc, "Attack")["xp"] = 10**30
    http = HttpClient(HttpConfig(user_agent="osrs-notify-tests/1.0 (ops@example.invalid)",
                                 rate_per_minute=0, cache_ttl=0, retries=0))
    with responses.RequestsMock() as rsps:
        rsps.get(f"{ENDPOINT}/m={MODES['regular']}/index_lite.json", json=doc)
        with pytest.raises(ValidationError) as info:
            HiscoresClient(http, ENDPOINT).fetch("Zezima")
    http.close()
    assert str(info.value) == (
        "'Zezima' on the regular hiscores: hiscores 'Attack': xp ~10^30 is above the game's "
        "maximum 200,000,000"
    )


class BodyFetcher:
    """The hiscores seam, parsing scripted bodies exactly as the real client does."""

    def __init__(self) -> None:
        self.bodies: dict[str, str] = {}

    def fetch(self, name: str, mode: str = "regular", **_: object) -> Snapshot:
        if mode != "regular":  # regular accounts: every other board answers 404
            raise PlayerNotFound(f"{name!r}: not on the {mode} board")
        return parse_json(self.bodies[name])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store("sqlite:///" + str(tmp_path / "t.db"))
    yield s
    s.close()


def test_garbage_answers_are_invalid_for_their_player_only(tmp_path: Path, store: Store) -> None:
    hook = "http://127.0.0.1:9/api/webhooks/1/faketoken1"
    names = ("Good", "Huge Xp", "Neg Level", "Deep Nest", "Empty", "Score")
    settings = load_settings(write_config(tmp_path, (
        'database = "sqlite:///t.db"\n[poll]\nconcurrency = 1\n'
        f'[webhooks.clan]\nurl = "{hook}"\n' + players_toml(*names)
    )), environ={})
    fetcher = BodyFetcher()
    clock = iter(datetime(2026, 7, 1, tzinfo=timezone.utc) + timedelta(minutes=i)
                 for i in range(100))

    def poll() -> dict[str, tuple[str, str | None]]:
        report = run_once(settings, store, fetcher, now=lambda: next(clock))
        return {r.name: (r.outcome, r.error) for r in report.results}

    def good(cooking: int) -> str:
        return json.dumps(hiscores_body({"Cooking": game.xp_for_level(cooking)}, ACTS))

    for name in names:
        fetcher.bodies[name] = good(80)
    assert {o for o, _ in poll().values()} == {"baseline"}
    before = {name: store.player_history(name) for name in names}

    huge, negative, score = body(), body(), body()
    row(huge, "Attack")["xp"] = 10**30
    row(negative, "Overall")["level"] = -5
    row(score, "Vorkath")["score"] = 2**31
    fetcher.bodies.update({
        "Huge Xp": json.dumps(huge),
        "Neg Level": json.dumps(negative),
        "Deep Nest": "[" * 100_000 + "]" * 100_000,
        "Empty": '{"skills": [], "activities": []}',
        "Score": json.dumps(score),
    })
    for cooking in (81, 82):  # and again: a refused answer must not wedge the next poll
        fetcher.bodies["Good"] = good(cooking)
        outcomes = poll()
        assert outcomes["Good"][0] == "changed"
        for name in names[1:]:
            outcome, error = outcomes[name]
            assert outcome == "invalid", (name, outcomes[name])
            assert error and "\n" not in error and "hiscores" in error
            assert store.player_history(name) == before[name]  # never stored
    assert len(store.player_history("Good")) == 3


def test_only_typed_errors_leave_the_parser() -> None:
    # The pipeline turns these two into "invalid" / "unavailable"; anything else would be a bug.
    for text in ("<html>down</html>", "[" * 100_000, '{"skills": [1], "activities": []}'):
        with pytest.raises((ValidationError, HiscoresUnavailable)):
            parse_json(text)
