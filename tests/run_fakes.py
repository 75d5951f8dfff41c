"""Fakes for driving `run`'s jobs in-process with a fake clock (tests/unit/test_jobs.py,
tests/unit/test_scheduler.py, tests/integration/osrs/test_leases.py): a hiscores client, a
Discord sender, the clock, and a config."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from notifier.sender import SendResult
from poller import game
from poller.config import load_settings
from poller.errors import PlayerNotFound
from poller.hiscores import parse_json
from poller.jobs import WINDOW_OFFSET_KEY, Jobs, Parts
from poller.settings import Settings
from poller.snapshot import Snapshot
from poller.store import Store, open_store
from poller.timing import Timing

from support import fake_hiscores

T0 = datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)


def snap(level: int, skills: tuple[str, ...] = ("Cooking", "Fishing")) -> Snapshot:
    xp = game.xp_for_level(level)
    return parse_json(fake_hiscores.hiscores_body({s: xp for s in skills}))


class Clock:
    """The time every job reads; tests move it."""

    def __init__(self, at: datetime = T0) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, by: timedelta) -> None:
        self.at += by


class Fetcher:
    """Every player at ``level`` in Cooking and Fishing, on the regular board only (a regular
    account: every other board answers 404); ``calls`` records who was asked on the regular
    board, with the fake time, ``lookups`` the (name, board) of every other request (the
    account type checks of ``mode = "auto"``); ``on_fetch`` runs before each answer."""

    def __init__(self, level: int = 60, clock: Clock | None = None) -> None:
        self.level = level
        self.clock = clock
        self.calls: list[tuple[datetime | None, str]] = []
        self.lookups: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.on_fetch: Callable[[str], None] | None = None

    @property
    def names(self) -> list[str]:
        return [name for _, name in self.calls]

    def fetch(self, name: str, mode: str = "regular", **_: object) -> Snapshot:
        if mode != "regular":
            with self.lock:
                self.lookups.append((name, mode))
            raise PlayerNotFound(f"{name!r}: not on the {mode} board")
        with self.lock:
            self.calls.append((self.clock() if self.clock else None, name))
        if self.on_fetch is not None:
            self.on_fetch(name)
        return snap(self.level)


@dataclass
class Sender:
    """Discord that accepts everything; ``posts`` has (webhook id, body) of each message."""

    posts: list[tuple[str, Any]] = field(default_factory=list)
    edits: list[tuple[str, Any]] = field(default_factory=list)  # (message id, body)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, address: Any, body: Any, *, thread_id: str | None = None,
             files: Any = ()) -> SendResult:
        with self.lock:
            self.posts.append((address.id, body))
            message_id = str(1000 + len(self.posts))
        return SendResult("sent", 200, attempts=1, message_id=message_id)

    def edit(self, address: Any, message_id: str, body: Any, *, thread_id: str | None = None,
             files: Any = ()) -> SendResult:
        with self.lock:
            self.edits.append((message_id, body))
        return SendResult("sent", 200, attempts=1, message_id=message_id)

    def global_pause_remaining(self) -> float:
        return 0.0

    def pause_all(self, seconds: float) -> None:
        pass

    def lines(self, hook_id: str | None = None) -> list[str]:
        """``"player: line"`` for each line of each embed sent (to webhook ``hook_id``)."""
        return [f"{e.get('author', {}).get('name', '')}: {line}"
                for hook, body in self.posts if hook_id is None or hook == hook_id
                for e in body.get("embeds", [])
                for line in e.get("description", "").splitlines()]


def config(
    tmp_path: Path, players: int = 5, extra: str = "", *, database: str | None = None,
    name: str = "P{i}", hooks: int = 1,
) -> Settings:
    names = "".join(f'[[players]]\nname = "{name.format(i=i)}"\n' for i in range(players))
    webhooks = "".join(f'[webhooks.hook{i}]\nurl = "http://127.0.0.1:9/api/webhooks/{i + 1}/tok"\n'
                       for i in range(hooks))
    path = tmp_path / "osrs-notify.toml"
    path.write_text(
        f'database = "{database or f"sqlite:///{tmp_path}/state.db"}"\n'
        '[poll]\ninterval = "1h"\nconcurrency = 2\nschedule = "uniform"\n' + webhooks
        + "[rules]\nlevels = { every = 1 }\n" + extra + names
    )
    return load_settings(path, environ={})


def jobs(
    settings: Settings, fetcher: Fetcher, sender: Sender, *, clock: Clock | None = None,
    owner: str | None = None, timing: Timing | None = None,
    open: Callable[[Settings], Store] | None = None,
) -> Jobs:
    opener = open or (lambda s: open_store(s.database_url))
    # Windows start where the first process's random draw puts them; tests step a fake clock
    # across window marks, so here they start on the marks (an offset another process already
    # drew is kept). Set before the jobs run, so processes started together never race for it.
    store = opener(settings)
    try:
        if store.get_meta(WINDOW_OFFSET_KEY) is None:
            store.set_meta(WINDOW_OFFSET_KEY, "0")
    finally:
        store.close()
    return Jobs(
        Parts(settings, fetcher, sender),
        open_store=opener,
        timing=timing,
        owner=owner,
        now=clock or Clock(),
    )
