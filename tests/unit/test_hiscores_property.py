"""Property tests of the hiscores parsers over generated bodies (issue #9, item 2).

Whatever the body, parse_json (and parse_csv) either returns a snapshot or raises one of the two
typed errors the pipeline knows how to turn into one player's outcome; a snapshot it returns
round-trips through the store's encoding, holds only what the body ranked, and comes from a body
with no value outside the game's ranges.

Bodies are built near the edge on purpose: mostly possible accounts (so that acceptance is
exercised), each with a chance of one value pushed past a boundary, a wrong type, a duplicate,
an unknown name, or a broken Overall. Examples are kept few: the suite must stay fast.
"""

from __future__ import annotations

import json
import random
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from poller import game
from poller.errors import HiscoresUnavailable, ValidationError
from poller.hiscores import parse_json
from poller.hiscores_csv import CSV_LAYOUTS, parse_csv
from poller.snapshot import Snapshot

MAX_INT = 2**31 - 1
SETTINGS = settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
KNOWN_SKILLS = frozenset((game.OVERALL, *game.SKILLS))
KNOWN_ACTIVITIES = frozenset(game.ACTIVITIES)

# Values on and just past every boundary the parser knows, and some far beyond.
EDGES = [-(10**30), -2, -1, 0, 1, 82, 83, 98, 99, 100, 1_154, game.XP_99 - 1, game.XP_99,
         game.MAX_XP, game.MAX_XP + 1, game.MAX_TOTAL_LEVEL, game.MAX_TOTAL_LEVEL + 1,
         game.MAX_TOTAL_XP, game.MAX_TOTAL_XP + 1, MAX_INT, MAX_INT + 1, 10**30]
any_int = st.one_of(st.sampled_from(EDGES), st.integers(-(2**70), 2**70), st.integers(-3, 130))
not_an_int = st.one_of(st.none(), st.booleans(), st.floats(allow_nan=True), st.text(max_size=5),
                       st.just([1]), st.just({"x": 1}))
unknown_name = st.sampled_from(["Necromancy", "Some Future Boss", "attack", "", "Overall "])


def skill_row(rnd: random.Random, name: str) -> dict[str, Any]:
    """A possible row (ranked at a level and an xp that agree, or an unranked placeholder).
    Rows come from a seeded Random, not one draw each: a hundred draws per body would make
    every example slow, and the values that matter are pushed past their edges by hand."""
    if rnd.random() < 0.2:
        return {"name": name, "rank": -1, "level": 1, "xp": rnd.choice([-1, 0])}
    level = rnd.randint(1, 99)
    low = game.XP_TABLE[level - 1]
    high = game.MAX_XP if level == 99 else game.XP_TABLE[level] - 1
    xp = rnd.choice([low, high, rnd.randint(low, high)])
    return {"name": name, "rank": rnd.randint(1, MAX_INT), "level": level, "xp": xp}


def activity_row(rnd: random.Random, name: str) -> dict[str, Any]:
    if rnd.random() < 0.5:
        return {"name": name, "rank": -1, "score": -1}
    score = rnd.choice([0, 1, MAX_INT, rnd.randint(0, 100_000)])
    return {"name": name, "rank": rnd.randint(1, MAX_INT), "score": score}


def consistent_overall(skills: list[dict[str, Any]]) -> dict[str, Any]:
    """The Overall a real account with these rows would show."""
    level = xp = 0
    for r in skills:
        if r["rank"] >= 0 and r["xp"] >= 0:
            level, xp = level + r["level"], xp + r["xp"]
        else:
            level += game.start_level(r["name"])
    return {"name": game.OVERALL, "rank": 1, "level": level, "xp": xp}


@st.composite
def bodies(draw: st.DrawFn) -> dict[str, Any]:
    skill_names = draw(st.lists(st.sampled_from(game.SKILLS), unique=True, max_size=24))
    act_names = draw(st.lists(st.sampled_from(list(game.ACTIVITIES)), unique=True, max_size=12))
    rnd = draw(st.randoms(use_true_random=False))
    skills = [skill_row(rnd, name) for name in skill_names]
    acts = [activity_row(rnd, name) for name in act_names]
    if draw(st.integers(0, 5)):
        skills.insert(0, consistent_overall(skills))
    doc: dict[str, Any] = {"skills": skills, "activities": acts}
    # Then break it, or not, in one of many ways.
    rows = skills + acts
    mischief = draw(st.integers(0, 9))
    if mischief == 1 and rows:  # one value anywhere, past a boundary or far off
        r = draw(st.sampled_from(rows))
        field = draw(st.sampled_from(sorted(k for k in r if k != "name")))
        r[field] = draw(any_int)
    elif mischief == 2 and rows:  # a value of the wrong type
        r = draw(st.sampled_from(rows))
        r[draw(st.sampled_from(sorted(r)))] = draw(not_an_int)
    elif mischief == 3 and rows:  # a row twice
        target = draw(st.sampled_from([skills, acts]))
        if target:
            target.append(dict(draw(st.sampled_from(target))))
    elif mischief == 4:  # rows under names this release does not know
        doc["skills"].append({"name": draw(unknown_name), "rank": draw(any_int),
                              "level": draw(any_int), "xp": draw(any_int)})
        doc["activities"].append({"name": draw(unknown_name), "score": draw(any_int)})
    elif mischief == 5 and skills and skills[0]["name"] == game.OVERALL:  # an Overall off
        skills[0][draw(st.sampled_from(["level", "xp"]))] += draw(st.integers(-120, 120))
    elif mischief == 6:  # a broken shape
        doc = draw(st.sampled_from([{}, {"skills": skills}, {"skills": {}, "activities": acts},
                                    {"skills": [None, *skills], "activities": acts}]))
    return doc


def check_body(doc: dict[str, Any], snap: Snapshot) -> None:
    """An accepted body holds no value outside the game's ranges, and the snapshot is what it
    ranked."""
    foreign = sum(1 for r in doc["skills"] if r.get("name") not in KNOWN_SKILLS)
    most_levels = game.MAX_LEVEL * (len(game.SKILLS) + foreign)
    most_xp = game.MAX_XP * (len(game.SKILLS) + foreign)
    ranked_skills: dict[str, int] = {}
    for r in doc["skills"]:
        name = r["name"]
        if name not in KNOWN_SKILLS:
            continue
        rank, level, xp = r["rank"], r["level"], r["xp"]
        assert all(type(v) is int for v in (rank, level, xp)), r
        assert -1 <= rank <= MAX_INT, r
        if name == game.OVERALL:
            assert -1 <= xp <= most_xp and -1 <= level <= most_levels, r
            continue
        assert -1 <= xp <= game.MAX_XP and -1 <= level <= game.MAX_LEVEL, r
        if rank >= 0 and xp >= 0:
            assert level == game.level_for_xp(xp) >= 1, r
            ranked_skills[name] = xp
    for r in doc["activities"]:
        if r["name"] in KNOWN_ACTIVITIES:
            assert -1 <= r["rank"] <= MAX_INT and -1 <= r["score"] <= MAX_INT, r
    overall = next((r for r in doc["skills"] if r["name"] == game.OVERALL), None)
    if overall is not None and overall["rank"] >= 0 and overall["xp"] >= 0:
        assert sum(ranked_skills.values()) <= overall["xp"] <= most_xp
        assert 1 <= overall["level"] <= most_levels
        assert snap.overall_level == overall["level"]
        ranked_skills[game.OVERALL] = overall["xp"]
    else:
        assert snap.overall_level is None
    assert dict(snap.skills) == ranked_skills
    assert dict(snap.activities) == {
        r["name"]: r["score"] for r in doc["activities"]
        if r["name"] in KNOWN_ACTIVITIES and r["rank"] >= 0 and r["score"] >= 0
    }
    assert snap.layout == {r["name"] for r in doc["skills"] + doc["activities"]} & (
        KNOWN_SKILLS | KNOWN_ACTIVITIES
    )


def parse_or_refuse(data: Any) -> Snapshot | None:
    """The parser's answer, None for a typed refusal; any other exception fails the test."""
    try:
        snap = parse_json(data)
    except (ValidationError, HiscoresUnavailable) as exc:
        assert str(exc) and "\n" not in str(exc)
        return None
    assert isinstance(snap, Snapshot)
    back = Snapshot.decode(snap.encode())
    assert back == snap and back.layout == snap.layout
    return snap


@SETTINGS
@given(doc=bodies())
def test_generated_bodies_parse_or_are_refused_by_type(doc: dict[str, Any]) -> None:
    snap = parse_or_refuse(doc)
    as_text = parse_or_refuse(json.dumps(doc))
    assert (snap is None) == (as_text is None)
    event("accepted" if snap is not None else "refused")  # --hypothesis-show-statistics
    if snap is not None:
        assert as_text == snap
        check_body(doc, snap)


@SETTINGS
@given(text=st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200),
    bodies().map(lambda d: json.dumps(d)).flatmap(
        lambda s: st.integers(0, len(s)).map(lambda i: s[:i])),  # cut short anywhere
    st.integers(1, 3_000).map(lambda n: "[" * n + "]" * n),
    st.integers(1, 3_000).map(lambda n: '{"skills": ' + "[" * n + "]" * n + "}"),
))
def test_any_text_parses_or_is_refused_by_type(text: str | bytes) -> None:
    parse_or_refuse(text)


@st.composite
def csv_bodies(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    layout = draw(st.sampled_from(list(CSV_LAYOUTS.values())))
    rnd = draw(st.randoms(use_true_random=False))
    skills = [skill_row(rnd, name) for name in layout.skills[1:]]
    overall = consistent_overall(skills)
    if draw(st.booleans()):
        overall[draw(st.sampled_from(["level", "xp", "rank"]))] = draw(any_int)
    acts = [activity_row(rnd, name) for name in layout.activities]
    if draw(st.booleans()):
        r = draw(st.sampled_from(skills + acts))
        r[draw(st.sampled_from(sorted(k for k in r if k != "name")))] = draw(any_int)
    lines = [f"{r['rank']},{r['level']},{r['xp']}" for r in [overall, *skills]]
    lines += [f"{r['rank']},{r['score']}" for r in acts]
    return "\n".join(lines), {"skills": [overall, *skills], "activities": acts}


@SETTINGS
@given(case=csv_bodies())
def test_generated_csv_agrees_with_json(case: tuple[str, dict[str, Any]]) -> None:
    text, doc = case
    try:
        snap = parse_csv(text)
    except (ValidationError, HiscoresUnavailable):
        assert parse_or_refuse(doc) is None  # the same rows refused the same way
        event("refused")
        return
    event("accepted")
    assert parse_or_refuse(doc) == snap
    assert Snapshot.decode(snap.encode()) == snap
    check_body(doc, snap)
