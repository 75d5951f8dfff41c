"""Settings: the example config loads, the environment wins, and every bad value is one clear line
naming the file and the key. Configs are written into tmp_path; tokens are obvious fakes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import MappingProxyType

import pytest
from dotenv import dotenv_values

from notifier.webhook import WebhookAddress
from poller.config import load_settings, parse_duration, resolve_config_path
from poller.events import PLAYER_EVENT_KINDS
from poller.names import normalize_name
from poller.rules import Rules
from poller.settings import ConfigError, Settings

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "osrs-notify.example.toml"
ENV_EXAMPLE = REPO / "config" / ".env.example"

ID = "123456789012345678"
TOKEN = "FAKE_TOKEN_" + "a" * 57
URL = f"https://discord.com/api/webhooks/{ID}/{TOKEN}"

BASE = f"""
[webhooks.clan]
url = "{URL}"

[webhooks.market]
url = "{URL}"
events = ["price"]

[[players]]
name = "Lynx Titan"

[[players]]
name = "Zezima"
"""


def write(tmp_path: Path, text: str, dotenv: str | None = None) -> Path:
    path = tmp_path / "osrs-notify.toml"
    path.write_text(text, encoding="utf-8")
    if dotenv is not None:
        (tmp_path / ".env").write_text(dotenv, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None, **kw: str) -> Settings:
    return load_settings(write(tmp_path, text, **kw), environ=env or {})


def error(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, env)
    return info.value


# ----------------------------------------------------------------------------- the example


def test_example_config_loads_on_a_fresh_machine() -> None:
    s = load_settings(EXAMPLE, environ={})
    assert s.path == EXAMPLE.resolve()
    assert s.database_url == f"sqlite:///{(EXAMPLE.parent / 'osrs-notify.db').resolve()}"
    assert [p.name for p in s.players] == ["Lynx Titan", "Zezima", "B0aty"]
    assert list(s.webhooks) == ["clan", "market"]
    # Webhook URLs come from the environment: unset, so not configured, and reported.
    assert all(not hook.configured and hook.url == "" for hook in s.webhooks.values())
    assert s.unset_vars == (
        "CLAN_WEBHOOK_URL (webhooks.clan.url)",
        "MARKET_WEBHOOK_URL (webhooks.market.url)",
    )
    (watch,) = s.watch
    assert watch.item == "Twisted bow"
    assert (watch.above, watch.below, watch.change_pct) == (1_600_000_000, 1_200_000_000, 5.0)
    assert watch.cooldown == timedelta(hours=6) and watch.webhooks == ("market",)
    assert s.rules.bosses.step("TzKal-Zuk") == 1 and s.rules.bosses.step("Vorkath") == 50
    assert s.poll.interval == timedelta(hours=1)


def test_example_config_with_env_example_values() -> None:
    env = {k: v for k, v in dotenv_values(ENV_EXAMPLE).items() if v is not None}
    s = load_settings(EXAMPLE, environ=env)
    assert s.unset_vars == ()
    assert s.webhooks["clan"].address == WebhookAddress("000000000000000000",
                                                        "replace-with-your-token")
    assert s.route("levelup", "Lynx Titan") == ("clan",)
    assert s.route("price", None) == ("market",)


def test_env_example_mentions_every_variable() -> None:
    text = ENV_EXAMPLE.read_text()
    for var in ("CLAN_WEBHOOK_URL", "MARKET_WEBHOOK_URL", "DATABASE_URL", "REDIS_URL",
                "OSRS_RATE_LIMIT", "OSRS_CACHE_TTL", "OSRS_API_KEY", "DISCORD_API_BASE"):
        assert var in text


# --------------------------------------------------------------------------------- defaults


def test_defaults(tmp_path: Path) -> None:
    s = load(tmp_path, "")
    assert s.database_url == f"sqlite:///{tmp_path.resolve()}/osrs-notify.db"
    assert (s.redis_url, s.timezone, s.contact, s.redis_prefix) == ("", "UTC", "", "osrs")
    assert s.poll.interval == timedelta(hours=1)
    assert (s.poll.concurrency, s.poll.rate_limit, s.poll.cache_ttl) == (4, 60, 300)
    assert (s.poll.timeout, s.poll.retries, s.poll.missing_after) == (10.0, 3, 3)
    assert s.prices.interval == timedelta(minutes=5) and s.prices.window == "1h"
    assert s.rules == Rules()
    assert (s.players, s.watch, s.unset_vars) == ((), (), ())
    assert s.api_endpoint == "https://secure.runescape.com"
    assert s.prices_endpoint == "https://prices.runescape.wiki/api/v1/osrs"
    assert s.discord_api_base == "https://discord.com/api/v10"
    assert s.api_key is None


def test_values_are_frozen(tmp_path: Path) -> None:
    s = load(tmp_path, BASE)
    assert isinstance(s.webhooks, MappingProxyType)
    assert isinstance(s.players, tuple)
    hook = s.webhooks["clan"]
    assert hook.events == frozenset(PLAYER_EVENT_KINDS) and hook.players == ("*",)
    with pytest.raises(AttributeError):
        s.contact = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.webhooks["x"] = hook  # type: ignore[index]


def test_repr_hides_secrets(tmp_path: Path) -> None:
    env = {"OSRS_API_KEY": "secret-api-key-value",
           "DATABASE_URL": "postgresql://osrs:db-password-value@db/osrs"}
    s = load(tmp_path, BASE, env)
    text = repr(s)
    for secret in (TOKEN, "secret-api-key-value", "db-password-value"):
        assert secret not in text
    assert s.api_key == "secret-api-key-value"
    assert s.database_display == "postgresql://osrs:****@db/osrs"


def test_full_webhook_options(tmp_path: Path) -> None:
    s = load(tmp_path, BASE.replace('events = ["price"]', """events = ["price", "player"]
exclude = ["zezima"]
username = "GE Bot"
avatar_url = "https://example.org/a.png"
thread_id = 987654321098765432
format = "text"
templates = { price = "{item} moved" }"""))
    hook = s.webhooks["market"]
    assert hook.events == {"price", "player"}
    assert hook.exclude == ("zezima",)
    assert (hook.username, hook.avatar_url, hook.thread_id, hook.format) == (
        "GE Bot", "https://example.org/a.png", "987654321098765432", "text")
    assert dict(hook.templates) == {"price": "{item} moved"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90s", timedelta(seconds=90)), ("15m", timedelta(minutes=15)), ("1h", timedelta(hours=1)),
     ("1h30m", timedelta(minutes=90)), ("1d", timedelta(days=1)), ("2H", timedelta(hours=2)),
     ("1d 2h", timedelta(days=1, hours=2))],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "1", "1x", "h", "1m1h", "-5m", "1.5h", "m30"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("name", "normal"),
    [("Lynx Titan", "lynx titan"), ("lynx_titan", "lynx titan"), ("LYNX-TITAN", "lynx titan"),
     ("Lynx  Titan", "lynx titan"), ("Lynx\xa0Titan", "lynx titan"), (" Zezima ", "zezima")],
)
def test_normalize_name(name: str, normal: str) -> None:
    assert normalize_name(name) == normal


# ----------------------------------------------------------------------- path resolution


def test_config_path_resolution(tmp_path: Path) -> None:
    assert resolve_config_path("a.toml", {"OSRS_NOTIFY_CONFIG": "b.toml"}) == Path("a.toml")
    assert resolve_config_path(None, {"OSRS_NOTIFY_CONFIG": "b.toml"}) == Path("b.toml")
    assert resolve_config_path(None, {}) == Path("osrs-notify.toml")
    path = write(tmp_path, 'contact = "from env path"')
    s = load_settings(environ={"OSRS_NOTIFY_CONFIG": str(path)})
    assert s.contact == "from env path"


def test_default_path_is_in_the_working_directory(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, 'contact = "cwd"')
    monkeypatch.chdir(tmp_path)
    assert load_settings(environ={}).contact == "cwd"


def test_missing_file_says_how_to_start(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_settings(missing, environ={})
    message = str(info.value)
    assert str(missing) in message
    assert "config/osrs-notify.example.toml" in message


def test_invalid_toml(tmp_path: Path) -> None:
    e = error(tmp_path, "poll = [\n")
    assert "osrs-notify.toml" in str(e) and "invalid TOML" in str(e)


# ------------------------------------------------------------------------ database paths


@pytest.mark.parametrize(
    ("database", "expected"),
    [
        ("sqlite:///osrs-notify.db", "sqlite:///{dir}/osrs-notify.db"),
        ("sqlite:///data/x.db", "sqlite:///{dir}/data/x.db"),
        ("sqlite:///../x.db", "sqlite:///{parent}/x.db"),
        ("sqlite:////var/lib/osrs/x.db", "sqlite:////var/lib/osrs/x.db"),
        ("sqlite:///x.db?journal_mode=wal", "sqlite:///{dir}/x.db?journal_mode=wal"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("postgresql://u:p@host:5432/db", "postgresql://u:p@host:5432/db"),
        ("postgres://host/db", "postgres://host/db"),
    ],
)
def test_database_urls(tmp_path: Path, database: str, expected: str) -> None:
    config_dir = tmp_path / "conf"
    config_dir.mkdir()
    s = load(config_dir, f'database = "{database}"')
    root = config_dir.resolve()
    assert s.database_url == expected.format(dir=root, parent=root.parent)
    if expected.startswith("sqlite:///{"):
        assert s.database_url.startswith("sqlite:////")  # absolute: cron's cwd doesn't matter


def test_relative_database_from_env_is_relative_to_the_config(tmp_path: Path) -> None:
    s = load(tmp_path, 'database = "sqlite:///ignored.db"', {"DATABASE_URL": "sqlite:///env.db"})
    assert s.database_url == f"sqlite:///{tmp_path.resolve()}/env.db"


# --------------------------------------------------------------------- environment wins


def test_environment_overrides(tmp_path: Path) -> None:
    text = """
database = "sqlite:///file.db"
redis = "redis://file:6379/0"
[poll]
rate_limit = 30
cache_ttl = 60
"""
    env = {
        "DATABASE_URL": "postgresql://env/db",
        "REDIS_URL": "rediss://env:6380/1",
        "OSRS_RATE_LIMIT": "120",
        "OSRS_CACHE_TTL": "0",
        "OSRS_API_ENDPOINT": "http://127.0.0.1:8001/",
        "OSRS_PRICES_ENDPOINT": "http://127.0.0.1:8002/prices",
        "OSRS_API_KEY": "k",
        "DISCORD_API_BASE": "http://127.0.0.1:8003/api/",
    }
    s = load(tmp_path, text, env)
    assert s.database_url == "postgresql://env/db"
    assert s.redis_url == "rediss://env:6380/1"
    assert (s.poll.rate_limit, s.poll.cache_ttl) == (120, 0)
    assert s.api_endpoint == "http://127.0.0.1:8001"
    assert s.prices_endpoint == "http://127.0.0.1:8002/prices"
    assert s.api_key == "k"
    assert s.discord_api_base == "http://127.0.0.1:8003/api"


def test_without_environment_the_file_counts(tmp_path: Path) -> None:
    s = load(tmp_path, "[poll]\nrate_limit = 30\ncache_ttl = 60", {"OSRS_RATE_LIMIT": ""})
    assert (s.poll.rate_limit, s.poll.cache_ttl) == (30, 60)  # empty variable = unset


def test_dotenv_beside_the_config_and_real_environment_wins(tmp_path: Path) -> None:
    text = 'redis = "${REDIS}"\n[poll]\nrate_limit = 10'
    dotenv = "REDIS=redis://from-dotenv\nOSRS_RATE_LIMIT=20\nOSRS_CACHE_TTL=5\nPASSWORD=a$b\n"
    s = load(tmp_path, text, {"OSRS_RATE_LIMIT": "40"}, dotenv=dotenv)
    assert s.redis_url == "redis://from-dotenv"
    assert s.poll.rate_limit == 40  # real environment beats .env
    assert s.poll.cache_ttl == 5  # .env beats the file


def test_dotenv_does_not_touch_os_environ(tmp_path: Path) -> None:
    import os

    load(tmp_path, "", dotenv="OSRS_TEST_ONLY_MARKER=1\n")
    assert "OSRS_TEST_ONLY_MARKER" not in os.environ


@pytest.mark.parametrize(
    ("env", "where", "problem"),
    [
        ({"OSRS_RATE_LIMIT": "fast"}, "OSRS_RATE_LIMIT", "not an integer"),
        ({"OSRS_RATE_LIMIT": "0"}, "OSRS_RATE_LIMIT", "out of range"),
        ({"OSRS_CACHE_TTL": "999999"}, "OSRS_CACHE_TTL", "out of range"),
        ({"DATABASE_URL": "mysql://db/x"}, "DATABASE_URL", "unsupported database URL"),
        ({"REDIS_URL": "http://r"}, "REDIS_URL", "unsupported URL"),
        ({"DISCORD_API_BASE": "discord.com/api"}, "DISCORD_API_BASE", "not an http(s) URL"),
    ],
)
def test_bad_environment_values(tmp_path: Path, env: dict[str, str], where: str,
                                problem: str) -> None:
    e = error(tmp_path, "", env)
    assert str(e).startswith(f"environment: {where}: ")
    assert problem in str(e)


def test_bad_value_from_dotenv_names_the_dotenv_file(tmp_path: Path) -> None:
    write(tmp_path, "", dotenv="OSRS_RATE_LIMIT=lots\n")
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "osrs-notify.toml", environ={})
    assert str(info.value).startswith(f"{tmp_path.resolve() / '.env'}: OSRS_RATE_LIMIT: ")


# --------------------------------------------------------------------------- ${VAR}


@pytest.mark.parametrize(
    ("value", "env", "expected", "unset"),
    [
        ("${A}", {"A": "x"}, "x", ()),
        ("<${A}|${B}>", {"A": "1", "B": "2"}, "<1|2>", ()),
        ("${A:-fallback}", {}, "fallback", ()),
        ("${A:-fallback}", {"A": ""}, "fallback", ()),
        ("${A:-fallback}", {"A": "set"}, "set", ()),
        ("${A:-}", {}, "", ()),
        ("${A}", {}, "", ("A (redis)",)),
        ("pre-${A}-post", {}, "pre--post", ("A (redis)",)),
        ("$$", {}, "$", ()),
        ("$${A}", {"A": "x"}, "${A}", ()),
        ("costs $5", {}, "costs $5", ()),
        ("$", {}, "$", ()),
    ],
)
def test_variable_expansion(tmp_path: Path, value: str, env: dict[str, str], expected: str,
                            unset: tuple[str, ...]) -> None:
    # redis is one of the keys whose variables are expanded (an address or a secret).
    s = load(tmp_path, f"redis = 'redis://h/{value}'", env)
    assert s.redis_url == f"redis://h/{expected}"
    assert s.unset_vars == unset


def test_expansion_reaches_webhook_urls_and_nothing_else_nested(tmp_path: Path) -> None:
    text = BASE.replace(f'url = "{URL}"\n\n[webhooks.market]', 'url = "${CLAN}"\n'
                        '\n[webhooks.market]')
    s = load(tmp_path, text, {"CLAN": URL})
    assert s.webhooks["clan"].address == WebhookAddress(ID, TOKEN)
    nested = text.replace('url = "${CLAN}"\n', 'url = "${CLAN}"\nplayers = ["${WHO}"]\n')
    e = error(tmp_path, nested, {"CLAN": URL, "WHO": "Zezima"})
    assert e.key == "webhooks.clan.players[0]" and "only where a secret" in str(e)


STEERING = [
    # Each would carry the webhook's token somewhere other than its request path.
    ('templates = { levelup = "${CLAN_WEBHOOK_URL}" }', "webhooks.clan.templates.levelup"),
    ('avatar_url = "https://evil.example/${CLAN_WEBHOOK_URL}"', "webhooks.clan.avatar_url"),
    ('username = "${CLAN_WEBHOOK_URL}"', "webhooks.clan.username"),
]


@pytest.mark.parametrize(("line", "key"), STEERING)
def test_a_variable_outside_secret_keys_is_refused(tmp_path: Path, line: str, key: str) -> None:
    text = f'[webhooks.clan]\nurl = "${{CLAN_WEBHOOK_URL}}"\n{line}\n'
    e = error(tmp_path, text, {"CLAN_WEBHOOK_URL": URL})
    assert e.key == key and "only where a secret or an address belongs" in str(e)
    assert TOKEN not in str(e)


def test_the_contact_sent_as_user_agent_may_not_name_a_variable(tmp_path: Path) -> None:
    e = error(tmp_path, 'contact = "${CLAN_WEBHOOK_URL}"\n' + BASE, {"CLAN_WEBHOOK_URL": URL})
    assert e.key == "contact" and TOKEN not in str(e)


@pytest.mark.parametrize(
    ("line", "key"),
    [
        (f'templates = {{ levelup = "{{player}} {TOKEN}" }}', "webhooks.clan.templates.levelup"),
        (f'username = "{TOKEN}"', "webhooks.clan.username"),
    ],
)
def test_a_token_written_out_anywhere_but_its_url_is_refused(
    tmp_path: Path, line: str, key: str
) -> None:
    e = error(tmp_path, f'[webhooks.clan]\nurl = "{URL}"\n{line}\n')
    assert e.key == key and "token" in str(e) and TOKEN not in str(e)


@pytest.mark.parametrize(
    ("base", "ok"),
    [
        ("https://discord.example/api/v10", True),
        ("http://127.0.0.1:8080/api/v10", True),
        ("http://[::1]:8080/api", True),
        ("http://localhost/api", True),
        ("http://proxy.example/api/v10", False),
        ("http://10.0.0.5/api/v10", False),
    ],
)
def test_discord_api_base_is_https_or_loopback(tmp_path: Path, base: str, ok: bool) -> None:
    if ok:
        assert load(tmp_path, "", {"DISCORD_API_BASE": base}).discord_api_base == base
    else:
        e = error(tmp_path, "", {"DISCORD_API_BASE": base})
        assert "DISCORD_API_BASE" in str(e) and "plain http" in str(e)


def test_a_config_nested_hundreds_deep_is_a_config_error(tmp_path: Path) -> None:
    e = error(tmp_path, "x = " + "[" * 600 + "]" * 600 + "\n")
    assert "osrs-notify.toml" in str(e) and "nested too deeply" in str(e)


def test_unset_webhook_url_is_not_configured_not_an_error(tmp_path: Path) -> None:
    s = load(tmp_path, BASE.replace(f'url = "{URL}"\n\n[webhooks.market]',
                                    'url = "${CLAN_WEBHOOK_URL}"\n\n[webhooks.market]'))
    assert s.webhooks["clan"].url == "" and s.webhooks["clan"].address is None
    assert s.unset_vars == ("CLAN_WEBHOOK_URL (webhooks.clan.url)",)
    assert s.route("levelup", "Zezima") == ()
    assert s.route("levelup", "Zezima", include_unconfigured=True) == ("clan",)


def test_error_mentions_the_unset_variable(tmp_path: Path) -> None:
    e = error(tmp_path, 'database = "${DB}"')
    assert "database: " in str(e) and "${DB} is not set" in str(e)


@pytest.mark.parametrize("value", ["${A", "${}", "${1A}", "${A B}"])
def test_bad_variable_references(tmp_path: Path, value: str) -> None:
    e = error(tmp_path, f"contact = '{value}'")
    assert e.key == "contact"


# -------------------------------------------------------------------------------- errors

ERRORS = [
    # unknown keys at every level
    ("databse = 'x'", "databse", "unknown key; did you mean 'database'?"),
    ("[poll]\nintervall = '1h'", "poll.intervall", "did you mean 'interval'?"),
    ("[rules.levels]\nevery_form = 5", "rules.levels.every_form", "unknown key"),
    ("[rules]\nbosses = { evry = 5 }", "rules.bosses.evry", "unknown key"),
    ("[[players]]\nname = 'Zezima'\nmod = 'ironman'", "players[0].mod", "unknown key"),
    (f"[webhooks.clan]\nurl = '{URL}'\nevent = ['xp']", "webhooks.clan.event", "unknown key"),
    ("[webhooks.clan]\nurl = ''\ntemplates = { lvlup = 'x' }", "webhooks.clan.templates.lvlup",
     "did you mean 'levelup'?"),
    ("[[watch]]\nitem = 'Twisted bow'\nabove = 1\nabov = 2", "watch[0].abov", "unknown key"),
    # wrong types
    ("timezone = 5", "timezone", "expected a string, got an integer (5)"),
    ("[poll]\nconcurrency = '4'", "poll.concurrency", "expected an integer, got a string"),
    ("[poll]\nconcurrency = true", "poll.concurrency", "expected an integer, got a boolean"),
    ("[poll]\ntimeout = 'slow'", "poll.timeout", "expected a number"),
    ("poll = 5", "poll", "expected a table, got an integer"),
    ("players = ['Zezima']", "players[0]", "expected a table, got a string"),
    ("[rules.levels]\nvirtual = 'yes'", "rules.levels.virtual", "expected true or false"),
    ("[webhooks.clan]\nurl = ''\nevents = 'xp'", "webhooks.clan.events", "expected a list"),
    ("[webhooks.clan]\nurl = 5", "webhooks.clan.url", "expected a string"),
    # out of range / bad values
    ("[poll]\nconcurrency = 0", "poll.concurrency", "0 is out of range (allowed: 1..64)"),
    ("[poll]\nrate_limit = 6001", "poll.rate_limit", "out of range (allowed: 1..6000)"),
    ("[poll]\ncache_ttl = -1", "poll.cache_ttl", "out of range"),
    ("[poll]\nretries = 11", "poll.retries", "out of range"),
    ("[poll]\nmissing_after = 0", "poll.missing_after", "out of range"),
    ("[poll]\ntimeout = 0", "poll.timeout", "out of range"),
    ("[rules.levels]\nmin_level = 127", "rules.levels.min_level", "out of range (allowed: 1..126)"),
    ("[rules.levels]\nevery = 0", "rules.levels.every", "out of range"),
    ("[rules.levels]\nevery_from = 0", "rules.levels.every_from", "out of range"),
    ("[rules.xp]\nevery_after_99 = -1", "rules.xp.every_after_99", "out of range"),
    ("[rules.clues]\nevery = -1", "rules.clues.every", "out of range"),
    ("[prices]\nwindow = '1d'", "prices.window", "'1d' is not allowed (allowed: 1h, 5m)"),
    ("timezone = 'Europe/Londn'", "timezone", "did you mean 'Europe/London'?"),
    ("timezone = 'London'", "timezone", "did you mean 'Europe/London'?"),
    ("database = 'mysql://x/y'", "database", "unsupported database URL"),
    ("database = 'sqlite:///'", "database", "names no file"),
    ("redis = 'localhost:6379'", "redis", "unsupported URL"),
    ("redis_prefix = 'a b'", "redis_prefix", "not allowed"),
    # bad interval strings
    ("[poll]\ninterval = '1 hour'", "poll.interval", "is not a duration"),
    ("[poll]\ninterval = '30s'", "poll.interval", "too short (allowed: >= 1m)"),
    ("[poll]\ninterval = 3600", "poll.interval", "expected a duration string"),
    ("[poll]\ninterval = ''", "poll.interval", "is not a duration"),
    ("[prices]\ninterval = '5 min'", "prices.interval", "is not a duration"),
    ("[[watch]]\nitem = 1\nabove = 1\ncooldown = '6hours'", "watch[0].cooldown", "not a duration"),
    # players
    ("[[players]]\nname = 'Zezima'\nmode = 'iron'", "players[0].mode",
     "'iron' is not allowed; did you mean 'ironman'?"),
    ("[[players]]\nname = 'ThirteenChars'", "players[0].name",
     "player name 'ThirteenChars' is longer than 12 characters (allowed: 1–12 letters"),
    ("[[players]]\nname = 'Zezima!'", "players[0].name", "'Zezima!' has characters not allowed"),
    ("[[players]]\nname = ''", "players[0].name", "player name '' is empty"),
    ("[[players]]\nname = ' Zezima'", "players[0].name", "starts or ends with a space"),
    ("[[players]]\nmode = 'regular'", "players[0].name", "missing"),
    ("[[players]]\nname = 'Lynx Titan'\n[[players]]\nname = 'lynx_titan'", "players[1].name",
     "'lynx_titan' is listed twice (same player as 'Lynx Titan'"),
    ("[[players]]\nname = 'Zezima'\nwebhooks = ['clna']", "players[0].webhooks[0]",
     "no webhook named 'clna'"),
    # webhooks
    ("[webhooks.clan]\nevents = ['xp']", "webhooks.clan.url", "missing"),
    ("[webhooks.clan]\nurl = ''\nevents = ['lvlup']", "webhooks.clan.events[0]",
     "'lvlup' is not allowed; did you mean 'levelup'?"),
    ("[webhooks.clan]\nurl = ''\nplayers = ['Nobody']", "webhooks.clan.players[0]",
     "'Nobody' is not a configured player"),
    ("[webhooks.clan]\nurl = ''\nexclude = ['Nobody']", "webhooks.clan.exclude[0]",
     "not a configured player"),
    ("[webhooks.clan]\nurl = ''\nformat = 'html'", "webhooks.clan.format",
     "(allowed: embed, text)"),
    ("[webhooks.clan]\nurl = ''\nthread_id = 'abc'", "webhooks.clan.thread_id", "not a Discord id"),
    ("[webhooks.clan]\nurl = ''\navatar_url = 'ftp://x/a.png'", "webhooks.clan.avatar_url",
     "not an http(s) URL"),
    ("[webhooks.clan]\nurl = ''\nusername = ''", "webhooks.clan.username", "1–80 characters"),
    ("[webhooks.clan]\nurl = ''\ntemplates = { xp = '  ' }", "webhooks.clan.templates.xp",
     "empty template"),
    ("[webhooks.clan]\nurl = ''\ntemplates = { levelup = '{player} hit {lvl}' }",
     "webhooks.clan.templates.levelup",
     "unknown placeholder {lvl} for levelup events (allowed: {player}, {mode}"),
    ("[webhooks.clan]\nurl = ''\ntemplates = { xp = '{player} {' }", "webhooks.clan.templates.xp",
     "stray '{' at character 10"),
    ("[webhooks.clan]\nurl = ''\ntemplates = { boss = '{player} killed {level}' }",
     "webhooks.clan.templates.boss", "unknown placeholder {level} for boss events"),
    ("[webhooks.clan]\nurl = ''\ntemplates = { price = '{item} } {price}' }",
     "webhooks.clan.templates.price", "stray '}'"),
    ("[webhooks.clan]\nurl = ''\ntemplates = { levelup = 5 }",
     "webhooks.clan.templates.levelup", "expected a string, got an integer"),
    ("[webhooks.'my clan']\nurl = ''", 'webhooks."my clan"', "webhook name 'my clan'"),
    # rules overrides
    ("[rules.bosses]\noverrides = { 'TzKal-Zukk' = 1 }", 'rules.bosses.overrides.TzKal-Zukk',
     "unknown hiscores name 'TzKal-Zukk'; did you mean 'TzKal-Zuk'"),
    ("[rules.bosses]\noverrides = { 'Zuk' = 1 }", "rules.bosses.overrides.Zuk",
     "unknown hiscores name 'Zuk'; did you mean 'TzKal-Zuk'?"),
    ("[rules.bosses]\noverrides = { 'Vorkath' = 0 }", "rules.bosses.overrides.Vorkath",
     "out of range"),
    ("[rules.bosses]\noverrides = { 'Clue Scrolls (all)' = 5 }",
     'rules.bosses.overrides."Clue Scrolls (all)"', "put it under rules.clues.overrides"),
    ("[rules.bosses]\noverrides = 5", "rules.bosses.overrides", "expected a table"),
    # watch
    ("[[watch]]\nabove = 5", "watch[0].item", "missing"),
    ("[[watch]]\nitem = 'Twisted bow'", "watch[0]", "nothing to watch"),
    ("[[watch]]\nitem = 'Twisted bow'\nabove = 0", "watch[0].above", "out of range"),
    ("[[watch]]\nitem = 'Twisted bow'\nabove = 5\nbelow = 10", "watch[0].above",
     "must be greater than below"),
    ("[[watch]]\nitem = 'Twisted bow'\nchange_pct = 0", "watch[0].change_pct", "> 0"),
    ("[[watch]]\nitem = 20997\nchange_pct = 5\nwindow = '24h'", "watch[0].window", "not allowed"),
    ("[[watch]]\nitem = 0\nabove = 1", "watch[0].item", "out of range"),
    ("[[watch]]\nitem = 1.5\nabove = 1", "watch[0].item", "expected an item name or id"),
    ("[[watch]]\nitem = 'Twisted bow'\nabove = 1\nwebhooks = ['nope']", "watch[0].webhooks[0]",
     "no webhook named 'nope'"),
]


@pytest.mark.parametrize(("text", "key", "problem"), ERRORS, ids=[e[1] for e in ERRORS])
def test_errors_name_file_key_and_problem(tmp_path: Path, text: str, key: str,
                                          problem: str) -> None:
    e = error(tmp_path, text)
    message = str(e)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path.resolve() / 'osrs-notify.toml'}: {key}: "), message
    assert problem in message, message
    assert len(e.problems) == 1, [p.line for p in e.problems]


def test_template_error_lists_the_placeholders_of_its_kind(tmp_path: Path) -> None:
    from notifier.text import TEMPLATE_FIELDS

    e = error(tmp_path, "[webhooks.clan]\nurl = ''\ntemplates = { price = '{item} {level}' }")
    assert e.key == "webhooks.clan.templates.price"
    assert e.allowed == ", ".join(f"{{{f}}}" for f in TEMPLATE_FIELDS["price"])
    assert "{old_price}" in e.allowed and "{level}" not in e.allowed
    assert str(e).count("{old_price}") == 1  # listed once, in "(allowed: ...)"


def test_every_bad_template_is_reported(tmp_path: Path) -> None:
    e = error(tmp_path, """[webhooks.clan]
url = ''
templates = { levelup = '{lvl}', xp = '{player}', boss = 'x {' }

[[players]]
name = 'Zezima'
webhooks = ['clan']""")
    # Both bad templates, and no "no webhook named 'clan'" for the player's reference.
    assert [p.key for p in e.problems] == [
        "webhooks.clan.templates.levelup", "webhooks.clan.templates.boss"]


def test_good_templates_load_as_written(tmp_path: Path) -> None:
    templates = {
        "levelup": "{player} reached {level} {skill} (was {old_level}) at {time}",
        "xp": "{{literal}} {player}: {xp} {skill}",
        "boss": "{player} — {count} {boss} kills",
        "achievement": "🏆 {player}: {achievement}",
        "player": "{old_name} is now {player} ({status})",
    }
    body = ", ".join(f"{k} = '{v}'" for k, v in templates.items())
    s = load(tmp_path, f"[webhooks.clan]\nurl = ''\nformat = 'text'\ntemplates = {{ {body} }}")
    assert dict(s.webhooks["clan"].templates) == templates


def test_unknown_key_lists_what_is_allowed(tmp_path: Path) -> None:
    e = error(tmp_path, "[poll]\nevery = '1h'")
    assert e.allowed == (
        "budget, cache_ttl, concurrency, interval, max_interval, min_interval, missing_after, "
        "rate_limit, retries, schedule, timeout"
    )


def test_bad_webhook_url_error_hides_the_token(tmp_path: Path) -> None:
    bad = f"https://discord.com/api/webhook/{ID}/{TOKEN}"  # "webhook", missing the s
    e = error(tmp_path, f"[webhooks.clan]\nurl = '{bad}'")
    assert str(e).startswith(f"{tmp_path.resolve() / 'osrs-notify.toml'}: webhooks.clan.url: ")
    assert TOKEN not in str(e) and "aaaaaaaa" not in str(e)
    e = error(tmp_path, "[webhooks.clan]\nurl = '${HOOK}'",
              {"HOOK": f"http://discord.com/api/webhooks/{ID}/{TOKEN}"})
    assert TOKEN not in str(e) and "webhooks/123…/****" in str(e)


def test_override_names_are_case_insensitive_and_stored_canonically(tmp_path: Path) -> None:
    s = load(tmp_path, "[rules.bosses]\noverrides = { 'tzkal-zuk' = 1, 'VORKATH' = 10 }\n"
                       "[rules.clues]\noverrides = { 'Clue Scrolls (master)' = 1 }\n"
                       "[rules.activities]\nevery = 0\noverrides = { 'LMS - Rank' = 500 }")
    assert dict(s.rules.bosses.overrides) == {"TzKal-Zuk": 1, "Vorkath": 10}
    assert s.rules.bosses.every == 50  # unchanged default
    assert s.rules.clues.every == 100 and s.rules.clues.step("Clue Scrolls (master)") == 1
    assert s.rules.activities.every == 0


def test_every_problem_is_collected(tmp_path: Path) -> None:
    text = """
bogus = 1
[poll]
concurrency = 0
[webhooks.clan]
url = "https://example.org/not-discord"
[[players]]
name = "Zezima"
mode = "iron"
webhooks = ["clan"]
[[players]]
name = "way too long a name"
"""
    e = error(tmp_path, text)
    keys = [p.key for p in e.problems]
    assert keys == ["bogus", "poll.concurrency", "players[0].mode", "players[1].name",
                    "webhooks.clan.url"]
    assert str(e).endswith("(+4 more problems)")
    # A player with a bad mode still counts as written: no second "unknown webhook" complaint,
    # and the broken webhook isn't reported as unknown either.


# ------------------------------------------------------------------------------- routing

ROUTING = f"""
[webhooks.clan]
url = "{URL}"

[webhooks.bosses]
url = "{URL}"
events = ["boss", "achievement"]
players = ["lynx_titan", "B0aty"]

[webhooks.no-zez]
url = "{URL}"
events = ["levelup", "boss"]
exclude = ["ZEZIMA"]

[webhooks.market]
url = "{URL}"
events = ["price"]

[webhooks.later]
url = "${{LATER_URL}}"
events = ["levelup", "price"]

[[players]]
name = "Lynx Titan"

[[players]]
name = "Zezima"

[[players]]
name = "B0aty"
webhooks = ["bosses"]
"""


@pytest.mark.parametrize(
    ("kind", "player", "expected"),
    [
        ("levelup", "Lynx Titan", ("clan", "no-zez")),
        ("levelup", "lynx-titan", ("clan", "no-zez")),  # compared the hiscores way
        ("boss", "Lynx Titan", ("clan", "bosses", "no-zez")),
        ("boss", "Zezima", ("clan",)),  # excluded from no-zez, not listed in bosses
        ("xp", "Zezima", ("clan",)),
        ("boss", "B0aty", ("bosses",)),  # the player's own list narrows it
        ("levelup", "B0aty", ()),
        ("achievement", "b0aty", ("bosses",)),
        ("player", "Someone Else", ("clan",)),  # not configured: "*" webhooks only
        ("price", None, ("market",)),
        ("levelup", None, ("clan", "no-zez")),
        ("unknown-kind", "Zezima", ()),
    ],
)
def test_route(tmp_path: Path, kind: str, player: str | None, expected: tuple[str, ...]) -> None:
    s = load(tmp_path, ROUTING)
    assert s.route(kind, player) == expected


def test_route_can_include_unconfigured_webhooks(tmp_path: Path) -> None:
    s = load(tmp_path, ROUTING)
    assert s.route("price", None, include_unconfigured=True) == ("market", "later")
    assert s.unset_vars == ("LATER_URL (webhooks.later.url)",)


def test_watch_defaults_to_price_webhooks_and_prices_window(tmp_path: Path) -> None:
    s = load(tmp_path, ROUTING + "[prices]\nwindow = '5m'\n[[watch]]\nitem = 20997\nbelow = 1\n"
                                 "[[watch]]\nitem = 'Bond'\nchange_pct = 2.5\nwindow = '1h'\n"
                                 "cooldown = '0s'\nwebhooks = ['clan']")
    first, second = s.watch
    assert first.item == 20997 and first.webhooks == ("market", "later") and first.window == "5m"
    assert second.change_pct == 2.5 and second.window == "1h"
    assert second.cooldown == timedelta(0) and second.webhooks == ("clan",)


@pytest.mark.parametrize(
    ("player_hooks", "problem"),
    [
        ("['market']", "webhook 'market' takes no player events"),
        ("['no-zez']", "webhook 'no-zez' leaves this player out"),
    ],
)
def test_player_webhook_that_would_never_deliver(tmp_path: Path, player_hooks: str,
                                                 problem: str) -> None:
    text = ROUTING.replace('name = "Zezima"', f'name = "Zezima"\nwebhooks = {player_hooks}')
    e = error(tmp_path, text)
    assert e.key == "players[1].webhooks[0]" and problem in str(e)


def test_a_token_quoted_back_in_any_error_is_masked(tmp_path: Path) -> None:
    e = error(tmp_path, "[prices]\nwindow = '${HOOK}'", {"HOOK": URL})
    assert e.key == "prices.window" and TOKEN not in str(e)
