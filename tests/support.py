"""Plain helpers shared by the test files (fixtures live in conftest.py beside this file).

Test files import it as ``from support import ...``: pytest's default ``prepend`` import mode puts
tests/ on sys.path because tests/conftest.py lives there.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import NamedTuple
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import responses

from poller import game
from poller.store import Store, open_store

E2E = Path(__file__).resolve().parent / "e2e" / "osrs"


def load_e2e(name: str) -> ModuleType:
    """A loopback fake from tests/e2e/osrs (not a package), under its plain module name, so it
    is the same module object the e2e tests get from ``import fake_hiscores``."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, E2E / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


fake_hiscores = load_e2e("fake_hiscores")
fake_discord = load_e2e("fake_discord")
hiscores_body = fake_hiscores.hiscores_body

def osrs_notify_command() -> str:
    """The installed ``osrs-notify`` the end-to-end tests run: $OSRS_NOTIFY_COMMAND (.ci/run
    points it at a wheel installed in a fresh virtualenv), else the one beside this Python."""
    beside = Path(sys.executable).with_name("osrs-notify")
    exe = os.environ.get("OSRS_NOTIFY_COMMAND") or str(beside)
    if not Path(exe).is_file():
        import pytest

        pytest.fail(f"osrs-notify is not installed at {exe}: pip install -e . first")
    return exe


# Fake endpoints that ``responses`` answers for in-process runs of ``poller.cli.main``.
HISCORES = "http://hiscores.test"
DISCORD = "https://discord.test/api/v10"
BOARD_URL = re.compile(re.escape(HISCORES) + r"/m=(?P<board>[a-z_]+)/index_lite\.json")
DISCORD_URL = re.compile(r"https://discord\.test/.*")

# A real-shaped Discord webhook token: it must never reach any output.
TOKEN = "SeCrEtToKeN_abcdefghijklmnopqrstuvwxyz0123456789-ABCDEFGHIJKLMNOPQRSTU"


class Run(NamedTuple):
    """One ``poller.cli.main`` call: its exit code and captured output (unpacks as a tuple)."""

    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


class Fakes:
    """Hiscores answering per player on the regular board (404 when unknown, and on every
    other board: regular accounts) and a Discord that accepts all."""

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.players: dict[str, dict[str, int]] = {}
        self.on_fetch: Callable[[str], None] | None = None
        self.posts: list[object] = []
        rsps.add_callback(responses.GET, BOARD_URL, callback=self._hiscores)
        rsps.add_callback(responses.POST, DISCORD_URL, callback=self._discord)

    def _hiscores(self, request):  # type: ignore[no-untyped-def]
        parts = urlsplit(request.url)
        player = parse_qs(parts.query)["player"][0]
        board = BOARD_URL.fullmatch(f"{parts.scheme}://{parts.netloc}{parts.path}")["board"]
        if board != "hiscore_oldschool":
            return 404, {"Content-Type": "text/plain"}, ""
        if self.on_fetch is not None:
            self.on_fetch(player)
        if player not in self.players:
            return 404, {"Content-Type": "text/plain"}, ""
        body = hiscores_body(self.players[player])
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    def _discord(self, request):  # type: ignore[no-untyped-def]
        self.posts.append(json.loads(request.body))
        return 200, {"Content-Type": "application/json"}, json.dumps({"id": "1"})


@contextmanager
def logging_restored() -> Iterator[None]:
    """Put back root logging (and urllib3's level) after ``main()`` rewired it."""
    root, urllib3 = logging.getLogger(), logging.getLogger("urllib3")
    handlers, level, urllib3_level = root.handlers[:], root.level, urllib3.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        urllib3.setLevel(urllib3_level)


def xp(level: int) -> int:
    return game.xp_for_level(level)


def players(*names: str) -> str:
    """``[[players]]`` tables for a TOML config."""
    return "".join(f'\n[[players]]\nname = "{n}"\n' for n in names)


def config(tmp_path: Path, body: str, name: str = "osrs-notify.toml") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def db_store(tmp_path: Path) -> Store:
    """The SQLite store at tmp_path/t.db (what ``database = "sqlite:///t.db"`` opens there)."""
    return open_store("sqlite:///" + str(tmp_path / "t.db"))


def sqlite_dump(db: Path) -> list[str]:
    """Every statement that recreates the SQLite database at ``db``: equal dumps, equal contents."""
    conn = sqlite3.connect(db)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def cap_database_growth(monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk without a small filesystem: every SQLite database opened from now on (until
    ``monkeypatch`` undoes it) fails to grow with SQLITE_FULL, "database or disk is full".
    ``max_page_count`` never goes below the file's size, so 1 means "not one page more"."""
    import poller.store

    real = poller.store.connect

    def capped(target, **kwargs):  # type: ignore[no-untyped-def]
        db = real(target, **kwargs)
        db.execute_sql("PRAGMA max_page_count = 1")
        return db

    monkeypatch.setattr(poller.store, "connect", capped)


_CLI_IN_A_FRESH_PROCESS = """
import json, sys
import responses
from support import Fakes, xp
from poller.cli import main

watched = sys.argv.pop(1)
with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
    fakes = Fakes(rsps)
    fakes.players["Alice"] = {"Attack": xp(70)}
    code = 0
    try:
        main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
print("RESULT " + json.dumps({"code": code, "loaded": watched in sys.modules}))
"""


def cli_in_a_fresh_process(
    tmp_path: Path, argv: list[str], *, watched: str, hook: str,
    env_extra: dict[str, str] | None = None, config_extra: str = "",
) -> dict[str, object]:
    """``poller.cli.main(argv)`` in a new interpreter (this one has imported everything by now)
    against the `responses` fakes, with a config of one player; whether ``watched`` got loaded.

    What "a cron run never imports X" tests need: {"code": exit code, "loaded": bool}."""
    import subprocess

    (tmp_path / "osrs-notify.toml").write_text(
        'database = "sqlite:///t.db"\n[poll]\nretries = 0\n'
        f'[webhooks.clan]\nurl = "{hook}"\n[[players]]\nname = "Alice"\n' + config_extra,
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OSRS_", "DATABASE_", "REDIS_", "DISCORD_"))}
    env.update(OSRS_API_ENDPOINT=HISCORES, DISCORD_API_BASE=DISCORD, OSRS_CACHE_TTL="0",
               OSRS_RATE_LIMIT="6000", **(env_extra or {}),
               PYTHONPATH=os.pathsep.join(filter(None, [str(Path(__file__).parent),
                                                         env.get("PYTHONPATH")])))
    out = subprocess.run(
        [sys.executable, "-c", _CLI_IN_A_FRESH_PROCESS, watched, "--config",
         str(tmp_path / "osrs-notify.toml"), *argv],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, out.stdout + out.stderr
    result: dict[str, object] = json.loads(lines[-1].removeprefix("RESULT "))
    return result


class FakeClock:
    """A monotonic clock (for the Discord sender, the HTTP client, the rate limiter) that only
    moves when someone sleeps: pass the instance (or ``.clock``) as the clock and ``.sleep``
    as the sleep. ``sleeps`` lists each sleep (to the microsecond), ``slept`` their sum."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds

    @property
    def slept(self) -> float:
        return sum(self.sleeps)


# -- PostgreSQL -------------------------------------------------------------------------------


def pg_admin(base: str):  # type: ignore[no-untyped-def]
    """An autocommit connection to the test server (for schema changes and checks)."""
    import psycopg2

    conn = psycopg2.connect(base)
    conn.autocommit = True
    return conn


@contextmanager
def pg_schema(base: str) -> Iterator[str]:
    """A fresh schema on the test server, as a database URL (chosen through ``?options=-c
    search_path=…``) so tests never see each other's rows; dropped afterwards."""
    import uuid

    schema = f"osrs_test_{uuid.uuid4().hex[:12]}"
    admin = pg_admin(base)
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE SCHEMA "{schema}"')
        try:
            sep = "&" if "?" in base else "?"
            yield f"{base}{sep}options={quote(f'-c search_path={schema}')}"
        finally:
            with admin.cursor() as cur:
                cur.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        admin.close()
