"""The Redis layer against the real Redis server (``OSRS_TEST_REDIS_URL``): events published after
a poll, the shared rate limit, the shared lock, the shared HTTP cache, and Redis going away in
the middle of a run. Each test works under its own key prefix and deletes its keys."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import responses

from poller import game
from poller.http import HttpClient, HttpConfig
from poller.redis_layer import RedisLayer, SharedLimiter, http_options, run_lock
from poller.store import LockHeld, open_store

from support import Fakes, Run

pytestmark = pytest.mark.redis

HOOK = "https://discord.com/api/webhooks/123456789012345678/redis_test_token_0123456789abcdef"
UA = "osrs-notify tests (redis)"


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A prefix no other test uses; its keys are deleted afterwards."""
    import redis

    name = f"osrs-test-{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{name}*"))
    if keys:
        client.delete(*keys)
    client.close()


def layer_for(redis_url: str, prefix: str, **kw: object) -> RedisLayer:
    return RedisLayer(redis_url, prefix, **kw)  # type: ignore[arg-type]


def redis_warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("WARNING osrs_notify.redis")]


# -- poll through the CLI -------------------------------------------------------------------------


@pytest.fixture
def cli_env(
    main_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str, prefix: str,
    rsps: responses.RequestsMock,
) -> Fakes:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("CLAN_URL", HOOK)
    (tmp_path / "osrs-notify.toml").write_text(
        f'database = "sqlite:///t.db"\nredis_prefix = "{prefix}"\n'
        '[poll]\nretries = 0\nconcurrency = 1\n[webhooks.clan]\nurl = "${CLAN_URL}"\n'
        + "".join(f'[[players]]\nname = "{n}"\n' for n in ("Alice", "Bob", "Carol")),
        encoding="utf-8",
    )
    return Fakes(rsps)


def _baseline_then_level_ups(fakes: Fakes, run: Callable[..., Run]) -> None:
    for name in ("Alice", "Bob", "Carol"):
        fakes.players[name] = {"Attack": game.xp_for_level(70)}
    code, _, err = run("poll")
    assert code == 0, err
    for name in ("Alice", "Bob", "Carol"):
        fakes.players[name] = {"Attack": game.xp_for_level(71)}


def test_events_and_the_run_summary_are_published_after_a_poll(
    cli_env: Fakes, run: Callable[..., Run], redis_url: str, prefix: str,
    tmp_path: Path,
) -> None:
    import redis

    _baseline_then_level_ups(cli_env, run)
    subscriber = redis.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
    subscriber.psubscribe(f"{prefix}:*")
    subscriber.get_message(timeout=1.0)  # the psubscribe confirmation

    code, _, err = run("poll")
    assert code == 0, err
    assert not redis_warnings(err)

    got: list[tuple[str, dict[str, object]]] = []
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline and not any(m["type"] == "run" for _, m in got):
        message = subscriber.get_message(timeout=0.2)
        if message is not None:
            got.append((message["channel"].decode(), json.loads(message["data"])))
    subscriber.close()

    events = [(ch, m) for ch, m in got if m["type"] == "event"]
    by_channel = sorted({ch.removeprefix(prefix + ":") for ch, _ in events})
    assert by_channel == ["combat", "levelup"]  # Attack 70 → 71 is a combat level-up too
    levelups = [m for ch, m in events if ch == f"{prefix}:levelup"]
    assert sorted(m["player"] for m in levelups) == ["Alice", "Bob", "Carol"]
    first = levelups[0]
    assert first["schema"] == 1 and first["kind"] == "levelup"
    assert (first["metric"], first["old"], first["new"]) == ("Attack", 70, 71)
    assert {"mode", "taken_at", "combat", "total_level", "milestone"} <= set(first)

    summaries = [m for ch, m in got if m["type"] == "run"]
    assert [ch for ch, m in got if m["type"] == "run"] == [f"{prefix}:updates"]
    summary = summaries[0]
    assert summary["kind"] == "poll" and summary["players"] == {"changed": 3}
    assert summary["events_derived"] == 6 and summary["deliveries_sent"] == 6
    assert "redis_test_token" not in json.dumps(got)
    # Published after the commit, so the outbox holds every one of them.
    with open_store("sqlite:///" + str(tmp_path / "t.db")) as store:
        assert store.counts()["event"] == len(events)


def test_redis_going_away_mid_run_warns_once_and_loses_nothing(
    cli_env: Fakes, run: Callable[..., Run], tmp_path: Path
) -> None:
    import redis.connection

    _baseline_then_level_ups(cli_env, run)

    def gone(*args: object, **kwargs: object) -> None:
        raise redis.exceptions.ConnectionError("Connection reset by peer (simulated)")

    outage = pytest.MonkeyPatch()  # undone before the prefix fixture deletes its keys

    def on_fetch(player: str) -> None:
        if player == "Alice":  # the lock was taken in Redis; from here on Redis is gone
            outage.setattr(redis.connection.AbstractConnection, "send_packed_command", gone)
            outage.setattr(redis.connection.AbstractConnection, "connect", gone)

    cli_env.on_fetch = on_fetch
    try:
        code, out, err = run("poll")
    finally:
        outage.undo()

    assert code == 0, err
    warnings = redis_warnings(err)
    assert len(warnings) == 1, err
    assert "unavailable" in warnings[0] and "outbox" in warnings[0]
    assert "Polled 3 player(s)" in out
    with open_store("sqlite:///" + str(tmp_path / "t.db")) as store:
        assert store.counts()["event"] == 6  # 3 level-ups + 3 combat level-ups, all kept
        assert store.pending_deliveries(store_far_future()) == []  # ...and all delivered
        runs = store.runs.recent(1)
    assert runs[0].metrics["errors"] == {"redis": 1}


def store_far_future():  # type: ignore[no-untyped-def]
    from datetime import datetime, timezone

    return datetime(2100, 1, 1, tzinfo=timezone.utc)


def test_redis_down_from_the_start_warns_once_and_the_poll_completes(
    cli_env: Fakes, run: Callable[..., Run], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("OSRS_CACHE_TTL", "60")  # the local cache stands in for the shared one
    for name in ("Alice", "Bob", "Carol"):
        cli_env.players[name] = {"Attack": game.xp_for_level(70)}
    code, _, err = run("poll")
    assert code == 0, err
    assert len(redis_warnings(err)) == 1, err
    for name in ("Alice", "Bob", "Carol"):
        cli_env.players[name] = {"Attack": game.xp_for_level(71)}
    monkeypatch.setenv("OSRS_CACHE_TTL", "0")  # (the cache would replay the first answers)
    code, _, err = run("poll")
    assert code == 0, err
    assert len(redis_warnings(err)) == 1, err
    with open_store("sqlite:///" + str(tmp_path / "t.db")) as store:
        assert store.counts()["event"] == 6
        assert store.pending_deliveries(store_far_future()) == []


def test_two_polls_sharing_redis_exclude_each_other(
    cli_env: Fakes, run: Callable[..., Run], redis_url: str, prefix: str,
) -> None:
    other = layer_for(redis_url, prefix)
    cli_env.players["Alice"] = {"Attack": game.xp_for_level(70)}
    with other.lock("poll"):  # another machine's poll (its own database lock is elsewhere)
        code, out, _ = run("poll")
    assert code == 0 and "skipped" in out
    code, out, _ = run("poll")
    assert code == 0 and "Polled 3 player(s)" in out


# -- the shared lock ------------------------------------------------------------------------------


def test_the_lock_excludes_a_second_holder_and_is_released(redis_url: str, prefix: str) -> None:
    a, b = layer_for(redis_url, prefix), layer_for(redis_url, prefix)
    with a.lock("poll") as held:
        assert held is True
        with pytest.raises(LockHeld, match=r"Redis .*host:pid"):
            with b.lock("poll"):
                pass
        with b.lock("deliver-test"):  # another name is another lock
            pass
    with b.lock("poll"):
        pass
    assert a.client().exists(a.key("lock", "poll")) == 0


def test_the_lock_is_renewed_while_held_and_never_deletes_another_holders(
    redis_url: str, prefix: str
) -> None:
    a = layer_for(redis_url, prefix)
    key = a.key("lock", "poll")
    with a.lock("poll", ttl=1.0):
        time.sleep(1.3)  # longer than its TTL: the renewal kept it
        assert a.client().pttl(key) > 0
        a.client().set(key, b"someone-else")  # e.g. it expired and another process took it
    assert a.client().get(key) == b"someone-else"  # compare-and-delete left it alone


def test_run_lock_takes_the_store_lock_too(redis_url: str, prefix: str) -> None:
    store = open_store("sqlite:///:memory:")
    layer = layer_for(redis_url, prefix)
    with run_lock(store, layer, "poll"):
        with pytest.raises(LockHeld):
            with store.lock("poll"):
                pass
    with store.lock("poll"):
        pass


# -- the shared rate limit ------------------------------------------------------------------------


def test_two_processes_share_the_rate_limit_in_every_window(redis_url: str, prefix: str) -> None:
    # Two layers = two connections, as two processes would have. 600/min: a slot every 0.1 s.
    rate, per_client = 600, 7
    interval = 60.0 / rate
    limiters = [SharedLimiter(layer_for(redis_url, prefix), rate) for _ in range(2)]
    slots: list[float] = []
    sends: list[float] = []
    lock = threading.Lock()

    def work(limiter: SharedLimiter) -> None:
        for _ in range(per_client):
            slot = limiter.acquire()
            at = time.monotonic()
            with lock:
                slots.append(slot)
                sends.append(at)

    threads = [threading.Thread(target=work, args=(lim,)) for lim in limiters]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    slots.sort()
    sends.sort()
    gaps = [b - a for a, b in zip(slots, slots[1:], strict=False)]
    assert min(gaps) >= interval - 1e-6  # on the server's clock, exactly spaced
    per_second = int(rate / 60)
    for i, start in enumerate(slots):  # so no one-second window holds more than the rate
        assert sum(1 for s in slots[i:] if s < start + 1.0) <= per_second
    # As the callers saw it: one shared spacing, not one each (thread wake-up jitter allowed).
    assert sends[-1] - sends[0] >= (len(sends) - 2) * interval


def test_two_http_clients_share_the_rate_limit_and_a_429_backs_both_off(
    redis_url: str, prefix: str
) -> None:
    config = HttpConfig(user_agent=UA, rate_per_minute=1200, cache_ttl=0, retries=0)
    clients = [HttpClient(config, **http_options(layer_for(redis_url, prefix), config))
               for _ in range(2)]
    times: list[float] = []
    with responses.RequestsMock() as rsps:
        rsps.add_callback(
            responses.GET, "http://api.test/x",
            callback=lambda req: (times.append(time.monotonic()), (200, {}, "{}"))[1],
        )
        threads = [threading.Thread(target=lambda c=c: [c.get("http://api.test/x")
                                                        for _ in range(4)]) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(times) == 8
        assert times[-1] - times[0] >= 6 * 0.05  # one shared 50 ms spacing, not one each

        clients[0].limiter.defer(0.4)  # a 429's Retry-After seen by one process...
        start = time.monotonic()
        clients[1].get("http://api.test/x")  # ...holds the other back too
        assert times[-1] - start >= 0.35


# -- the shared HTTP cache ------------------------------------------------------------------------


def test_the_http_cache_is_shared_between_clients(redis_url: str, prefix: str) -> None:
    config = HttpConfig(user_agent=UA, rate_per_minute=6000, cache_ttl=60)
    first = HttpClient(config, **http_options(layer_for(redis_url, prefix), config))
    second = HttpClient(config, **http_options(layer_for(redis_url, prefix), config))
    with responses.RequestsMock() as rsps:
        rsps.get("http://api.test/player", json={"skills": [1, 2, 3]})
        assert first.get("http://api.test/player").json() == {"skills": [1, 2, 3]}
        assert second.get("http://api.test/player").json() == {"skills": [1, 2, 3]}
        assert len(rsps.calls) == 1
    assert (first.take_stats().requests_made, second.take_stats().cache_hits) == (1, 1)
    layer = layer_for(redis_url, prefix)
    stored = list(layer.client().scan_iter(f"{prefix}:http-cache:*"))
    assert stored and all(b"\x80" not in layer.client().get(k)[:1] for k in stored)  # not pickle


def test_the_shared_cache_failing_mid_run_falls_back_to_the_local_one(
    redis_url: str, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    import redis.connection

    layer = layer_for(redis_url, prefix)
    config = HttpConfig(user_agent=UA, rate_per_minute=6000, cache_ttl=60)
    client = HttpClient(config, **http_options(layer, config))
    with pytest.MonkeyPatch.context() as outage, responses.RequestsMock() as rsps, \
            caplog.at_level(logging.WARNING):
        rsps.get("http://api.test/a", json={"a": 1})
        rsps.get("http://api.test/b", json={"b": 2})
        client.get("http://api.test/a")

        def gone(*args: object, **kwargs: object) -> None:
            raise redis.exceptions.ConnectionError("simulated")

        outage.setattr(redis.connection.AbstractConnection, "send_packed_command", gone)
        outage.setattr(redis.connection.AbstractConnection, "connect", gone)
        assert client.get("http://api.test/b").json() == {"b": 2}  # no error for the caller
        assert client.get("http://api.test/b").json() == {"b": 2}  # from the local cache
    stats = client.take_stats()
    assert stats.cache_hits == 1
    warnings = [r for r in caplog.records if r.name.startswith("osrs_notify")]
    assert len(warnings) == 1 and "Redis" in warnings[0].getMessage()
