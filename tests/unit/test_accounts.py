"""``mode = "auto"``: account types read off the boards, their re-checks, and the type changes
that are news (poller.accounts, through poller.pipeline).

The rules are tables; the behaviour runs the real pipeline, the real hiscores client (its rate
limiter on a fake clock) and a real SQLite store against the loopback hiscores fake, which lists
each account on the boards the real hiscores list it on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from poller.accounts import (
    DEIRONED,
    HARDCORE_DEATH,
    TypeCheck,
    classify,
    detect,
    fetch_auto,
    next_board,
    recheck_due,
    type_news,
)
from poller.config import load_settings
from poller.errors import HiscoresUnavailable, PlayerNotFound, RateLimitError
from poller.events import Event
from poller.hiscores import HiscoresClient, parse_json
from poller.http import HttpClient, HttpConfig
from poller.pipeline import RunReport, run_once
from poller.snapshot import Snapshot
from poller.store import PlayerState, Store, open_store

from support import FakeClock, config, fake_hiscores, hiscores_body, xp

T0 = datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)
DAY, WEEK = timedelta(days=1), timedelta(days=7)
R, I, H, U = "regular", "ironman", "hardcore", "ultimate"  # noqa: E741 (the boards' initials)


# -- the rules ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seen", "asks_next", "account_type"),
    [
        ({}, R, None),
        ({R: 1000}, I, R),
        ({R: None}, I, None),
        ({R: 1000, I: None}, None, R),  # most players: two requests
        ({R: None, I: None}, None, None),  # on no board
        ({R: 1000, I: 900}, None, R),  # de-ironed: the ironman board froze below
        ({R: 1000, I: 1000}, H, I),
        ({R: 1000, I: 1000, H: 1000}, None, H),  # a hardcore: three requests
        ({R: 1000, I: 1000, H: None}, U, I),
        ({R: 1000, I: 1000, H: 800}, U, I),  # a dead hardcore: the hardcore board froze
        ({R: 1000, I: 1000, H: None, U: 1000}, None, U),
        ({R: 1000, I: 1000, H: None, U: None}, None, I),  # an ironman: four requests
        ({R: 1000, I: 1000, H: None, U: 700}, None, I),  # an ultimate who downgraded
        ({R: None, I: 50, H: None, U: 50}, None, U),  # too low for the regular board
        ({R: None, I: 50, H: None, U: None}, None, I),
        ({R: 0, I: 0, H: 0}, None, H),  # listed, overall unranked: listed still counts
    ],
)
def test_boards_are_asked_cheapest_first_and_read_as_the_wise_old_man_reads_them(
    seen: dict[str, int | None], asks_next: str | None, account_type: str | None
) -> None:
    assert next_board(seen) == asks_next
    assert classify(seen) == account_type


@pytest.mark.parametrize(
    ("account_type", "checked", "due"),
    [
        (None, None, True),  # never checked
        (None, T0 - DAY, False),  # found on no board a day ago: weekly, like a regular
        (None, T0 - WEEK, True),
        (R, None, True),
        (R, T0 - WEEK + timedelta(minutes=1), False),
        (R, T0 - WEEK, True),
        (I, T0 - 6 * DAY, False),
        (U, T0 - WEEK, True),
        (H, T0 - DAY + timedelta(minutes=1), False),  # a hardcore: daily
        (H, T0 - DAY, True),
    ],
)
def test_a_settled_type_is_checked_again_weekly_and_a_hardcore_daily(
    account_type: str | None, checked: datetime | None, due: bool
) -> None:
    assert recheck_due(account_type, checked, T0) is due


def snap(total_xp: int) -> Snapshot:
    """A snapshot whose overall XP is ``total_xp`` (in Attack)."""
    return parse_json(hiscores_body({"Attack": total_xp}))


def check(account_type: str | None, **boards: int | None) -> TypeCheck:
    return TypeCheck(
        account_type, T0, {b: (None if v is None else snap(v)) for b, v in boards.items()}
    )


DEATH = Event("player", HARDCORE_DEATH)
DEIRON = Event("player", DEIRONED)


@pytest.mark.parametrize(
    ("before", "after", "events"),
    [
        (None, check(H, regular=10, ironman=10, hardcore=10), ()),  # the first check: silent
        (H, check(H, regular=10, ironman=10, hardcore=10), ()),
        (H, check(I, regular=20, ironman=20, hardcore=10), (DEATH,)),
        # The hardcore board stopped answering (404): not proof of a death.
        (H, check(I, regular=20, ironman=20, hardcore=None, ultimate=None), ()),
        (I, check(R, regular=20, ironman=10), (DEIRON,)),
        (H, check(R, regular=20, ironman=10), (DEIRON,)),
        (U, check(R, regular=20, ironman=10), (DEIRON,)),
        # The ironman board stopped answering: not proof of a de-iron.
        (I, check(R, regular=20, ironman=None), ()),
        (U, check(I, regular=20, ironman=20, hardcore=None, ultimate=15), ()),
        (R, check(I, regular=20, ironman=20, hardcore=None, ultimate=None), ()),
        (I, check(None, regular=None, ironman=None), ()),
    ],
)
def test_only_changes_the_boards_prove_are_news(
    before: str | None, after: TypeCheck, events: tuple[Event, ...]
) -> None:
    news = type_news(before, after)
    assert tuple(e for e, _ in news) == events
    if events == (DEATH,):
        assert news[0][1] is after.boards[H]  # the message shows the stats at the death


# -- a check's answers, scripted: every failure that is not a 404 settles nothing ------------------


@dataclass
class Boards:
    """``fetch`` from a script per board: a snapshot, an error, or 404 when unscripted."""

    answers: dict[str, Snapshot | Exception] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def fetch(self, name: str, mode: str = R, *, not_before: datetime | None = None) -> Snapshot:
        self.asked.append(mode)
        answer = self.answers.get(mode)
        if answer is None:
            raise PlayerNotFound(f"{name} not on {mode}")
        if isinstance(answer, Exception):
            raise answer
        return answer


def state(account_type: str | None, checked: datetime | None, **kw: object) -> PlayerState:
    values: dict[str, object] = dict(
        id=1, name="Hc Hank", mode="auto", active=True, status="ok", not_found_streak=0,
        last_polled_at=T0 - timedelta(hours=1), last_changed_at=None, last_snapshot=snap(10),
        last_snapshot_at=T0 - timedelta(hours=1), last_error=None,
        account_type=account_type, account_type_at=checked,
    )
    values.update(kw)
    return PlayerState(**values)  # type: ignore[arg-type]


DOWN = [
    HiscoresUnavailable("HTTP 503"),
    HiscoresUnavailable("timed out after 10s"),
    HiscoresUnavailable("hiscores sent an HTML page (maintenance?)"),
    RateLimitError("HTTP 429", retry_after=30),
]


@pytest.mark.parametrize("error", DOWN, ids=["503", "timeout", "maintenance", "429"])
@pytest.mark.parametrize("down", [R, I, H])
def test_a_board_that_is_down_is_never_read_as_not_on_it(down: str, error: Exception) -> None:
    alive = {R: snap(20), I: snap(20), H: snap(20)}
    boards = Boards({**alive, down: error})
    if down == H:  # the player's own board is down: the poll is "unavailable", no more
        with pytest.raises(type(error)):
            fetch_auto(boards, state(H, T0 - DAY), T0)
    else:
        # No verdict, so no type recorded (the check stays due): the stats came from the
        # known board.
        polled = fetch_auto(boards, state(H, T0 - DAY), T0)
        assert polled.check is None
        assert polled.snapshot == snap(20)
    assert boards.asked[-1] == H
    with pytest.raises(type(error)):
        detect(Boards({**alive, down: error}), "Hc Hank", T0)


def test_a_first_check_that_cannot_settle_fails_the_poll_as_unavailable() -> None:
    with pytest.raises(HiscoresUnavailable):
        fetch_auto(Boards({R: snap(5), I: HiscoresUnavailable("503")}), state(None, None), T0)


def test_the_boards_a_check_read_are_the_poll() -> None:
    boards = Boards({R: snap(20), I: snap(20), H: snap(20)})
    polled = fetch_auto(boards, state(None, None), T0)
    assert boards.asked == [R, I, H]  # no fourth request for the poll itself
    assert polled.check is not None and polled.check.account_type == H
    assert polled.snapshot is polled.check.boards[H]


def test_a_board_that_stops_knowing_a_player_brings_the_check_forward_once() -> None:
    # Checked an hour ago as a hardcore; now the hardcore board answers 404.
    boards = Boards({R: snap(20), I: snap(20)})
    polled = fetch_auto(boards, state(H, T0 - timedelta(hours=1)), T0)
    assert boards.asked == [H, R, I, H, U]
    assert polled.check is not None and polled.check.account_type == I
    # Still missing on the next poll: no check until one is due (a ban costs one request).
    gone = Boards({})
    with pytest.raises(PlayerNotFound):
        fetch_auto(gone, state(I, T0, not_found_streak=1), T0 + timedelta(hours=1))
    assert gone.asked == [I]


# -- the pipeline against the loopback boards ----------------------------------------------------

CONFIG = """
database = "sqlite:///unused.db"

[poll]
concurrency = 1
rate_limit = 60
cache_ttl = 0
retries = 0
""" + "".join(
    f'\n[[players]]\nname = "{n}"\n' for n in ("Reggie", "Iron Ivy", "Hc Hank", "Ult Uma")
)

SKILLS = {"Attack": xp(70), "Hitpoints": xp(70), "Fishing": xp(80)}


def body(**levels: int) -> dict[str, object]:
    return hiscores_body({**SKILLS, **{s: xp(lv) for s, lv in levels.items()}})


@dataclass
class World:
    fake: fake_hiscores.FakeHiscores
    client: HiscoresClient
    limiter_clock: FakeClock
    store: Store
    settings: object
    at: datetime = T0

    def poll(self, after: timedelta = timedelta(0)) -> RunReport:
        self.at += after
        self.fake.requests.clear()
        return run_once(self.settings, self.store, self.client, now=lambda: self.at)  # type: ignore[arg-type]

    def types(self) -> dict[str, str | None]:
        return {p.name: p.account_type for p in self.store.all_players()}

    def news(self, name: str) -> list[dict[str, object]]:
        return [e.payload for e in self.store.recent_events(name) if e.kind == "player"]

    def asked(self) -> dict[str, list[str]]:
        names = {board: kind for kind, board in fake_hiscores.BOARDS.items()}
        out: dict[str, list[str]] = {}
        for board, player in self.fake.requests:
            out.setdefault(player, []).append(names[board])
        return out


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    fake = fake_hiscores.FakeHiscores()
    with fake_hiscores.FakeServer(fake) as server:
        clock = FakeClock()
        http = HttpClient(
            HttpConfig(user_agent="osrs-notify tests (test@example.invalid)", retries=0,
                       cache_ttl=0, rate_per_minute=60),
            clock=clock, sleep=clock.sleep,
        )
        store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
        try:
            settings = load_settings(config(tmp_path, CONFIG))
            w = World(fake, HiscoresClient(http, server.url), clock, store, settings)
            fake.set_account("Reggie", body(), R)
            fake.set_account("Iron Ivy", body(), I)
            fake.set_account("Hc Hank", body(), H)
            fake.set_account("Ult Uma", body(), U)
            yield w
        finally:
            store.close()


def test_the_first_poll_detects_every_type_at_its_documented_cost(world: World) -> None:
    world.poll()
    assert world.types() == {"Reggie": R, "Iron Ivy": I, "Hc Hank": H, "Ult Uma": U}
    assert world.asked() == {
        "Reggie": [R, I],
        "Iron Ivy": [R, I, H, U],
        "Hc Hank": [R, I, H],
        "Ult Uma": [R, I, H, U],
    }
    # Through the client's rate limiter: 13 requests at 60 a minute took 12 s of its clock.
    assert sum(world.limiter_clock.sleeps) == pytest.approx(12.0)
    assert all(world.news(n) == [] for n in world.types())  # a first sight is no news
    stored = {p.name: p.account_type_at for p in world.store.all_players()}
    assert set(stored.values()) == {T0}

    # Until a re-check is due, each poll reads each player's own board once.
    world.poll(timedelta(hours=1))
    assert world.asked() == {"Reggie": [R], "Iron Ivy": [I], "Hc Hank": [H], "Ult Uma": [U]}


def test_hardcores_are_checked_daily_and_everyone_weekly(world: World) -> None:
    world.poll()
    world.poll(DAY)
    assert world.asked() == {"Reggie": [R], "Iron Ivy": [I], "Hc Hank": [R, I, H],
                             "Ult Uma": [U]}
    world.poll(WEEK - DAY)
    assert world.asked() == {"Reggie": [R, I], "Iron Ivy": [R, I, H, U],
                             "Hc Hank": [R, I, H], "Ult Uma": [R, I, H, U]}
    assert len(world.fake.requests) == 13  # a week's check costs what the first poll did


def test_a_hardcore_death_is_announced_once_with_the_stats_at_death(world: World) -> None:
    world.poll()
    at_death = body(Fishing=85)
    world.fake.set_account("Hc Hank", at_death, H)
    world.poll(timedelta(hours=2))  # still alive: a level-up
    # Dies, and plays on: the hardcore board freezes at the death.
    world.fake.set_dead_hardcore("Hc Hank", body(Fishing=86), at_death)
    world.poll(timedelta(hours=2))  # before the daily check: the frozen board, no news yet
    assert world.asked()["Hc Hank"] == [H] and world.news("Hc Hank") == []

    report = world.poll(DAY)
    assert world.asked()["Hc Hank"] == [R, I, H, U]
    [death] = world.news("Hc Hank")
    assert death["metric"] == HARDCORE_DEATH
    assert death["old_account"] == "Hardcore Ironman" and death["account_type"] == "Ironman"
    frozen = parse_json(at_death)
    assert (death["total_level"], death["overall_xp"]) == (frozen.overall_level,
                                                           frozen.overall_xp)
    # The stats keep flowing, from the ironman board now: the level gained after the death.
    hank = next(r for r in report.results if r.name == "Hc Hank")
    assert [(e.kind, e.metric, e.new) for e in hank.events] == [
        ("player", HARDCORE_DEATH, None), ("levelup", "Fishing", 86)]
    assert world.types()["Hc Hank"] == I

    world.fake.set_dead_hardcore("Hc Hank", body(Fishing=87), at_death)
    for later in (timedelta(hours=1), DAY, WEEK):
        world.poll(later)
        assert world.asked()["Hc Hank"] in ([I], [R, I, H, U])
    assert [e["metric"] for e in world.news("Hc Hank")] == [HARDCORE_DEATH]  # once
    assert world.store.recent_events("Hc Hank")[0].payload["new"] == 87


def test_a_de_iron_is_announced_once(world: World) -> None:
    world.poll()
    world.fake.set_deironed("Iron Ivy", body(Fishing=81), body())
    world.poll(WEEK)
    [news] = world.news("Iron Ivy")
    assert news["metric"] == DEIRONED and news["old_account"] == "Ironman"
    assert world.types()["Iron Ivy"] == R
    assert world.asked()["Iron Ivy"] == [R, I]
    world.poll(WEEK)
    world.poll(WEEK)
    assert [e["metric"] for e in world.news("Iron Ivy")] == [DEIRONED]


@pytest.mark.parametrize("how", ["503", "maintenance"])
@pytest.mark.parametrize("board", [R, I, H])
def test_no_false_death_while_one_board_is_briefly_down(
    world: World, board: str, how: str
) -> None:
    world.poll()
    world.fake.set_account("Hc Hank", body(Fishing=81), H)
    if how == "503":
        world.fake.set_status("Hc Hank", 503, fake_hiscores.BOARDS[board])
    else:
        world.fake.set_html("Hc Hank", fake_hiscores.BOARDS[board])
    report = world.poll(DAY)
    hank = next(r for r in report.results if r.name == "Hc Hank")
    assert world.types()["Hc Hank"] == H and world.news("Hc Hank") == []
    if board == H:  # the player's own board is down: nothing to read this time
        assert hank.outcome == "unavailable"
    else:  # the stats still came from the hardcore board
        assert hank.outcome == "changed"
    checked = next(p for p in world.store.all_players() if p.name == "Hc Hank").account_type_at
    assert checked == T0  # not settled: due again on the next poll

    world.fake.set_account("Hc Hank", body(Fishing=81), H)  # back up
    world.poll(timedelta(hours=1))
    assert world.asked()["Hc Hank"] == [R, I, H]
    assert world.types()["Hc Hank"] == H and world.news("Hc Hank") == []


def test_an_explicit_mode_still_wins(world: World, tmp_path: Path) -> None:
    text = CONFIG.replace('name = "Hc Hank"\n', 'name = "Hc Hank"\nmode = "ironman"\n')
    world.settings = load_settings(config(tmp_path, text, "explicit.toml"))
    world.poll()
    assert world.asked()["Hc Hank"] == [I]
    assert world.types()["Hc Hank"] is None


def test_a_fake_that_serves_only_the_regular_board_still_works(world: World) -> None:
    for board in (I, H, U):  # everyone is a regular account now
        for name in ("Iron Ivy", "Hc Hank", "Ult Uma"):
            world.fake.replies.pop((fake_hiscores.BOARDS[board], name.lower()), None)
    report = world.poll()
    assert report.count("baseline") == 4
    assert set(world.types().values()) == {R}
    assert all(boards == [R, I] for boards in world.asked().values())



def test_a_name_on_no_board_costs_one_request_a_poll_and_is_typed_once_ranked(
    world: World
) -> None:
    for board in fake_hiscores.BOARDS.values():  # not ranked anywhere yet
        world.fake.replies.pop((board, "hc hank"), None)
    world.poll()
    assert world.asked()["Hc Hank"] == [R, I]
    world.poll(timedelta(hours=1))
    assert world.asked()["Hc Hank"] == [R]  # the regular board only, until the weekly check
    world.fake.set_account("Hc Hank", body(), H)  # ranked now
    report = world.poll(timedelta(hours=1))
    assert world.asked()["Hc Hank"] == [R, R, I, H]  # found, so the type is settled at once
    assert world.types()["Hc Hank"] == H
    assert next(r for r in report.results if r.name == "Hc Hank").outcome == "baseline"


# -- the words ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "was", "line", "title"),
    [
        (HARDCORE_DEATH, H, "died as a Hardcore Ironman (total level 1,234, 56,789,000 XP)",
         "Died as a Hardcore Ironman"),
        (DEIRONED, U, "is no longer an ironman (was Ultimate Ironman)", "No longer an ironman"),
        (DEIRONED, I, "is no longer an ironman (was Ironman)", "No longer an ironman"),
    ],
)
def test_type_news_is_worded_and_templated_from_the_notice(
    metric: str, was: str, line: str, title: str
) -> None:
    from notifier.embeds import Group, player_embeds
    from notifier.notice import Notice
    from notifier.text import event_line, render_template, validate_template
    from poller.notices import event_notice

    shown = Snapshot(skills={"Overall": 56_789_000}, activities={}, overall_level=1234)
    notice = event_notice(Event("player", metric), player="Hc Hank", mode=I if metric ==
                          HARDCORE_DEATH else R, snapshot=shown, taken_at=T0, was=was)
    assert event_line(notice) == line
    assert Notice.from_json(notice.to_json()) == notice  # old_account survives the outbox
    template = "{player} {status}: was {old_account}, {total_level} total"
    assert validate_template("player", template) is None
    status = metric.replace("_", "\\_")  # escaped for Discord markdown, as every value is
    assert render_template(template, notice) == (
        f"Hc Hank {status}: was {notice.old_account}, 1,234 total")
    level = event_notice(Event("levelup", "Fishing", 80, 81), player="Hc Hank", mode=I,
                         snapshot=shown, taken_at=T0)
    embeds = player_embeds(Group(items=[(1, notice), (2, level)]))
    # The news in an embed of its own, titled with it; the level-up beside it.
    assert [e.data["title"] for e in embeds] == [title, "Level up"]
