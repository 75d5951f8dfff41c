"""The Redis layer without a Redis server: channels, message shape, lazy import, and the
fallback when Redis is unreachable from the start (a closed port). The real server is in
tests/integration/osrs/test_redis.py."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from poller.http import HttpClient, HttpConfig
from poller.ratelimit import RateLimiter
from poller.redis_layer import (
    CHANNELS,
    RedisLayer,
    SharedLimiter,
    channel_for,
    connect,
    event_message,
    http_options,
    run_lock,
)
from poller.settings import Settings
from poller.store import open_store

CLOSED = "redis://:hunter2@127.0.0.1:1/0"  # nothing listens on port 1: refused at once


def test_every_event_kind_has_a_channel_of_the_original_design() -> None:
    from poller.events import EventKind

    kinds = set(EventKind.__args__)  # type: ignore[attr-defined]
    assert kinds <= set(CHANNELS)
    assert set(CHANNELS.values()) <= {"levelup", "achievement", "combat", "trade", "updates"}
    assert channel_for("levelup") == "levelup" and channel_for("price") == "trade"
    assert channel_for("something-new") == "updates"
    assert RedisLayer("redis://x", "clan1").channel("boss") == "clan1:achievement"


def test_an_event_message_is_the_payload_with_schema_type_and_kind() -> None:
    message = event_message("levelup", {"kind": "levelup", "player": "A", "new": 70})
    assert message == {"kind": "levelup", "player": "A", "new": 70, "schema": 1, "type": "event"}


def test_no_redis_configured_means_no_layer_and_no_options() -> None:
    assert connect(Settings()) is None
    assert http_options(None, HttpConfig(user_agent="osrs-notify tests")) == {}


def test_the_cron_path_without_redis_never_imports_redis(tmp_path: Path) -> None:
    (tmp_path / "osrs-notify.toml").write_text(
        'database = "sqlite:///t.db"\n[poll]\nretries = 0\n[[players]]\nname = "Alice"\n'
    )
    code = (
        "import os, sys\n"
        "os.environ.pop('REDIS_URL', None)\n"
        "os.environ['OSRS_API_ENDPOINT'] = 'http://127.0.0.1:1'\n"
        "from poller.cli import main\n"
        "for argv in (['poll'], ['deliver'], ['stats'], ['poll', '--metrics-file', 'm.prom']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "assert os.path.exists('m.prom')\n"
        "loaded = sorted(m for m in sys.modules if m == 'redis' or m.startswith('redis.'))\n"
        "assert not loaded, loaded\n"
        "assert 'requests_cache' in sys.modules\n"  # the file cache was used, without redis
        "import redis\n"  # ...which is still importable afterwards, with its cache backend
        "from poller.redis_layer import RedisLayer\n"
        "assert RedisLayer('redis://127.0.0.1:1').backend() is not None\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, check=False, timeout=60,
    )
    assert done.returncode == 0, done.stderr


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "osrs_notify.redis" and r.levelno >= logging.WARNING]


def test_redis_down_from_the_start_warns_once_and_everything_falls_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    layer = RedisLayer(CLOSED, "t", timeout=0.5, clock=lambda: now[0])
    store = open_store("sqlite:///:memory:")
    with caplog.at_level(logging.INFO, logger="osrs_notify.redis"):
        with run_lock(store, layer, "poll"):  # the store lock alone
            limiter = SharedLimiter(layer, 6000, local=RateLimiter(6000))
            for _ in range(3):
                limiter.acquire()
            assert layer.publish_events([("levelup", {"player": "A"})]) == 0
            assert not layer.usable()
        now[0] += 61.0  # time to try again: it fails again, but that is the same outage
        assert layer.usable()
        limiter.acquire()
    warnings = _warnings(caplog)
    assert len(warnings) == 1, warnings
    assert "unavailable" in warnings[0] and "hunter2" not in warnings[0]
    assert "redis://:****@127.0.0.1:1/0" in warnings[0]
    assert layer.take_failures() == 1 and layer.take_failures() == 0
    assert layer.ping() is not None


def test_a_client_with_redis_down_uses_its_local_cache(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import responses

    layer = RedisLayer(CLOSED, "t", timeout=0.5)
    config = HttpConfig(user_agent="osrs-notify tests", rate_per_minute=6000, cache_ttl=60)
    client = HttpClient(config, **http_options(layer, config))
    with responses.RequestsMock() as rsps, caplog.at_level(logging.WARNING):
        rsps.get("http://api.test/a", json={"a": 1})
        assert client.get("http://api.test/a").json() == {"a": 1}
        assert client.get("http://api.test/a").json() == {"a": 1}
        assert len(rsps.calls) == 1  # the second came from the local (memory) cache
    assert client.take_stats().cache_hits == 1
    assert len(_warnings(caplog)) == 1
    assert not [r for r in caplog.records if "HTTP cache failed" in r.getMessage()]


def test_check_reports_an_unreachable_redis() -> None:
    from dataclasses import replace

    from poller.checks import run_checks

    settings = replace(Settings(), redis_url=CLOSED, database_url="sqlite:///:memory:")
    problems = run_checks(settings, hiscores=object())  # type: ignore[arg-type]
    assert any(p.startswith("Redis redis://:****@127.0.0.1:1/0: ConnectionError") for p in problems)
    assert not any("hunter2" in p for p in problems)
