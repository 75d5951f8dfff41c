"""next_presence(): when a player the hiscores keep answering 404 for is called missing."""

from __future__ import annotations

import pytest

from poller.events import Event, Presence, next_presence

MISSING = Presence("missing", 3)


@pytest.mark.parametrize(
    ("prev", "found", "missing_after", "expected", "events"),
    [
        (Presence(), True, 3, Presence(), ()),
        (Presence(), False, 3, Presence("ok", 1), ()),
        (Presence("ok", 1), False, 3, Presence("ok", 2), ()),
        (Presence("ok", 2), False, 3, Presence("missing", 3), (Event("player", "missing", new=3),)),
        (Presence(), False, 1, Presence("missing", 1), (Event("player", "missing", new=1),)),
        (MISSING, False, 3, Presence("missing", 4), ()),
        (Presence("missing", 9), False, 3, Presence("missing", 10), ()),
        (Presence("ok", 2), True, 3, Presence(), ()),
        (MISSING, True, 3, Presence(), (Event("player", "back"),)),
        # A streak stored under a larger threshold, read under a smaller one: still one event.
        (Presence("ok", 7), False, 3, Presence("missing", 8), (Event("player", "missing", new=8),)),
    ],
    ids=[
        "found-stays-ok",
        "first-404",
        "second-404",
        "third-404-goes-missing",
        "missing-after-1",
        "missing-stays-missing-quietly",
        "long-missing-quietly",
        "found-resets-streak",
        "found-after-missing-is-back",
        "threshold-lowered",
    ],
)
def test_next_presence(
    prev: Presence,
    found: bool,
    missing_after: int,
    expected: Presence,
    events: tuple[Event, ...],
) -> None:
    assert next_presence(prev, found, missing_after=missing_after) == (expected, events)


def test_a_run_of_answers_announces_each_transition_once() -> None:
    # 404 x4, found, 404 x2, found, with missing_after=3. Outages are never passed in, so
    # they cannot appear here: the streak only sees 404s and finds.
    answers = [False, False, False, False, True, False, False, True]
    presence = Presence()
    announced: list[tuple[int, str]] = []
    for i, found in enumerate(answers):
        presence, events = next_presence(presence, found, missing_after=3)
        announced += [(i, e.metric) for e in events]
    assert announced == [(2, "missing"), (4, "back")]
    assert presence == Presence()


@pytest.mark.parametrize("missing_after", [0, -1])
def test_missing_after_must_be_positive(missing_after: int) -> None:
    with pytest.raises(ValueError):
        next_presence(Presence(), False, missing_after=missing_after)


def test_presence_is_frozen_with_ok_default() -> None:
    p = Presence()
    assert (p.status, p.not_found_streak) == ("ok", 0)
    with pytest.raises(AttributeError):
        p.status = "missing"  # type: ignore[misc]
