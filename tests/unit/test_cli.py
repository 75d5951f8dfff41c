"""The `osrs-notify` CLI in-process, through ``poller.cli.main`` (which maps errors to exit codes).

Hiscores and Discord are mocked with ``responses`` at fake endpoints set through the environment
(OSRS_API_ENDPOINT, DISCORD_API_BASE), with the rate limit lifted so the tests stay fast.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import click
import pytest
import responses

from poller import game
from poller.cli import cli, main
from poller.store import Store

from support import (
    BOARD_URL,
    DISCORD,
    TOKEN,
    FakeClock,
    Run,
    cap_database_growth,
    config,
    db_store,
    hiscores_body,
    players,
    sqlite_dump,
    xp,
)

HOOK_ID = "123456789012345678"
DISCORD_HOOK = f"https://discord.com/api/webhooks/{HOOK_ID}/{TOKEN}"
LOCAL_HOOK = "http://127.0.0.1:9/api/webhooks/123/faketoken"
FAR_FUTURE = datetime(2100, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def env(main_env: None) -> None:
    """A clean environment in tmp_path; root logging restored after main() rewired it."""


class Hiscores:
    """Scripted hiscores: per player a (status, JSON body) on the boards given (the regular one
    by default: a regular account); 404 otherwise, as the real boards answer."""

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.players: dict[str, tuple[int, object, tuple[str, ...]]] = {}
        self.requests: list[tuple[str, str]] = []
        rsps.add_callback(responses.GET, BOARD_URL, callback=self._reply)

    def set(self, name: str, skills: Mapping[str, int] | None = None,
            acts: Mapping[str, int] | None = None, *, status: int = 200,
            boards: tuple[str, ...] = ("hiscore_oldschool",)) -> None:
        self.players[name.lower()] = (status, hiscores_body(skills, acts), boards)

    def _reply(self, request):  # type: ignore[no-untyped-def]
        parts = urlsplit(request.url)
        board = BOARD_URL.fullmatch(f"{parts.scheme}://{parts.netloc}{parts.path}")["board"]
        player = parse_qs(parts.query)["player"][0]
        self.requests.append((board, player))
        status, body, boards = self.players.get(player.lower(), (404, "", ()))
        if board not in boards:
            status = 404
        if status != 200:
            return status, {"Content-Type": "text/plain"}, ""
        return 200, {"Content-Type": "application/json"}, json.dumps(body)


class Discord:
    """Every webhook POST answers ``status`` (200 by default); bodies are kept."""

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.status = 200
        self.posts: list[dict[str, object]] = []
        rsps.add_callback(responses.POST, re.compile(r"https?://.*/webhooks/\d+/.*"),
                          callback=self._reply)

    def _reply(self, request):  # type: ignore[no-untyped-def]
        self.posts.append(json.loads(request.body))
        if self.status == 200:
            return 200, {"Content-Type": "application/json"}, json.dumps({"id": "1"})
        return self.status, {"Content-Type": "application/json"}, json.dumps(
            {"message": "Unknown Webhook", "code": 10015} if self.status == 404 else {}
        )


@pytest.fixture
def discord(rsps: responses.RequestsMock) -> Discord:
    return Discord(rsps)


@pytest.fixture
def hiscores(rsps: responses.RequestsMock, discord: Discord) -> Hiscores:
    return Hiscores(rsps)


BASE = (
    'database = "sqlite:///t.db"\n'
    "[poll]\nretries = 0\nconcurrency = 2\n"
    f'[webhooks.clan]\nurl = "{LOCAL_HOOK}"\n'
)


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


# -- help -----------------------------------------------------------------------------------------


def _command_paths(group: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(group, click.Group):
        for name, sub in group.commands.items():
            yield from _command_paths(sub, (*path, name))


@pytest.mark.parametrize("path", list(_command_paths(cli)), ids=lambda p: " ".join(p) or "top")
def test_every_help_has_an_example(run: Callable[..., Run], path: tuple[str, ...]) -> None:
    result = run(*path, "--help")
    assert result.code == 0
    assert "Example" in result.out
    assert "osrs-notify" in result.out.split("Example", 1)[1]


def test_the_core_commands_exist() -> None:
    paths = {" ".join(p) for p in _command_paths(cli)}
    assert {"poll", "lookup", "players list", "players rename", "check"} <= paths


# -- poll -----------------------------------------------------------------------------------------


def test_poll_all_good_exits_0_and_stores_a_baseline(
    run: Callable[..., Run], tmp_path: Path, hiscores: Hiscores
) -> None:
    config(tmp_path, BASE + players("Alice", "Bob"))
    hiscores.set("Alice", {"Attack": xp(70)})
    hiscores.set("Bob", {"Attack": xp(60)})

    result = run("poll")

    assert result.code == 0, result
    assert "Polled 2 player(s)" in result.out and "2 baseline" in result.out
    with db_store(tmp_path) as store:
        assert store.counts()["snapshot"] == 2
        assert store.counts()["event"] == 0


def test_poll_queues_level_ups_and_says_so(
    run: Callable[..., Run], tmp_path: Path, hiscores: Hiscores
) -> None:
    config(tmp_path, BASE + players("Alice"))
    hiscores.set("Alice", {"Attack": xp(70)})
    assert run("poll").code == 0
    hiscores.set("Alice", {"Attack": xp(71)})

    result = run("poll")

    assert result.code == 0
    assert "Alice: Attack 70 → 71" in result.out
    assert "2 event(s) stored" in result.out and "queued" in result.out  # levelup + combat
    assert "2 event(s) delivered in 1 message(s)" in result.out
    with db_store(tmp_path) as store:
        assert store.pending_deliveries(FAR_FUTURE) == []


def test_poll_keeps_messages_pending_when_discord_fails(
    run: Callable[..., Run], tmp_path: Path, hiscores: Hiscores, discord: Discord
) -> None:
    config(tmp_path, BASE + players("Alice"))
    hiscores.set("Alice", {"Attack": xp(70)})
    assert run("poll").code == 0
    hiscores.set("Alice", {"Attack": xp(71)})
    discord.status = 503

    result = run("poll")

    assert result.code == 1, result
    assert "kept for retry" in result.err
    with db_store(tmp_path) as store:
        assert {d.webhook for d in store.pending_deliveries(FAR_FUTURE)} == {"clan"}
        assert [a.outcome for a in store.attempts()] == ["retry"]

    discord.status = 200
    early = run("deliver")  # backed off: not due yet, nothing is sent
    assert early.code == 0 and "Nothing pending" not in early.text
    # ... and it says so: how many, until when, Discord's error, what sends them now.
    assert "Webhook 'clan': 2 message(s) wait out a retry back-off until " in early.out
    assert "(last error: 503" in early.out
    assert "`osrs-notify deliver --now` sends them now." in early.out
    assert len(discord.posts) == 1

    now = run("deliver", "--now")  # the owner knows Discord is back
    assert now.code == 0, now
    assert "2 event(s) delivered in 1 message(s)" in now.out
    with db_store(tmp_path) as store:
        assert store.pending_deliveries(FAR_FUTURE) == []
        assert [a.outcome for a in store.attempts()] == ["sent", "retry"]


def test_poll_exits_1_when_a_player_gets_503_and_saves_the_rest(
    run: Callable[..., Run], tmp_path: Path, hiscores: Hiscores
) -> None:
    config(tmp_path, BASE + players("Alice", "Bob"))
    hiscores.set("Alice", {"Attack": xp(70)})
    hiscores.set("Bob", status=503)

    result = run("poll")

    assert result.code == 1, result
    assert "1 baseline" in result.out and "1 unavailable" in result.out
    assert "Bob" in result.err and "503" in result.err
    assert "Traceback" not in result.text
    assert sum(1 for _, p in hiscores.requests if p == "Bob") == 1  # retries = 0
    with db_store(tmp_path) as store:
        alice, bob = store.get_player("Alice"), store.get_player("Bob")
        assert alice is not None and alice.last_snapshot is not None
        assert bob is not None and bob.last_snapshot is None and "503" in (bob.last_error or "")


def test_poll_not_found_is_not_a_failure(
    run: Callable[..., Run], tmp_path: Path, hiscores: Hiscores
) -> None:
    config(tmp_path, BASE + players("Alice", "Nobody"))
    hiscores.set("Alice")
    result = run("poll")
    assert result.code == 0, result
    assert "1 not found" in result.out
    assert "Nobody: never found on the hiscores in 1 poll(s): check the spelling" in result.out


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (BASE.replace("[poll]\n", "[poll]\nconcurency = 3\n") + players("Alice"),
         "poll.concurency"),
        (BASE.replace("retries = 0", "retries = 99") + players("Alice"), "poll.retries"),
        (BASE + players("Alice!"), "players[0].name"),
        (BASE + '\n[[players]]\nname = "Alice"\nmode = "iron"\n', "players[0].mode"),
        (BASE + players("Alice") + 'timezone = "UTC"\n', "players[0].timezone"),
        ('database = "mysql://x"\n' + players("Alice"), "database"),
        (BASE.replace(LOCAL_HOOK, "https://example.com/hook") + players("Alice"),
         "webhooks.clan.url"),
        ("[poll\n", None),  # not TOML at all
    ],
    ids=["unknown-key", "out-of-range", "bad-name", "bad-mode", "key-in-wrong-table",
         "bad-database", "bad-webhook", "bad-toml"],
)
def test_poll_with_a_bad_config_exits_2_with_one_line(
    run: Callable[..., Run], tmp_path: Path, hiscores: Hiscores, body: str, key: str | None
) -> None:
    config(tmp_path, body)
    result = run("poll")
    assert result.code == 2, result
    assert result.out == ""
    line = one_line(result.err)
    assert line.startswith("error: ")
    assert "osrs-notify.toml" in line
    if key is not None:
        assert f": {key}" in line
    assert hiscores.requests == []  # nothing done
    assert not (tmp_path / "t.db").exists()


@pytest.mark.parametrize("argv", [("poll",), ("--config", "nowhere/x.toml", "poll"),
                                  ("players", "list"), ("check", "--offline")])
def test_a_missing_config_file_exits_2_with_one_line(
    run: Callable[..., Run], argv: tuple[str, ...]
) -> None:
    result = run(*argv)
    assert result.code == 2, result
    line = one_line(result.err)
    assert line.startswith("error: ") and "not found" in line
    assert ("x.toml" if "--config" in argv else "osrs-notify.toml") in line


def test_config_from_the_environment_variable(
    run: Callable[..., Run], tmp_path: Path, hiscores: Hiscores, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "etc").mkdir()
    path = config(tmp_path / "etc", BASE + players("Alice"), "custom.toml")
    monkeypatch.setenv("OSRS_NOTIFY_CONFIG", str(path))
    hiscores.set("Alice")
    assert run("poll").code == 0
    assert (tmp_path / "etc" / "t.db").exists()  # relative to the config file, not the cwd


def test_poll_dry_run_prints_what_would_be_sent_and_changes_nothing(
    run: Callable[..., Run], tmp_path: Path, hiscores: Hiscores
) -> None:
    config(tmp_path, BASE + players("Alice"))
    hiscores.set("Alice", {"Attack": xp(70)})
    assert run("poll").code == 0
    config(tmp_path, BASE + players("Alice", "Newbie"))
    hiscores.set("Alice", {"Attack": xp(71)}, {"Vorkath": 50})
    hiscores.set("Newbie", {"Attack": xp(90)})
    before = sqlite_dump(tmp_path / "t.db")

    result = run("poll", "--dry-run")

    assert result.code == 0, result
    assert "Would poll 2 player(s)" in result.out
    assert "Would send to webhook 'clan'" in result.out
    assert "Alice — Attack 70 → 71" in result.out
    assert "Alice — Vorkath: now on the hiscores at 50 kills" in result.out
    assert "Newbie" not in result.out.split("Would send", 1)[1]  # a baseline sends nothing
    assert sqlite_dump(tmp_path / "t.db") == before
    with db_store(tmp_path) as store:
        assert store.get_player("Newbie") is None

    # The real poll then queues exactly what the dry run showed.
    real = run("poll")
    assert "Alice: Attack 70 → 71" in real.out


def test_poll_dry_run_with_nothing_to_send(
    run: Callable[..., Run], tmp_path: Path, hiscores: Hiscores
) -> None:
    config(tmp_path, BASE + players("Alice"))
    hiscores.set("Alice")
    result = run("poll", "--dry-run")
    assert result.code == 0
    assert "Nothing would be sent." in result.out
    with db_store(tmp_path) as store:
        assert store.all_players() == []


def test_poll_is_skipped_while_another_holds_the_lock(
    run: Callable[..., Run], tmp_path: Path, hiscores: Hiscores
) -> None:
    config(tmp_path, BASE + players("Alice"))
    hiscores.set("Alice")
    with db_store(tmp_path) as store, store.lock("poll"):
        result = run("poll")
        assert result.code == 0, result
        assert "skipped" in result.out
        assert hiscores.requests == []
        assert store.counts()["snapshot"] == 0
    assert run("poll").code == 0  # released: the next one runs
    # mode = "auto": the first poll also asks the ironman board (404: a regular account).
    assert hiscores.requests == [("hiscore_oldschool", "Alice"),
                                 ("hiscore_oldschool_ironman", "Alice")]


def test_poll_with_no_players(run: Callable[..., Run], tmp_path: Path) -> None:
    config(tmp_path, BASE)
    result = run("poll")
    assert result.code == 0
    assert "No players configured" in result.out


# -- lookup ---------------------------------------------------------------------------------------


LYNX = {s: 200_000_000 for s in game.SKILLS}


def test_lookup_prints_a_table(run: Callable[..., Run], hiscores: Hiscores) -> None:
    hiscores.set("Lynx Titan", LYNX, {"Vorkath": 1_234, "Clue Scrolls (all)": 77})
    result = run("lookup", "Lynx Titan")
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert lines[0].startswith("Lynx Titan (regular, detected) — combat 126, total level 2,376")
    attack = next(line for line in lines if line.startswith("Attack "))
    assert attack.split() == ["Attack", "99", "200,000,000", "1,001"]
    assert any(line.split()[:3] == ["Vorkath", "boss", "1,234"] for line in lines)
    assert "Clue Scrolls (all)" in result.out
    assert "Zulrah" not in result.out  # unranked: not shown, not zero


def test_lookup_json(run: Callable[..., Run], hiscores: Hiscores) -> None:
    hiscores.set("Lynx Titan", {"Attack": xp(99), "Hitpoints": xp(10)}, {"Vorkath": 50})
    result = run("lookup", "Lynx Titan", "--json")
    assert result.code == 0, result
    data = json.loads(result.out)
    assert {"combat_level", "total_level", "skills", "activities"} <= set(data)
    assert data["skills"]["Attack"] == {"level": 99, "xp": xp(99), "rank": 1001}
    assert data["skills"]["Magic"]["level"] is None  # unranked: unknown, not 1
    assert set(data["skills"]) == set(game.SKILLS)
    assert data["activities"] == {"Vorkath": {"score": 50, "rank": 100 + list(game.ACTIVITIES)
                                              .index("Vorkath"), "category": "boss"}}
    assert data["combat_level"] == game.combat_level({"Attack": 99, "Hitpoints": 10})
    assert isinstance(data["total_level"], int)


def test_lookup_mode_picks_the_board(run: Callable[..., Run], hiscores: Hiscores) -> None:
    hiscores.set("Iron Al", {"Attack": xp(50)}, boards=("hiscore_oldschool_ironman",))
    result = run("lookup", "Iron Al", "--mode", "ironman", "--json")
    assert result.code == 0
    assert hiscores.requests == [("hiscore_oldschool_ironman", "Iron Al")]
    assert json.loads(result.out)["mode"] == "ironman"


def test_lookup_takes_the_mode_from_the_config(
    run: Callable[..., Run], tmp_path: Path, hiscores: Hiscores
) -> None:
    config(tmp_path, BASE + '\n[[players]]\nname = "Iron Al"\nmode = "hardcore"\n')
    hiscores.set("iron_al", {"Attack": xp(50)}, boards=("hiscore_oldschool_hardcore_ironman",))
    assert run("lookup", "iron_al").code == 0
    assert hiscores.requests == [("hiscore_oldschool_hardcore_ironman", "iron_al")]


def test_lookup_not_found_exits_1_with_one_line(
    run: Callable[..., Run], hiscores: Hiscores
) -> None:
    result = run("lookup", "Nobody")
    assert result.code == 1, result
    assert result.out == ""
    assert one_line(result.err) == "error: Nobody is not on the regular and ironman hiscores"


def test_lookup_outage_exits_1_with_one_line(
    run: Callable[..., Run], tmp_path: Path, hiscores: Hiscores
) -> None:
    config(tmp_path, BASE)  # retries = 0: the default backs off for seconds
    hiscores.set("Alice", status=500)
    result = run("lookup", "Alice")
    assert result.code == 1, result
    assert one_line(result.err).startswith("error: hiscores:")
    assert "500" in result.err


@pytest.mark.parametrize("name", ["Way Too Long Name", "bad!name", " lead", ""])
def test_lookup_invalid_name_exits_2(
    run: Callable[..., Run], hiscores: Hiscores, name: str
) -> None:
    result = run("lookup", name)
    assert result.code == 2, result
    assert one_line(result.err).startswith("error: player name")
    assert hiscores.requests == []


def test_lookup_needs_no_config_and_leaves_no_files(
    run: Callable[..., Run], tmp_path: Path, hiscores: Hiscores, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OSRS_CACHE_TTL")  # the default cache is on
    assert list(tmp_path.iterdir()) == []
    hiscores.set("Alice", {"Attack": xp(70)})
    result = run("lookup", "Alice")
    assert result.code == 0, result
    assert "Alice (regular, detected)" in result.out
    # No config, no database: nothing may be written into whatever directory cron ran us in.
    assert list(tmp_path.iterdir()) == []


def test_lookup_with_an_invalid_config_present_is_a_config_error(
    run: Callable[..., Run], tmp_path: Path, hiscores: Hiscores
) -> None:
    config(tmp_path, "bogus = 1\n")
    result = run("lookup", "Alice")
    assert result.code == 2
    assert "bogus" in one_line(result.err)


# -- players --------------------------------------------------------------------------------------


def test_players_list_shows_every_status(
    run: Callable[..., Run], tmp_path: Path, hiscores: Hiscores
) -> None:
    config(tmp_path, BASE + players("Alice", "Bob", "Dan"))
    hiscores.set("Alice")
    hiscores.set("Dan")
    assert run("poll").code == 0  # Bob: 404
    config(tmp_path, BASE + players("Alice", "Bob", "Carol"))  # Dan removed, Carol new

    table = run("players", "list")
    assert table.code == 0, table
    rows = {line.split()[0]: line for line in table.out.splitlines()[2:]}
    assert set(rows) == {"Alice", "Bob", "Carol", "Dan"}
    assert "ok" in rows["Alice"] and "ago" in rows["Alice"]
    assert "never found in 1 poll(s): check the name" in rows["Bob"]
    assert "never polled" in rows["Carol"] and "never" in rows["Carol"]
    assert "removed from config" in rows["Dan"]

    as_json = run("players", "list", "--json")
    assert as_json.code == 0
    listed = json.loads(as_json.out)["players"]
    data = {r["name"]: r for r in listed}
    assert [r["name"] for r in listed] == ["Alice", "Bob", "Carol", "Dan"]
    assert data["Alice"]["status"] == "ok" and data["Alice"]["last_polled"]
    assert data["Carol"]["status"] == "never polled" and data["Carol"]["last_polled"] is None
    assert data["Dan"]["status"] == "removed from config"
    assert data["Bob"]["mode"] == "auto" and "never found" in (data["Bob"]["last_error"] or "")


def test_players_list_before_any_poll(run: Callable[..., Run], tmp_path: Path) -> None:
    config(tmp_path, BASE + players("Alice"))
    result = run("players", "list", "--json")
    assert result.code == 0
    listed = json.loads(result.out)["players"]
    assert [(r["name"], r["status"]) for r in listed] == [("Alice", "never polled")]


def test_players_rename_carries_history(
    run: Callable[..., Run], tmp_path: Path, hiscores: Hiscores
) -> None:
    config(tmp_path, BASE + players("Alice"))
    hiscores.set("Alice", {"Attack": xp(70)})
    assert run("poll").code == 0

    renamed = run("players", "rename", "Alice", "Alicia")
    assert renamed.code == 0, renamed
    assert "Renamed Alice → Alicia" in renamed.out
    assert "Alicia" in renamed.out.splitlines()[-1]  # tells the user to edit the config

    listing = {r["name"]: r for r in json.loads(run("players", "list", "--json").out)["players"]}
    assert listing["Alice"]["status"] == "renamed to Alicia"
    assert listing["Alicia"]["last_polled"] is not None  # the history moved with the name
    # Still polled (the config's "Alice" follows the rename): not "removed from config".
    assert listing["Alicia"]["status"] == "ok"

    config(tmp_path, BASE + players("Alicia"))
    hiscores.set("Alicia", {"Attack": xp(71)})
    after = run("poll")
    # Judged against Alice's history: a level-up, not a fresh silent baseline.
    assert "1 changed" in after.out and "Alicia: Attack 70 → 71" in after.out, after
    listing = {r["name"]: r for r in json.loads(run("players", "list", "--json").out)["players"]}
    assert listing["Alicia"]["status"] == "ok"
    with db_store(tmp_path) as store:
        assert len(store.player_history("Alicia")) == 2


@pytest.mark.parametrize(
    ("old", "new"),
    [("Alice", "bad!name"), ("Alice", "Way Too Long Name"), ("", "Alicia"), ("Alice", "")],
)
def test_players_rename_invalid_names_exit_2(
    run: Callable[..., Run], tmp_path: Path, old: str, new: str
) -> None:
    config(tmp_path, BASE + players("Alice"))
    result = run("players", "rename", old, new)
    assert result.code == 2, result
    assert one_line(result.err).startswith("error: ")


def test_players_rename_of_an_unknown_player_exits_2(
    run: Callable[..., Run], tmp_path: Path
) -> None:
    config(tmp_path, BASE + players("Alice"))
    result = run("players", "rename", "Ghost", "Alicia")
    assert result.code == 2
    assert "Ghost" in one_line(result.err)


# -- check ----------------------------------------------------------------------------------------


def test_check_offline_lists_unset_variables_and_exits_1(
    run: Callable[..., Run], tmp_path: Path, rsps: responses.RequestsMock
) -> None:
    body = BASE.replace(LOCAL_HOOK, "${CLAN_URL}") + '[webhooks.market]\nurl = "${MARKET_URL}"\n'
    config(tmp_path, body + players("Alice"))
    result = run("check", "--offline")
    assert result.code == 1, result
    assert "CLAN_URL" in result.err and "MARKET_URL" in result.err
    assert "All good" not in result.out
    assert len(rsps.calls) == 0  # offline means offline


def test_check_offline_all_good(run: Callable[..., Run], tmp_path: Path) -> None:
    config(tmp_path, BASE + players("Alice"))
    result = run("check", "--offline")
    assert result.code == 0, result
    assert "All good." in result.out


def test_check_lists_every_config_problem_and_exits_2(
    run: Callable[..., Run], tmp_path: Path
) -> None:
    body = BASE.replace("[poll]\n", "[poll]\nconcurency = 3\n") + players("Alice!")
    config(tmp_path, "bogus = 1\n" + body)
    result = run("check", "--offline")
    assert result.code == 2, result
    for key in ("poll.concurency", "players[0].name", ": bogus"):
        assert key in result.err
    assert "Traceback" not in result.err


def _discord_config(tmp_path: Path) -> None:
    body = BASE.replace(LOCAL_HOOK, DISCORD_HOOK)
    config(tmp_path, body + players("Alice"))


@pytest.mark.parametrize("flags", [(), ("--debug",), ("-v",)])
def test_check_reports_a_dead_webhook_with_its_token_masked(
    run: Callable[..., Run], tmp_path: Path, hiscores: Hiscores, rsps: responses.RequestsMock,
    flags: tuple[str, ...],
) -> None:
    _discord_config(tmp_path)
    hiscores.set("Alice")
    rsps.add(responses.GET, f"{DISCORD}/webhooks/{HOOK_ID}/{TOKEN}", status=404,
             json={"message": "Unknown Webhook", "code": 10015})

    result = run(*flags, "check")

    assert result.code == 1, result
    assert "webhook 'clan' (…/webhooks/123…/****)" in result.err
    assert "404" in result.err
    assert TOKEN not in result.text
    assert any(TOKEN in c.request.url for c in rsps.calls)  # it did ask Discord (at our base)


class _Discord404(BaseHTTPRequestHandler):
    paths: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.paths.append(self.path)
        body = b'{"message": "Unknown Webhook", "code": 10015}'
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_check_debug_logs_through_a_real_socket_never_show_the_token(
    run: Callable[..., Run], tmp_path: Path, hiscores: Hiscores, rsps: responses.RequestsMock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """urllib3 logs every request line (token included) at DEBUG: the masking filter must catch
    it. `responses` never reaches urllib3, so this one talks to a real local server."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Discord404)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/api/v10"
        monkeypatch.setenv("DISCORD_API_BASE", base)
        rsps.add_passthru(base)
        _discord_config(tmp_path)
        hiscores.set("Alice")
        result = run("--debug", "check")
    finally:
        server.shutdown()
        server.server_close()
    assert result.code == 1, result
    assert _Discord404.paths == [f"/api/v10/webhooks/{HOOK_ID}/{TOKEN}"]
    assert '"GET /api/v10/webhooks/' in result.err  # urllib3's debug line did get logged...
    assert TOKEN not in result.text  # ...masked
    assert "webhook 'clan' (…/webhooks/123…/****)" in result.err


def test_check_all_good_online(
    run: Callable[..., Run], tmp_path: Path, hiscores: Hiscores, rsps: responses.RequestsMock
) -> None:
    _discord_config(tmp_path)
    hiscores.set("Alice")
    rsps.add(responses.GET, f"{DISCORD}/webhooks/{HOOK_ID}/{TOKEN}", status=200,
             json={"id": HOOK_ID, "name": "clan"})
    result = run("check")
    assert result.code == 0, result
    assert "All good." in result.out
    assert hiscores.requests == [("hiscore_oldschool", "Alice")]
    assert TOKEN not in result.text


def _fake_clock(monkeypatch: pytest.MonkeyPatch) -> tuple[FakeClock, list[float]]:
    """Every HttpClient built from now on paces itself on a FakeClock; returns the clock and
    the (fake) time of each admission by the rate limiter."""
    from poller.http import HttpClient
    from poller.ratelimit import RateLimiter

    fake = FakeClock()
    monkeypatch.setitem(HttpClient.__init__.__kwdefaults__, "clock", fake.clock)
    monkeypatch.setitem(HttpClient.__init__.__kwdefaults__, "sleep", fake.sleep)
    admitted: list[float] = []
    acquire = RateLimiter.acquire

    def recorded(self: RateLimiter) -> float:
        at = acquire(self)
        admitted.append(at)
        return at

    monkeypatch.setattr(RateLimiter, "acquire", recorded)
    return fake, admitted


ROSTER = ("Alice", "Bob", "Typo Name", "Carol", "Dave")


def _roster_config(tmp_path: Path, rsps: responses.RequestsMock) -> None:
    config(tmp_path, BASE.replace(LOCAL_HOOK, DISCORD_HOOK) + players(*ROSTER))
    rsps.add(responses.GET, f"{DISCORD}/webhooks/{HOOK_ID}/{TOKEN}", status=200, json={})


def test_check_looks_up_every_player_at_the_configured_rate_and_names_the_unknown(
    run: Callable[..., Run], tmp_path: Path, hiscores: Hiscores, rsps: responses.RequestsMock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _roster_config(tmp_path, rsps)
    for name in ROSTER:
        if name != "Typo Name":
            hiscores.set(name)
    monkeypatch.setenv("OSRS_RATE_LIMIT", "30")  # one request every 2 s
    fake, admitted = _fake_clock(monkeypatch)

    result = run("check")

    assert result.code == 1, result
    assert result.err.splitlines() == [
        "1 problem(s):",
        "  - hiscores: 'Typo Name' is not on the regular hiscores: check the spelling and the mode",
    ]
    assert sorted(hiscores.requests) == sorted(("hiscore_oldschool", n) for n in ROSTER)
    assert len(admitted) == len(ROSTER)  # one request per player, each through the limiter
    gaps = [b - a for a, b in itertools.pairwise(admitted)]
    assert all(gap >= 2.0 - 1e-9 for gap in gaps), gaps  # two workers, still one per 2 s
    assert fake.slept == pytest.approx(2.0 * (len(ROSTER) - 1))


def test_check_online_says_once_per_player_what_the_hiscores_and_earlier_polls_know(
    run: Callable[..., Run], tmp_path: Path, hiscores: Hiscores, rsps: responses.RequestsMock
) -> None:
    _roster_config(tmp_path, rsps)
    for name in ROSTER:
        if name != "Typo Name":
            hiscores.set(name)
    for _ in range(2):
        assert run("poll").code == 0
    del hiscores.players["alice"]  # known before, gone now: renamed or banned

    result = run("check")

    assert result.code == 1, result
    assert result.err.splitlines() == [
        "2 problem(s):",
        "  - hiscores: 'Alice' is not on the regular hiscores now (renamed or banned? "
        "`osrs-notify players rename OLD NEW` carries a renamed player's history over)",
        "  - hiscores: 'Typo Name' is not on the regular hiscores, nor was in 2 poll(s): "
        "check the spelling and the mode",
    ]


def test_check_stops_at_a_hiscores_outage_with_one_line(
    run: Callable[..., Run], tmp_path: Path, hiscores: Hiscores, rsps: responses.RequestsMock
) -> None:
    _roster_config(tmp_path, rsps)
    for name in ROSTER:
        hiscores.set(name, status=503)

    result = run("check")

    assert result.code == 1, result
    lines = result.err.splitlines()
    assert len(lines) == 2, result.err
    assert lines[1].startswith("  - hiscores (http://hiscores.test): ")
    assert lines[1].endswith(f"of {len(ROSTER)} player(s) could not be looked up")
    assert len(hiscores.requests) <= 2  # the lookups already in flight (concurrency 2), no more


def test_check_shows_its_progress_on_a_terminal_and_wipes_it(
    run: Callable[..., Run], tmp_path: Path, hiscores: Hiscores, rsps: responses.RequestsMock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    _roster_config(tmp_path, rsps)
    for name in ROSTER:
        hiscores.set(name)
    monkeypatch.setenv("OSRS_RATE_LIMIT", "30")
    _fake_clock(monkeypatch)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)

    result = run("check")

    assert result.code == 0, result
    assert result.err.startswith(
        "\rhiscores: looked up 0 of 5 players, about 10 s to go at 30/min\x1b[K"
        "\rhiscores: looked up 1 of 5 players, about 8 s to go at 30/min\x1b[K"
    )
    assert result.err.endswith("\r\x1b[K")  # nothing left on the line for what follows
    assert "All good." in result.out


# -- unexpected errors ----------------------------------------------------------------------------


def _explode(*args: object, **kwargs: object) -> None:
    raise RuntimeError(f"deep bug while posting to {DISCORD_HOOK}")


def test_an_unexpected_error_is_one_line_mentioning_debug(
    run: Callable[..., Run], tmp_path: Path, hiscores: Hiscores, monkeypatch: pytest.MonkeyPatch
) -> None:
    config(tmp_path, BASE + players("Alice"))
    hiscores.set("Alice")
    monkeypatch.setattr(Store, "record_poll", _explode)
    result = run("poll")
    assert result.code == 1, result
    line = one_line(result.err)
    assert line.startswith("error: unexpected RuntimeError: deep bug")
    assert "--debug" in line
    assert TOKEN not in result.text


def test_debug_shows_the_traceback(
    tmp_path: Path, hiscores: Hiscores, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config(tmp_path, BASE + players("Alice"))
    hiscores.set("Alice")
    monkeypatch.setattr(Store, "record_poll", _explode)
    # With --debug the error is not swallowed: the interpreter prints its traceback.
    with pytest.raises(RuntimeError, match="deep bug") as info:
        main(["--debug", "poll"])
    assert any(entry.name == "_explode" for entry in info.traceback)
    assert "unexpected" not in capsys.readouterr().err


def test_check_offline_reports_a_watchlist_without_contact(
    run: Callable[..., Run], tmp_path: Path
) -> None:
    config(tmp_path, BASE + players("Alice") + '\n[[watch]]\nitem = 4151\nabove = 3_000_000\n'
           'webhooks = []\n')
    result = run("check", "--offline")
    assert result.code == 1, result
    assert "contact" in result.err


def test_check_offline_is_happy_with_a_contact(run: Callable[..., Run], tmp_path: Path) -> None:
    config(tmp_path, 'contact = "ops@example.org"\n' + BASE + players("Alice")
           + '\n[[watch]]\nitem = 4151\nabove = 3_000_000\nwebhooks = []\n')
    result = run("check", "--offline")
    assert result.code == 0, result


def test_deliver_leaves_alone_what_a_run_process_is_sending(
    run: Callable[..., Run], tmp_path: Path, hiscores: Hiscores, discord: Discord
) -> None:
    """Cron `deliver` and a `run` process on one database: never the same message twice."""
    from datetime import timedelta

    config(tmp_path, BASE + players("Alice"))
    hiscores.set("Alice", {"Attack": xp(70)})
    assert run("poll").code == 0
    hiscores.set("Alice", {"Attack": xp(71)})
    discord.status = 503  # the poll cannot send: its messages stay pending
    assert run("poll").code == 1
    discord.status = 200
    posts_before = len(discord.posts)

    with db_store(tmp_path) as store:
        now = datetime.now(timezone.utc)
        held = store.claim_deliveries("run:other-host:1", now, timedelta(minutes=5), 100,
                                      due_by=FAR_FUTURE)
        assert len(held) == 2

    busy = run("deliver", "--now")
    assert busy.code == 0, busy
    assert len(discord.posts) == posts_before  # the run process's messages were not touched

    with db_store(tmp_path) as store:
        store.release_deliveries("run:other-host:1")  # as when its lease runs out
    freed = run("deliver", "--now")
    assert freed.code == 0, freed
    assert len(discord.posts) == posts_before + 1
    with db_store(tmp_path) as store:
        assert store.pending_deliveries(FAR_FUTURE) == []


def test_check_names_a_player_never_found_by_earlier_polls(
    run: Callable[..., Run], tmp_path: Path, hiscores: Hiscores
) -> None:
    config(tmp_path, BASE + players("Alice", "Typo Name"))
    hiscores.set("Alice")
    for _ in range(2):
        assert run("poll").code == 0
    result = run("check", "--offline")
    assert result.code == 1, result
    assert "'Typo Name' was never found on the regular hiscores in 2 poll(s)" in result.err
    assert "Alice" not in result.err


# -- the HTTP cache never answers a poll with what the last poll already saw ----------------------


def test_a_poll_right_after_a_poll_sees_the_hiscores_now_despite_the_cache(
    run: Callable[..., Run], tmp_path: Path, hiscores: Hiscores, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OSRS_CACHE_TTL", "300")
    config(tmp_path, BASE + players("Alice"))
    hiscores.set("Alice", {"Attack": xp(70)})
    assert run("poll").code == 0
    hiscores.set("Alice", {"Attack": xp(71)})  # a level-up a minute later

    dry = run("poll", "--dry-run")
    assert "Alice — Attack 70 → 71" in dry.out, dry
    assert "from the HTTP cache" not in dry.out
    # A second look at the same moment may come from the cache, and says so.
    again = run("poll", "--dry-run")
    assert "Alice — Attack 70 → 71" in again.out
    assert "1 answer(s) came from the HTTP cache" in again.out

    polled = run("poll")
    assert polled.code == 0 and "1 changed" in polled.out and "Attack 70 → 71" in polled.out
    # The first poll and the first dry run went out; the second dry run and the last poll were
    # answered by the dry run's response, newer than the last poll (it is what they showed).
    # The first poll also settled the account type (the ironman board: 404, a regular account).
    assert hiscores.requests == [("hiscore_oldschool", "Alice"),
                                 ("hiscore_oldschool_ironman", "Alice"),
                                 ("hiscore_oldschool", "Alice")]


def test_a_config_nested_600_deep_is_one_line_naming_the_file_and_exit_2(
    run: Callable[..., Run], tmp_path: Path
) -> None:
    (tmp_path / "osrs-notify.toml").write_text("x = " + "[" * 600 + "]" * 600 + "\n")
    result = run("poll")
    assert result.code == 2
    line = one_line(result.err)
    assert "osrs-notify.toml" in line and "nested too deeply" in line


# -- the database: a full disk, a file that is not ours -------------------------------------------


def test_a_full_disk_is_named_in_one_line_exit_1_and_nothing_is_half_saved(
    run: Callable[..., Run], tmp_path: Path, hiscores: Hiscores, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [f"Player {i}" for i in range(40)]
    config(tmp_path, BASE + players(*names))
    for name in names:
        hiscores.set(name, {"Attack": xp(50)})
    db_store(tmp_path).close()  # the schema fits; forty players and their snapshots do not
    with monkeypatch.context() as full:
        cap_database_growth(full)
        result = run("poll")
    assert result.code == 1, result
    line = one_line(result.err)
    db = tmp_path / "t.db"
    assert line == (
        f"error: database or disk is full: could not write to sqlite:///{db} (the failed "
        f"write was undone); free space on the disk holding {tmp_path} and run again"
    )
    # Room again: the next poll stores everyone (their first snapshot, a silent baseline).
    assert run("poll").code == 0
    with db_store(tmp_path) as store:
        assert [p.last_snapshot is not None for p in store.active_players()] == [True] * 40


def test_an_empty_database_file_is_an_error_not_a_fresh_start(
    run: Callable[..., Run], tmp_path: Path, hiscores: Hiscores
) -> None:
    config(tmp_path, BASE + players("Alice"))
    hiscores.set("Alice")
    db = tmp_path / "t.db"
    db.touch()  # a failed restore, say: taking it for new would baseline everyone again

    result = run("poll")

    assert result.code == 2, result
    assert one_line(result.err) == (
        f"error: database file {db} is empty (0 bytes), not an osrs-notify database: remove it "
        "to start a new database there, or point the database setting at the right file"
    )
    assert db.stat().st_size == 0 and hiscores.requests == []
    check = run("check", "--offline")
    assert check.code == 1 and f"  - database: database file {db} is empty" in check.err


def _swap_key_bytes(db: Path, old: bytes, new: bytes) -> None:
    """Damage the kind SQLite opens and reads without complaint: a player's key changed in
    the table, not in its index (equal length, so every page still parses)."""
    data = db.read_bytes()
    at = data.index(old)
    db.write_bytes(data[:at] + new + data[at + len(new):])


def test_check_runs_sqlite_integrity_check(
    run: Callable[..., Run], tmp_path: Path, hiscores: Hiscores
) -> None:
    config(tmp_path, BASE + players("Alice", "Bob"))
    hiscores.set("Alice")
    hiscores.set("Bob")
    assert run("poll").code == 0
    db = tmp_path / "t.db"
    _swap_key_bytes(db, b"alice", b"alicf")
    assert run("players", "list").code == 0  # nothing else notices

    result = run("check", "--offline")

    assert result.code == 1, result
    assert result.err.splitlines() == [
        "1 problem(s):",
        f"  - database: sqlite:///{db} fails SQLite's integrity check (row 1 missing from index "
        "sqlite_autoindex_player_1): restore it from a backup, or move it aside to start a new "
        "database",
    ]


def test_check_reports_a_page_the_integrity_check_cannot_even_read(
    run: Callable[..., Run], tmp_path: Path
) -> None:
    config(tmp_path, BASE + players("Alice"))
    with db_store(tmp_path) as store:
        store.sync_players([(f"Player {i}", "regular") for i in range(300)], FAR_FUTURE)
    db = tmp_path / "t.db"
    with db.open("r+b") as f:
        f.seek(-4096, 2)
        f.write(bytes(4096))  # the last page zeroed: a b-tree page that is no longer one

    result = run("check", "--offline")

    assert result.code == 1, result
    assert result.err.splitlines()[1:] == [
        f"  - database: sqlite:///{db} fails SQLite's integrity check (database disk image is "
        "malformed): restore it from a backup, or move it aside to start a new database"
    ], result
