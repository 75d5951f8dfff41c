"""deliver_pending: the outbox → Discord orchestration and its guarantees (SPEC "Delivery
guarantees"), against a FAKE sender and a real SQLite store.

The fake implements the ``Sender`` seam: it records every body it would have POSTed and answers
with the ``SendResult`` the real ``WebhookSender`` gives for that HTTP outcome, decided by a
per-test ``respond(hook, body)``. Pending deliveries are written through ``Store.record_poll`` /
``Store.record_events``; settings are loaded from a TOML file in tmp_path. Three webhooks shape
the messages: ``clan`` (embeds: all events in one message), ``lines`` (text: one line per event,
all in one message) and ``solo`` (text with a template so long that every event is a message).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from notifier.sender import SendResult
from notifier.webhook import WebhookAddress
from poller import game
from poller.config import load_settings
from poller.deliver import DeliveryReport, deliver_pending
from poller.delivery_status import PAUSE_KEY
from poller.settings import Settings
from poller.snapshot import OVERALL, Snapshot
from poller.store import OutboxEntry, PollRecord, open_store

T0 = datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)

HOOK_IDS = {"clan": "1001", "lines": "1002", "solo": "1003"}
HOOK_NAMES = {v: k for k, v in HOOK_IDS.items()}
PAD = "=" * 1200  # two such lines exceed Discord's 2,000 characters: one event per message
HOOK_OPTIONS = {
    "clan": "",
    "lines": 'format = "text"',
    "solo": 'format = "text"\n'
            f'templates = {{ levelup = "{{player}} reached {{level}} {{skill}} {PAD}" }}',
}
# Distinct enough that none is part of another or of any rendered text.
NAMES = ("Alice", "Bobby", "Carol", "Dwayne", "Erika", "Fiona", "Greta", "Hector")


def url(name: str, token: str | None = None) -> str:
    return f"http://127.0.0.1:9/api/webhooks/{HOOK_IDS[name]}/{token or 'tok-' + name}"


# -- the fake sender -------------------------------------------------------------------------

RESULTS: dict[str, SendResult] = {
    "sent": SendResult("sent", 200, attempts=1, elapsed=0.012, message_id="42"),
    "retry": SendResult("retry", 503, "503 Service Unavailable: upstream connect error",
                        attempts=1, elapsed=0.2),
    "disable": SendResult("disable", 404, "404 Unknown Webhook (10015)", attempts=1),
    "reject": SendResult(
        "reject", 400,
        "400 Invalid Form Body (50035): embeds.0.description: Must be 4096 or fewer in length",
        attempts=1,
    ),
    "too_large": SendResult("too_large", 413, "413 Request Entity Too Large", attempts=1),
    # A global 429: the real sender pauses every webhook (see FakeSender.send).
    "global_429": SendResult("paused", 429, "429 rate limited (global): retry after 600.000 s",
                             retry_after=600.0, attempts=1),
    # One webhook's bucket is empty for longer than the sender waits: nothing was POSTed.
    "bucket_empty": SendResult(
        "paused", None, "rate limited: this webhook's rate-limit bucket is empty, 60.0 s left",
        retry_after=60.0,
    ),
}

Respond = Callable[[str, Mapping[str, Any]], str]


def all_sent(hook: str, body: Mapping[str, Any]) -> str:
    return "sent"


class Crash(BaseException):
    """The process dies (SIGKILL, power cut): nothing after this point runs."""


@dataclass
class Post:
    hook: str
    body: Mapping[str, Any]
    outcome: str

    @property
    def players(self) -> list[str]:
        text = json.dumps(self.body, ensure_ascii=False)
        return [n for n in NAMES if n in text]


class FakeSender:
    """``poller.deliver.Sender``: scripted answers, every POST recorded (``posts``)."""

    def __init__(self, respond: Respond = all_sent) -> None:
        self.respond = respond
        self.posts: list[Post] = []
        self.pause = 0.0  # seconds left of a global pause (the fake's clock does not move)
        self.pause_calls: list[float] = []

    def send(
        self, address: WebhookAddress, body: Mapping[str, Any], *, thread_id: str | None = None
    ) -> SendResult:
        hook = HOOK_NAMES[address.id]
        assert address.token == f"tok-{hook}" or address.token.startswith("new-")
        if self.pause > 0:  # like WebhookSender: during a global pause nothing is POSTed
            return SendResult("paused", None, "rate limited: all sending is paused",
                              retry_after=self.pause)
        outcome = self.respond(hook, body)
        if outcome == "bucket_empty":
            return RESULTS[outcome]
        self.posts.append(Post(hook, body, outcome))
        if outcome == "crash":  # Discord got it; we die before writing that down
            raise Crash
        if outcome == "global_429":
            self.pause_all(600.0)
        return RESULTS[outcome]

    def global_pause_remaining(self) -> float:
        return self.pause

    def pause_all(self, seconds: float) -> None:
        self.pause_calls.append(seconds)
        self.pause = max(self.pause, seconds)

    # what reached Discord
    def accepted(self, hook: str | None = None) -> list[Post]:
        return [p for p in self.posts if p.outcome == "sent" and hook in (None, p.hook)]

    def hooks_posted(self) -> set[str]:
        return {p.hook for p in self.posts}

    def times_delivered(self, hook: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for post in self.posts:
            if post.hook == hook and post.outcome in ("sent", "crash"):
                for name in post.players:
                    counts[name] = counts.get(name, 0) + 1
        return counts


def on(hook: str, outcome: str, *, times: int | None = None) -> Respond:
    """``outcome`` for every post to ``hook`` (the first ``times`` only, if given); else sent."""
    left = [times]

    def respond(h: str, body: Mapping[str, Any]) -> str:
        if h != hook:
            return "sent"
        if left[0] is None:
            return outcome
        if left[0] > 0:
            left[0] -= 1
            return outcome
        return "sent"

    return respond


# -- the world: config, store, clock ---------------------------------------------------------


@dataclass(frozen=True)
class Row:
    id: int
    webhook: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    sent_at: datetime | None
    player: str
    metric: str


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.db = tmp_path / "osrs.db"
        self.store = open_store(f"sqlite:///{self.db}")
        self.now = T0
        self.settings = self.configure()

    def configure(self, **urls: str | None) -> Settings:
        """Write and load the config: every hook with its default URL unless ``urls`` says
        otherwise (None: left out of the config; "": its URL unset)."""
        text = ""
        for name, options in HOOK_OPTIONS.items():
            value = urls.get(name, url(name))
            if value is not None:
                text += f'\n[webhooks.{name}]\nurl = "{value}"\n{options}\n'
        path = self.tmp_path / "osrs-notify.toml"
        path.write_text(text, encoding="utf-8")
        self.settings = load_settings(path, environ={})
        return self.settings

    def reopen(self) -> None:
        """A new process: a fresh connection to the same file."""
        self.store.close()
        self.store = open_store(f"sqlite:///{self.db}")

    def add(self, *players: str, hooks: tuple[str, ...] = ("solo",), metric: str = "Attack",
            level: int = 70) -> None:
        """One level-up per player, queued for ``hooks``, now."""
        self.store.record_events(
            [OutboxEntry("levelup", payload(p, metric, level), hooks) for p in players], self.now
        )

    def deliver(self, sender: FakeSender, **kw: Any) -> DeliveryReport:
        return deliver_pending(self.settings, self.store, sender, now=lambda: self.now, **kw)

    def rows(self) -> list[Row]:
        with closing(sqlite3.connect(self.db)) as conn:
            query = conn.execute(
                "SELECT d.id, d.webhook, d.status, d.attempts, d.next_attempt_at, d.last_error, "
                "d.sent_at, e.payload FROM delivery d JOIN event e ON e.id = d.event_id "
                "ORDER BY d.id"
            )
            out = []
            for did, hook, status, attempts, due, error, sent, raw in query:
                p = json.loads(raw)
                out.append(Row(did, hook, status, attempts, _time(due), error,  # type: ignore[arg-type]
                               _time(sent), p["player"], p["metric"]))
            return out

    def row(self, hook: str, player: str) -> Row:
        (found,) = [r for r in self.rows() if (r.webhook, r.player) == (hook, player)]
        return found

    def statuses(self, hook: str | None = None) -> dict[tuple[str, str], str]:
        return {(r.webhook, r.player): r.status for r in self.rows() if hook in (None, r.webhook)}


def payload(player: str, metric: str = "Attack", level: int = 70) -> dict[str, object]:
    return {
        "kind": "levelup", "metric": metric, "old": level - 1, "new": level, "threshold": level,
        "milestone": False, "first": False, "player": player, "mode": "regular",
        "taken_at": T0.isoformat(), "combat": 100, "total_level": 1500, "overall_xp": 1_000_000,
    }


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.store.close()


# -- everything goes out ---------------------------------------------------------------------


def snap(n: int) -> Snapshot:
    skills = {OVERALL: 1_000_000 + n, **{s: 100_000 + n for s in game.SKILLS}}
    return Snapshot(skills=skills, activities={}, overall_level=1500)


def test_all_sent_from_a_poll_one_attempt_per_message(world: World) -> None:
    store = world.store
    store.sync_players([("Alice", "regular"), ("Bobby", "regular")], T0)
    records = [
        PollRecord(p.id, T0, snap(i), outbox=[
            OutboxEntry("levelup", payload(p.name, metric), ("clan", "lines", "solo"))
            for metric in ("Attack", "Strength")
        ])
        for i, p in enumerate(store.active_players())
    ]
    assert store.record_poll(records).deliveries_added == 12
    world.now = T0 + timedelta(seconds=3)
    sender = FakeSender()

    report = world.deliver(sender)

    assert report.exit_code == 0 and report.delivered == 12
    # clan: two embeds in one message; lines: four lines in one; solo: one message per event.
    assert [len(sender.accepted(h)) for h in ("clan", "lines", "solo")] == [1, 1, 4]
    assert {h: r.messages_sent for h, r in report.webhooks.items()} == {
        "clan": 1, "lines": 1, "solo": 4}
    assert report.messages_sent == 6
    for hook in ("clan", "lines"):
        assert sender.accepted(hook)[0].players == ["Alice", "Bobby"]
    rows = world.rows()
    assert {(r.status, r.attempts, r.sent_at, r.last_error) for r in rows} == {
        ("sent", 1, world.now, None)}
    attempts = store.attempts()
    assert len(attempts) == 6  # one per message
    assert {(a.outcome, a.status_code) for a in attempts} == {("sent", 200)}
    assert sorted((a.webhook, a.deliveries) for a in attempts) == [
        ("clan", 4), ("lines", 4), ("solo", 1), ("solo", 1), ("solo", 1), ("solo", 1)]
    assert all(a.elapsed_ms == 12 and a.at == world.now for a in attempts)

    again = FakeSender()
    report = world.deliver(again)
    assert again.posts == [] and report.webhooks == {} and report.exit_code == 0


# -- one message, every outcome ----------------------------------------------------------------

# outcome → (status after, attempts after, due again at once?, exit code, report fields)
OUTCOMES = [
    ("sent", "sent", 1, False, 0, {"delivered": 1, "messages_sent": 1}),
    ("retry", "pending", 1, False, 1, {"retrying": 1}),
    ("disable", "held", 0, False, 1, {"held": 1}),
    ("reject", "failed", 1, False, 1, {"failed": 1}),
    ("too_large", "failed", 1, False, 1, {"failed": 1}),
    # A pause leaves the message unsent: a problem, exit 1 (it goes out on a later run).
    ("global_429", "pending", 0, True, 1, {"paused": True}),
    ("bucket_empty", "pending", 0, True, 1, {"paused": True}),
]


@pytest.mark.parametrize(
    ("outcome", "status", "attempts", "due", "exit_code", "fields"), OUTCOMES,
    ids=[o[0] for o in OUTCOMES],
)
def test_one_message_each_outcome(
    world: World, outcome: str, status: str, attempts: int, due: bool, exit_code: int,
    fields: dict[str, object],
) -> None:
    world.add("Alice")
    report = world.deliver(FakeSender(on("solo", outcome)))

    row = world.row("solo", "Alice")
    assert (row.status, row.attempts) == (status, attempts)
    assert bool(world.store.pending_deliveries(world.now)) == due
    assert report.exit_code == exit_code
    hr = report.webhooks["solo"]
    for name, value in fields.items():
        assert getattr(hr, name) == value, name
    if status != "sent":
        assert hr.delivered == 0 and row.sent_at is None
    # Discord's words are kept on the row, without any token.
    if outcome in ("retry", "disable", "reject", "too_large"):
        assert row.last_error == RESULTS[outcome].error
    # An attempt row for each HTTP request, none when nothing was POSTed.
    expected = [] if outcome == "bucket_empty" else [(RESULTS[outcome].outcome,
                                                      RESULTS[outcome].status)]
    assert [(a.outcome, a.status_code) for a in world.store.attempts()] == expected


# -- retry (5xx, timeouts) ------------------------------------------------------------------------


def test_retry_backs_off_that_message_and_leaves_the_rest_of_its_webhook_untried(
    world: World,
) -> None:
    world.add("Alice", "Bobby", "Carol", hooks=("solo", "clan", "lines"))
    sender = FakeSender(on("solo", "retry"))

    report = world.deliver(sender)

    # One POST to solo, then it stops: Discord is struggling.
    assert [p.players for p in sender.posts if p.hook == "solo"] == [["Alice"]]
    first = world.row("solo", "Alice")
    assert first.status == "pending" and first.attempts == 1
    assert T0 + timedelta(seconds=5) <= first.next_attempt_at <= T0 + timedelta(seconds=30)
    assert first.last_error == RESULTS["retry"].error
    for name in ("Bobby", "Carol"):  # untried: pending, no attempt counted, and not due
        rest = world.row("solo", name)  # before the first one: the channel reads in order
        assert (rest.status, rest.attempts, rest.next_attempt_at) == (
            "pending", 0, first.next_attempt_at)
    # The other webhooks are not held back.
    assert set(world.statuses("clan").values()) == set(world.statuses("lines").values()) == {
        "sent"}
    solo = report.webhooks["solo"]
    assert solo.retrying == 3 and solo.delivered == 0 and solo.errors == [RESULTS["retry"].error]
    assert report.delivered == 6 and report.exit_code == 1

    # Once the back-off is over, all three go out (the first on its second attempt).
    world.now = first.next_attempt_at
    later = FakeSender()
    report = world.deliver(later)
    assert report.exit_code == 0 and report.webhooks["solo"].delivered == 3
    assert [p.players for p in later.posts] == [["Alice"], ["Bobby"], ["Carol"]]
    assert world.row("solo", "Alice").attempts == 2
    assert set(world.statuses().values()) == {"sent"}


@pytest.mark.parametrize(("retry_after", "at_least"), [(900.0, 900.0), (1e9, 3600.0)])
def test_retry_after_of_a_5xx_is_honoured(
    world: World, retry_after: float, at_least: float
) -> None:
    """A 503 with Retry-After: the message waits at least that long (a bogus huge value is
    capped at an hour, so one bad header cannot park it for years)."""
    world.add("Alice")
    answer = SendResult("retry", 503, "503 Service Unavailable", retry_after=retry_after,
                        attempts=1)
    sender = FakeSender()
    sender.send = lambda address, body, thread_id=None: answer  # type: ignore[method-assign]

    world.deliver(sender)

    due = world.row("solo", "Alice").next_attempt_at
    assert T0 + timedelta(seconds=at_least) <= due <= T0 + timedelta(seconds=max(at_least, 3600))


def test_ignore_backoff_sends_what_is_not_due_yet(world: World) -> None:
    world.add("Alice")
    world.deliver(FakeSender(on("solo", "retry")))
    due_at = world.row("solo", "Alice").next_attempt_at
    assert due_at > world.now

    waiting = FakeSender()
    report = world.deliver(waiting)
    assert waiting.posts == [] and report.webhooks == {}
    assert world.row("solo", "Alice").status == "pending"

    now = FakeSender()
    report = world.deliver(now, ignore_backoff=True)
    assert [p.players for p in now.posts] == [["Alice"]]
    assert report.delivered == 1 and report.exit_code == 0
    assert world.row("solo", "Alice").status == "sent"


# -- pauses (global 429, edge ban) ----------------------------------------------------------------


def test_global_pause_marks_nothing_is_persisted_and_honoured_by_the_next_run(
    world: World,
) -> None:
    world.add("Alice", "Bobby", hooks=("clan", "solo"))
    sender = FakeSender(on("clan", "global_429"))

    report = world.deliver(sender)

    assert len(sender.posts) == 1  # the 429; solo is not tried during the pause
    assert set(world.statuses().values()) == {"pending"}
    assert {r.attempts for r in world.rows()} == {0}
    assert report.webhooks["clan"].paused and report.webhooks["solo"].paused
    # A pause is a problem: exit 1, with its end and Discord's words.
    assert report.paused_for == 600.0 and report.exit_code == 1
    assert report.paused_until == T0 + timedelta(seconds=600)
    assert report.pause_reason == RESULTS["global_429"].error
    until = float(world.store.get_meta(PAUSE_KEY) or 0)
    assert until == (T0 + timedelta(seconds=600)).timestamp()

    # The next run is a new process: its sender knows nothing until we tell it.
    world.reopen()
    world.now += timedelta(minutes=1)
    fresh = FakeSender()
    report = world.deliver(fresh)
    assert fresh.pause_calls == [540.0]
    assert fresh.posts == [] and set(world.statuses().values()) == {"pending"}
    assert report.paused_for == 540.0 and report.exit_code == 1
    assert report.pause_reason == RESULTS["global_429"].error  # remembered too
    assert float(world.store.get_meta(PAUSE_KEY) or 0) == until

    # Once the pause is over, it is forgotten and everything goes out.
    world.now = T0 + timedelta(seconds=601)
    done = FakeSender()
    report = world.deliver(done)
    assert done.pause_calls == [] and world.store.get_meta(PAUSE_KEY) is None
    assert report.delivered == 4 and report.paused_for == 0 and report.exit_code == 0
    assert report.paused_until is None
    assert set(world.statuses().values()) == {"sent"}


def test_one_webhooks_empty_bucket_pauses_only_that_webhook(world: World) -> None:
    world.add("Alice", "Bobby", hooks=("solo", "clan"))
    sender = FakeSender(on("solo", "bucket_empty"))

    report = world.deliver(sender)

    assert sender.hooks_posted() == {"clan"}
    assert set(world.statuses("solo").values()) == {"pending"}
    assert set(world.statuses("clan").values()) == {"sent"}
    assert report.webhooks["solo"].paused and report.exit_code == 1  # left unsent: say so
    assert report.webhooks["solo"].pause_error == RESULTS["bucket_empty"].error
    assert report.backlog["solo"].due == 2  # due still: the next run sends them
    assert world.store.get_meta(PAUSE_KEY) is None  # not a global pause: nothing to remember
    assert report.paused_until is None


# -- disable (404 / 401) --------------------------------------------------------------------------


def test_disabled_webhook_keeps_its_messages_is_skipped_and_a_new_url_sends_them(
    world: World,
) -> None:
    world.add("Alice", "Bobby", hooks=("lines", "solo"))
    sender = FakeSender(on("solo", "disable"))

    report = world.deliver(sender)

    assert len([p for p in sender.posts if p.hook == "solo"]) == 1  # no second try
    state = world.store.webhook_states()["solo"]
    assert state.disabled and state.reason == RESULTS["disable"].error
    assert state.address_hash and "tok-" not in state.address_hash  # a fingerprint only
    assert set(world.statuses("solo").values()) == {"held"}
    assert world.store.count_pending(include_held=True)["solo"] == 2
    assert set(world.statuses("lines").values()) == {"sent"}
    solo = report.webhooks["solo"]
    assert solo.disabled == RESULTS["disable"].error and solo.held == 2
    assert report.exit_code == 1

    # Later runs (more events meanwhile) skip it without sending anything to it.
    world.now += timedelta(hours=1)
    world.add("Carol", hooks=("lines", "solo"))
    skipping = FakeSender()
    report = world.deliver(skipping)
    assert skipping.hooks_posted() == {"lines"}
    assert report.webhooks["solo"].disabled == RESULTS["disable"].error
    assert report.webhooks["solo"].delivered == 0 and report.exit_code == 1
    # Queued meanwhile, held too: never claimed while the webhook is disabled.
    assert world.statuses("solo") == {("solo", "Alice"): "held", ("solo", "Bobby"): "held",
                                      ("solo", "Carol"): "held"}
    assert report.webhooks["solo"].held == 3

    # The same URL again changes nothing — and with nothing new for it, the run still says
    # so: a disabled webhook keeping messages is never reported as "nothing pending".
    world.configure()
    again = FakeSender()
    quiet = world.deliver(again)
    assert "solo" not in again.hooks_posted()
    assert world.store.webhook_states()["solo"].disabled
    assert quiet.webhooks["solo"].disabled and quiet.webhooks["solo"].held == 3
    assert quiet.exit_code == 1

    # A new URL in the config: enabled again, the kept messages go out, in order.
    world.configure(solo=url("solo", "new-token"))
    fixed = FakeSender()
    report = world.deliver(fixed)
    assert [p.players for p in fixed.posts] == [["Alice"], ["Bobby"], ["Carol"]]
    assert not world.store.webhook_states()["solo"].disabled
    assert set(world.statuses().values()) == {"sent"}
    assert report.webhooks["solo"].delivered == 3 and report.exit_code == 0


# -- reject (400) and too large (413) -------------------------------------------------------------


def test_rejected_message_of_several_events_is_split_so_only_the_bad_event_fails(
    world: World,
) -> None:
    world.add("Alice", "Bobby", "Carol", "Dwayne", hooks=("clan",))
    # Discord refuses any message that carries Carol's embed.
    sender = FakeSender(lambda h, body: "reject" if "Carol" in json.dumps(body) else "sent")

    report = world.deliver(sender)

    assert world.statuses() == {("clan", "Alice"): "sent", ("clan", "Bobby"): "sent",
                                ("clan", "Carol"): "failed", ("clan", "Dwayne"): "sent"}
    bad = world.row("clan", "Carol")
    assert bad.last_error == RESULTS["reject"].error and bad.attempts == 1
    # Every good event reached Discord exactly once; the first POST carried all four.
    assert sender.posts[0].players == ["Alice", "Bobby", "Carol", "Dwayne"]
    assert sorted(n for p in sender.accepted() for n in p.players) == ["Alice", "Bobby", "Dwayne"]
    clan = report.webhooks["clan"]
    assert (clan.delivered, clan.failed) == (3, 1) and clan.errors == [RESULTS["reject"].error]
    assert report.exit_code == 1
    assert [a.outcome for a in world.store.attempts()].count("sent") == len(sender.accepted())

    # A failed event is never tried again, not even with --now.
    later = FakeSender()
    assert world.deliver(later, ignore_backoff=True).webhooks == {} and later.posts == []


def test_too_large_message_is_halved_until_it_is_accepted(world: World) -> None:
    world.add(*NAMES, hooks=("lines",))
    # "413" for any message of more than two lines.
    sender = FakeSender(
        lambda h, body: "too_large" if body["content"].count("\n") >= 2 else "sent"
    )

    report = world.deliver(sender)

    assert [len(p.players) for p in sender.posts] == [8, 4, 2, 2, 4, 2, 2]
    assert [sorted(p.players) for p in sender.accepted()] == [
        sorted(NAMES[i : i + 2]) for i in range(0, 8, 2)]
    assert set(world.statuses().values()) == {"sent"}
    assert {r.attempts for r in world.rows()} == {1}
    lines = report.webhooks["lines"]
    assert (lines.delivered, lines.messages_sent, lines.failed) == (8, 4, 0)
    assert report.exit_code == 0
    assert sorted(a.outcome for a in world.store.attempts()) == ["sent"] * 4 + ["too_large"] * 3


# -- webhooks we cannot send to -------------------------------------------------------------------


def test_a_webhook_without_url_holds_its_messages_says_so_every_run_and_sends_them_once_set(
    world: World,
) -> None:
    """The `.env` forgotten: the messages wait, every run says how many and why (exit 0: the
    example config runs on a fresh machine), and the day the URL is back they go out once."""
    world.configure(solo="")
    world.add("Alice", "Bobby", hooks=("solo", "clan"))
    sender = FakeSender()

    report = world.deliver(sender)

    assert sender.hooks_posted() == {"clan"}
    solo = report.webhooks["solo"]
    assert (solo.skipped, solo.held, solo.delivered) == ("has no URL", 2, 0)
    assert report.exit_code == 0  # held on purpose, not a failure
    assert set(world.statuses("solo").values()) == {"held"}
    assert {r.attempts for r in world.rows() if r.webhook == "solo"} == {0}
    state = world.store.webhook_states()["solo"]
    assert state.disabled and state.address_hash is None and state.reason == "has no URL"

    # A later run with something new for it, and one with nothing: both still say so.
    world.now += timedelta(hours=1)
    world.add("Carol", hooks=("solo",))
    assert world.deliver(FakeSender()).webhooks["solo"].held == 3
    quiet = world.deliver(FakeSender())
    assert quiet.webhooks["solo"].held == 3 and quiet.exit_code == 0
    assert set(world.statuses("solo").values()) == {"held"}
    assert world.store.webhook_states()["solo"].changed_at == T0  # held since the first run

    # The URL is back: every held message goes out, in order, exactly once.
    world.configure()
    back = FakeSender()
    report = world.deliver(back)
    assert [p.players for p in back.posts] == [["Alice"], ["Bobby"], ["Carol"]]
    assert report.webhooks["solo"].delivered == 3 and report.exit_code == 0
    assert not world.store.webhook_states()["solo"].disabled
    assert set(world.statuses().values()) == {"sent"}
    again = FakeSender()
    assert world.deliver(again).webhooks == {} and again.posts == []


def test_a_disabled_webhook_whose_url_is_unset_keeps_discords_reason(world: World) -> None:
    world.add("Alice", hooks=("solo",))
    world.deliver(FakeSender(on("solo", "disable")))
    world.configure(solo="")

    report = world.deliver(FakeSender())

    assert report.webhooks["solo"].disabled == RESULTS["disable"].error
    assert report.webhooks["solo"].skipped is None and report.exit_code == 1
    world.configure()  # the same refused URL again: still disabled
    assert world.deliver(FakeSender()).webhooks["solo"].disabled


def test_the_reason_names_the_unset_variable(tmp_path: Path) -> None:
    from poller.delivery_status import no_url_reason

    path = tmp_path / "osrs-notify.toml"
    path.write_text('[webhooks.clan]\nurl = "${CLAN_URL}"\n', encoding="utf-8")
    settings = load_settings(path, environ={})
    assert no_url_reason(settings, "clan") == "has no URL (${CLAN_URL} is not set)"


def test_a_webhook_removed_from_the_config_drops_its_messages_with_a_count(
    world: World,
) -> None:
    world.add("Alice", "Bobby", hooks=("solo", "clan"))
    world.deliver(FakeSender(on("solo", "disable")))  # held, and a state row
    world.add("Carol", hooks=("solo",))
    world.configure(solo=None)
    sender = FakeSender()

    report = world.deliver(sender)

    assert report.dropped == {"solo": 3} and "solo" not in report.webhooks
    assert report.exit_code == 0 and sender.posts == []
    assert set(world.statuses("solo").values()) == {"dropped"}
    assert "solo" not in world.store.webhook_states()
    assert world.store.counts()["event"] == 3  # the events stay, for history
    # Said once: the next run has nothing to say about it.
    assert world.deliver(FakeSender()).dropped == {}
    # Back in the config later: a fresh start, nothing old is sent.
    world.configure()
    late = FakeSender()
    assert world.deliver(late).webhooks == {} and late.posts == []


def test_only_restricts_the_run_to_one_webhook(world: World) -> None:
    world.add("Alice", hooks=("solo", "clan", "lines"))
    sender = FakeSender()

    report = world.deliver(sender, only="lines")

    assert sender.hooks_posted() == {"lines"} and list(report.webhooks) == ["lines"]
    assert world.statuses() == {("solo", "Alice"): "pending", ("clan", "Alice"): "pending",
                                ("lines", "Alice"): "sent"}


# -- exit codes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("respond", "exit_code"),
    [
        (all_sent, 0),
        (on("solo", "retry"), 1),
        (on("solo", "disable"), 1),
        (on("solo", "reject"), 1),
        (on("solo", "global_429"), 1),
        (on("solo", "bucket_empty"), 1),
        (on("solo", "retry", times=0), 0),
    ],
    ids=["all-sent", "retrying", "disabled", "failed", "global-pause", "bucket-pause",
         "no-trouble"],
)
def test_exit_code_is_1_when_a_webhook_is_in_trouble(
    world: World, respond: Respond, exit_code: int
) -> None:
    world.add("Alice", hooks=("clan", "solo"))
    report = world.deliver(FakeSender(respond))
    assert report.exit_code == exit_code
    assert report.exit_code == int(
        any(w.troubled for w in report.webhooks.values()) or report.paused_until is not None
    )


def test_nothing_pending_is_exit_0_with_an_empty_report(world: World) -> None:
    sender = FakeSender()
    report = world.deliver(sender)
    assert report.webhooks == {} and report.exit_code == 0 and sender.posts == []


# -- a crash between the POST and the bookkeeping -----------------------------------------------


def _crash_in_send(victim: str) -> FakeSender:
    seen: list[str] = []

    def respond(hook: str, body: Mapping[str, Any]) -> str:
        text = json.dumps(body)
        if hook == "solo" and victim in text and victim not in seen:
            seen.append(victim)
            return "crash"
        return "sent"

    return FakeSender(respond)


def _crash_in_mark(world: World, victim: str, monkeypatch: pytest.MonkeyPatch) -> FakeSender:
    sender = FakeSender()
    real = world.store.mark_delivered

    def mark_delivered(ids: Any, now: datetime) -> int:
        if sender.posts[-1].hook == "solo" and sender.posts[-1].players == [victim]:
            raise Crash
        return real(ids, now)

    monkeypatch.setattr(world.store, "mark_delivered", mark_delivered)
    return sender


@pytest.mark.parametrize("where", ["after-post", "in-mark-delivered"])
def test_crash_after_a_send_repeats_that_message_once_and_loses_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    world.add("Alice", "Bobby", "Carol", hooks=("solo", "lines"))
    if where == "after-post":
        first = _crash_in_send("Bobby")
    else:
        first = _crash_in_mark(world, "Bobby", monkeypatch)

    with pytest.raises(Crash):
        world.deliver(first)

    # Alice was written down as sent before the crash; Bobby reached Discord but was not.
    assert world.statuses("solo") == {("solo", "Alice"): "sent", ("solo", "Bobby"): "pending",
                                      ("solo", "Carol"): "pending"}
    assert world.row("solo", "Bobby").attempts == 0
    assert set(world.statuses("lines").values()) == {"pending"}  # never reached

    # The next run (a new process) sends what was not written down, once.
    monkeypatch.undo()
    world.reopen()
    world.now += timedelta(minutes=1)
    second = FakeSender()
    report = world.deliver(second)

    assert report.exit_code == 0
    assert [p.players for p in second.posts if p.hook == "solo"] == [["Bobby"], ["Carol"]]
    assert set(world.statuses().values()) == {"sent"}
    total: dict[tuple[str, str], int] = {}
    for sender in (first, second):
        for hook in ("solo", "lines"):
            for name, n in sender.times_delivered(hook).items():
                total[hook, name] = total.get((hook, name), 0) + n
    # At most one repeat (the message in flight), nothing lost.
    assert total == {("solo", "Alice"): 1, ("solo", "Bobby"): 2, ("solo", "Carol"): 1,
                     ("lines", "Alice"): 1, ("lines", "Bobby"): 1, ("lines", "Carol"): 1}

    # And a third run has nothing left to send.
    third = FakeSender()
    assert world.deliver(third).webhooks == {} and third.posts == []


def test_crash_in_mark_rolls_back_the_attempt_row_too(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.add("Alice", hooks=("solo",))
    sender = _crash_in_mark(world, "Alice", monkeypatch)
    with pytest.raises(Crash):
        world.deliver(sender)
    # The attempt and the delivery are written in one transaction: neither, or both.
    assert world.store.attempts() == []
    assert world.row("solo", "Alice").status == "pending"


# -- status lines tell the truth: what waits, why, until when, what sends it now -------------------


def lines_of(report: DeliveryReport) -> str:
    from poller.report import delivery_lines

    return "\n".join(text for text, _ in delivery_lines(report))


def test_messages_waiting_out_a_back_off_are_said_with_their_end_and_the_command(
    world: World,
) -> None:
    world.add("Alice", "Bobby", hooks=("solo",))
    world.deliver(FakeSender(on("solo", "retry")))
    due_at = world.row("solo", "Alice").next_attempt_at

    world.now += timedelta(seconds=2)
    report = world.deliver(FakeSender())

    assert report.webhooks == {} and report.exit_code == 0  # nothing failed in this run ...
    waiting = report.backlog["solo"]  # ... but it is not "nothing pending"
    assert (waiting.backoff, waiting.backoff_until) == (2, due_at)
    assert waiting.backoff_error == RESULTS["retry"].error and report.waiting == 2
    left = int((due_at - world.now).total_seconds())  # the back-off is jittered
    when = f"{due_at:%Y-%m-%d %H:%M:%S} UTC (in {left // 60}m {left % 60}s)" if left >= 60 else (
        f"{due_at:%Y-%m-%d %H:%M:%S} UTC (in {left}s)")
    assert lines_of(report) == (
        f"Webhook 'solo': 2 message(s) wait out a retry back-off until {when} "
        f"(last error: {RESULTS['retry'].error}); `osrs-notify deliver --now` sends them now."
    )


def _dead_pid() -> int:
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_messages_leased_by_a_killed_process_are_said_and_taken_over_with_now(
    world: World,
) -> None:
    import os
    import socket

    from poller.deliver import LeaseClaim
    from poller.delivery_status import lease_holder

    world.add("Alice", "Bobby", "Carol", hooks=("clan",))
    dead = f"cron:{socket.gethostname()}:{_dead_pid()}"
    # The killed `poll` had claimed them for five minutes and never sent them.
    claimed = world.store.claim_deliveries(dead, world.now, timedelta(minutes=5), 1000)
    assert len(claimed) == 3
    assert lease_holder(dead) == "gone"
    assert lease_holder(f"cron:{socket.gethostname()}:{os.getpid()}") == "alive"
    assert lease_holder("cron:another-host:1") == "elsewhere"

    world.now += timedelta(seconds=30)
    sender = FakeSender()
    claim = LeaseClaim(world.store, now=lambda: world.now)
    report = world.deliver(sender, claim=claim)
    claim.release()

    assert sender.posts == [] and report.exit_code == 0
    (lease,) = report.backlog["clan"].leased
    assert (lease.owner, lease.count) == (dead, 3)
    assert lease.until == T0 + timedelta(minutes=5)
    assert lines_of(report) == (
        f"Webhook 'clan': 3 message(s) are leased until 2026-07-01 12:05:00 UTC (in 4m 30s) "
        f"by {dead}, which is no longer running; `osrs-notify deliver --now` sends them now, "
        "else they go out after that."
    )

    now_claim = LeaseClaim(world.store, now=lambda: world.now)
    taken = world.deliver(sender, claim=now_claim, ignore_backoff=True)
    now_claim.release()
    assert taken.taken_over == {dead: 3}
    assert taken.webhooks["clan"].delivered == 3 and taken.backlog == {}
    assert [p.players for p in sender.accepted()] == [["Alice", "Bobby", "Carol"]]
    assert "Took over 3 message(s) leased by " + dead in lines_of(taken)


def test_a_live_process_lease_is_never_taken_over(world: World) -> None:
    import os
    import socket

    from poller.deliver import LeaseClaim

    world.add("Alice", hooks=("clan",))
    alive = f"cron:{socket.gethostname()}:{os.getppid()}"
    world.store.claim_deliveries(alive, world.now, timedelta(minutes=5), 1000)
    sender = FakeSender()
    claim = LeaseClaim(world.store, now=lambda: world.now)
    report = world.deliver(sender, claim=claim, ignore_backoff=True)
    claim.release()
    assert sender.posts == [] and report.taken_over == {}
    assert f"are being sent by {alive}" in lines_of(report)


def test_an_edge_ban_is_exit_1_with_its_end_remembered_and_shown_by_check(
    world: World,
) -> None:
    from poller.delivery_status import outbox_problems

    ban = SendResult(
        "paused", 429, "429 with a non-JSON body: Discord's edge (Cloudflare) has banned this "
        "IP for a while; all sending paused for 3600 s", retry_after=3600.0, attempts=1,
    )
    world.add("Alice", "Bobby", hooks=("clan",))
    sender = FakeSender()

    def edge(address: WebhookAddress, body: Mapping[str, Any], *, thread_id: str | None = None
             ) -> SendResult:
        sender.pause_all(3600.0)
        return ban

    sender.send = edge  # type: ignore[method-assign]
    report = world.deliver(sender)

    assert report.exit_code == 1 and report.paused_until == T0 + timedelta(hours=1)
    assert report.pause_reason == ban.error
    assert lines_of(report).endswith(
        f"Discord paused all sending until 2026-07-01 13:00:00 UTC (in 1h 0m): {ban.error}; "
        "2 message(s) wait and go out on the first run after that."
    )
    # A later run with nothing new to try still says so, and is still exit 1.
    world.now += timedelta(minutes=10)
    later = world.deliver(FakeSender())
    assert later.exit_code == 1 and later.pause_reason == ban.error
    assert outbox_problems(world.settings, world.store, world.now) == [
        f"Discord paused all sending until 2026-07-01 13:00:00 UTC (in 50m 0s): {ban.error}; "
        "2 message(s) wait and go out on the first run after that"
    ]
    world.now = T0 + timedelta(hours=1)
    assert outbox_problems(world.settings, world.store, world.now) == []


@pytest.mark.parametrize(
    ("respond", "failed"),
    [
        # Three 400s in a row: the first message of four, then the split's first single.
        (lambda n: "reject" if n < 3 else "sent", 1),
        # Twenty 413s: halved down to single events, some of which are refused too.
        (lambda n: "too_large" if n < 20 else "sent", None),
    ],
    ids=["three-400s", "twenty-413s"],
)
def test_failed_events_are_shown_and_retry_failed_sends_them_once(
    world: World, respond: Callable[[int], str], failed: int | None
) -> None:
    from poller.delivery_status import outbox_problems

    world.add(*NAMES, hooks=("clan",))
    count = [0]

    def answer(hook: str, body: Mapping[str, Any]) -> str:
        count[0] += 1
        return respond(count[0] - 1)

    first = world.deliver(FakeSender(answer))
    lost = [r for r in world.rows() if r.status == "failed"]
    assert lost and (failed is None or len(lost) == failed)
    assert first.exit_code == 1
    backlog = first.backlog["clan"]
    assert backlog.failed == len(lost) and backlog.failed_error in (
        RESULTS["reject"].error, RESULTS["too_large"].error)
    assert {f.player for f in backlog.failed_events} == {r.player for r in lost}
    assert "`osrs-notify deliver --retry-failed` sends them again" in lines_of(first)
    (problem,) = outbox_problems(world.settings, world.store, world.now)
    assert problem.startswith(f"webhook 'clan': {len(lost)} message(s) for ")
    assert all(r.player in problem for r in lost) and backlog.failed_error in problem

    # Nothing sends them by itself, not even --now ...
    idle = FakeSender()
    assert world.deliver(idle, ignore_backoff=True).webhooks == {} and idle.posts == []
    # ... until the owner asks, after a fix: each goes out once.
    assert world.store.retry_failed(world.now) == len(lost)
    fixed = FakeSender()
    report = world.deliver(fixed)
    assert report.webhooks["clan"].delivered == len(lost) and report.exit_code == 0
    assert set(world.statuses().values()) == {"sent"}
    everyone = [n for p in fixed.accepted() + [] for n in p.players]
    assert sorted(everyone) == sorted(r.player for r in lost)
    assert outbox_problems(world.settings, world.store, world.now) == []


def test_a_payload_from_a_newer_release_is_kept_failed_and_the_rest_goes_out(
    world: World,
) -> None:
    # The outbox holds notifier.notice.Notice JSON; a version this release cannot read is not
    # guessed at: kept as failed with why (`deliver --retry-failed` once upgraded).
    newer = {**payload("Bobby"), "version": 99}
    world.store.record_events([OutboxEntry("levelup", newer, ("solo",))], world.now)
    world.add("Alice")
    sender = FakeSender()

    report = world.deliver(sender)

    assert [p.players for p in sender.accepted("solo")] == [["Alice"]]
    assert world.statuses("solo") == {("solo", "Bobby"): "failed", ("solo", "Alice"): "sent"}
    bobby = world.row("solo", "Bobby")
    assert bobby.last_error is not None and "newer release" in bobby.last_error
    assert report.webhooks["solo"].failed == 1 and report.exit_code == 1
