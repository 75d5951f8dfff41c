"""poller/http.py: rate limiter, retry policy, typed errors, headers and cache. No network:
``responses`` stands in for every server."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import responses

from poller.errors import HiscoresUnavailable, RateLimitError, ValidationError
from poller.http import HttpClient, HttpConfig
from poller.ratelimit import RateLimiter

from support import FakeClock

URL = "https://hiscores.test/m=hiscore_oldschool/index_lite.json"
UA = "osrs-notify-tests/1.0 (+https://example.invalid; ops@example.invalid)"


def make_client(
    fake: FakeClock | None = None,
    *,
    rng: float = 1.0,
    **overrides: object,
) -> tuple[HttpClient, FakeClock]:
    fake = fake or FakeClock()
    options: dict[str, object] = {"user_agent": UA, "rate_per_minute": 0, "cache_ttl": 0}
    options.update(overrides)
    config = HttpConfig(**options)  # type: ignore[arg-type]
    client = HttpClient(config, sleep=fake.sleep, clock=fake.clock, rng=lambda: rng)
    return client, fake


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:
        yield mock


# -- RateLimiter -------------------------------------------------------------------------------


def test_limiter_spaces_callers_by_interval() -> None:
    fake = FakeClock()
    limiter = RateLimiter(60, clock=fake.clock, sleep=fake.sleep)
    admitted = [limiter.acquire() for _ in range(4)]
    assert admitted == [1000.0, 1001.0, 1002.0, 1003.0]
    assert fake.sleeps == [1.0, 1.0, 1.0]


def test_limiter_does_not_bank_idle_time_into_a_burst() -> None:
    fake = FakeClock()
    limiter = RateLimiter(120, clock=fake.clock, sleep=fake.sleep)
    limiter.acquire()
    fake.now += 60  # a long idle spell
    first = limiter.acquire()
    second = limiter.acquire()
    assert second - first == pytest.approx(0.5)


@pytest.mark.parametrize("rate", [0, None])
def test_limiter_unlimited(rate: int | None) -> None:
    fake = FakeClock()
    limiter = RateLimiter(rate, clock=fake.clock, sleep=fake.sleep)
    for _ in range(100):
        limiter.acquire()
    assert fake.sleeps == []
    assert limiter.unlimited


def test_limiter_rejects_negative_rate() -> None:
    with pytest.raises(ValueError):
        RateLimiter(-1)


def test_limiter_defer_holds_everyone_back() -> None:
    fake = FakeClock()
    limiter = RateLimiter(60, clock=fake.clock, sleep=fake.sleep)
    limiter.acquire()
    limiter.defer(10)
    assert limiter.acquire() == pytest.approx(1010.0)
    # A shorter deferral never pulls the next slot earlier.
    limiter.defer(0.1)
    assert limiter.acquire() == pytest.approx(1011.0)


def test_limiter_defer_applies_even_when_unlimited() -> None:
    fake = FakeClock()
    limiter = RateLimiter(0, clock=fake.clock, sleep=fake.sleep)
    limiter.defer(5)
    assert limiter.acquire() == pytest.approx(1005.0)
    assert limiter.acquire() == pytest.approx(1005.0)


def test_limiter_threads_never_admit_two_within_interval() -> None:
    rate = 1200  # 50 ms apart: 20 admissions take ~1 s of real time
    interval = 60 / rate
    limiter = RateLimiter(rate)
    admitted: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            at = limiter.acquire()
            with lock:
                admitted.append(at)

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert not any(t.is_alive() for t in threads)
    elapsed = time.monotonic() - started
    admitted.sort()
    gaps = [b - a for a, b in zip(admitted, admitted[1:], strict=False)]
    assert len(admitted) == 20
    assert min(gaps) >= interval - 1e-9
    assert elapsed >= 19 * interval - 1e-3
    # Any one-second window holds at most rate/60 admissions.
    for i, start in enumerate(admitted):
        assert sum(1 for t in admitted[i:] if t < start + 1.0) <= rate / 60


# -- HttpConfig --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"user_agent": ""},
        {"user_agent": "python-requests/2.31"},
        {"timeout": 0},
        {"retries": -1},
        {"rate_per_minute": -5},
        {"cache_ttl": -1},
    ],
)
def test_config_rejects_bad_values(bad: dict[str, object]) -> None:
    options: dict[str, object] = {"user_agent": UA}
    options.update(bad)
    with pytest.raises(ValueError):
        HttpConfig(**options)  # type: ignore[arg-type]


def test_config_repr_hides_api_key() -> None:
    config = HttpConfig(user_agent=UA, api_key="sekrit-key-123")
    assert "sekrit" not in repr(config)
    assert "sekrit" not in str(config)


# -- headers -----------------------------------------------------------------------------------


def test_user_agent_on_every_request_and_no_key_by_default(rsps: responses.RequestsMock) -> None:
    rsps.get(URL, json={})
    client, _ = make_client()
    client.get(URL, params="player=a")
    client.get(URL, params="player=b")
    assert [c.request.headers["User-Agent"] for c in rsps.calls] == [UA, UA]
    assert all("X-Api-Key" not in c.request.headers for c in rsps.calls)


def test_api_key_header_sent(rsps: responses.RequestsMock) -> None:
    rsps.get(URL, json={})
    client, _ = make_client(api_key="k-123", api_key_header="X-Proxy-Token")
    client.get(URL)
    assert rsps.calls[0].request.headers["X-Proxy-Token"] == "k-123"


def test_requests_and_requests_cache_are_imported_lazily() -> None:
    code = (
        "import sys, poller.http, poller.hiscores\n"
        "assert 'requests' not in sys.modules, 'requests imported'\n"
        "assert 'requests_cache' not in sys.modules, 'requests_cache imported'\n"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


# -- statuses, retries, backoff ----------------------------------------------------------------


def test_success_returns_response(rsps: responses.RequestsMock) -> None:
    rsps.get(URL, json={"skills": []})
    client, fake = make_client()
    response = client.get(URL)
    assert response.status_code == 200
    assert response.json() == {"skills": []}
    assert fake.sleeps == []
    assert client.requests_made == 1


@pytest.mark.parametrize("status", [400, 403, 404])
def test_client_errors_are_returned_not_retried(rsps: responses.RequestsMock, status: int) -> None:
    rsps.get(URL, status=status)
    client, fake = make_client()
    assert client.get(URL).status_code == status
    assert len(rsps.calls) == 1
    assert fake.sleeps == []


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_retry_then_raise_unavailable(
    rsps: responses.RequestsMock, status: int
) -> None:
    rsps.get(URL, status=status)
    client, fake = make_client(retries=3)
    with pytest.raises(HiscoresUnavailable, match=f"HTTP {status}"):
        client.get(URL)
    assert len(rsps.calls) == 4
    # rng pinned at the top of the range: the exponential caps themselves.
    assert fake.sleeps == [1.0, 2.0, 4.0]


def test_backoff_is_full_jitter_scaled_by_rng(rsps: responses.RequestsMock) -> None:
    rsps.get(URL, status=500)
    client, fake = make_client(rng=0.25, retries=3, backoff_base=2.0)
    with pytest.raises(HiscoresUnavailable):
        client.get(URL)
    assert fake.sleeps == [0.5, 1.0, 2.0]


def test_backoff_capped_at_backoff_max(rsps: responses.RequestsMock) -> None:
    rsps.get(URL, status=503)
    client, fake = make_client(retries=4, backoff_base=10.0, backoff_max=15.0)
    with pytest.raises(HiscoresUnavailable):
        client.get(URL)
    assert fake.sleeps == [10.0, 15.0, 15.0, 15.0]


def test_zero_retries_means_one_attempt(rsps: responses.RequestsMock) -> None:
    rsps.get(URL, status=500)
    client, fake = make_client(retries=0)
    with pytest.raises(HiscoresUnavailable):
        client.get(URL)
    assert len(rsps.calls) == 1
    assert fake.sleeps == []


def test_recovers_after_transient_failure(rsps: responses.RequestsMock) -> None:
    rsps.get(URL, status=503)
    rsps.get(URL, json={"ok": True})
    client, fake = make_client()
    assert client.get(URL).json() == {"ok": True}
    assert fake.sleeps == [1.0]
    assert client.requests_made == 2


def test_timeout_raises_unavailable(rsps: responses.RequestsMock) -> None:
    rsps.get(URL, body=requests.exceptions.ReadTimeout("read timed out"))
    client, fake = make_client(retries=2, timeout=4.5)
    with pytest.raises(HiscoresUnavailable, match="timed out after 4.5s") as info:
        client.get(URL)
    assert isinstance(info.value.__cause__, requests.Timeout)
    assert len(rsps.calls) == 3
    assert fake.sleeps == [1.0, 2.0]


def test_connection_error_raises_unavailable(rsps: responses.RequestsMock) -> None:
    rsps.get(URL, body=requests.exceptions.ConnectionError("Name or service not known"))
    client, _ = make_client(retries=1)
    with pytest.raises(HiscoresUnavailable, match="connection failed"):
        client.get(URL)
    assert len(rsps.calls) == 2


def test_invalid_request_is_not_retried(rsps: responses.RequestsMock) -> None:
    rsps.get(URL, body=requests.exceptions.TooManyRedirects("loop"))
    client, fake = make_client()
    with pytest.raises(ValidationError):
        client.get(URL)
    assert len(rsps.calls) == 1
    assert fake.sleeps == []


def test_429_honours_retry_after_seconds(rsps: responses.RequestsMock) -> None:
    rsps.get(URL, status=429, headers={"Retry-After": "7"})
    rsps.get(URL, json={})
    client, fake = make_client(rate_per_minute=60)
    assert client.get(URL).status_code == 200
    assert fake.sleeps == [7.0]


def test_429_retry_after_defers_other_callers(rsps: responses.RequestsMock) -> None:
    class RecordingLimiter:
        def __init__(self) -> None:
            self.acquired = 0
            self.deferred: list[float] = []

        def acquire(self) -> float:
            self.acquired += 1
            return 0.0

        def defer(self, seconds: float) -> None:
            self.deferred.append(seconds)

    rsps.get(URL, status=429, headers={"Retry-After": "3"})
    rsps.get(URL, json={})
    limiter = RecordingLimiter()
    fake = FakeClock()
    client = HttpClient(HttpConfig(user_agent=UA, cache_ttl=0), limiter=limiter, sleep=fake.sleep)
    client.get(URL)
    assert limiter.deferred == [3.0]  # every worker sharing the limiter holds off
    assert limiter.acquired == 2
    assert fake.sleeps == [3.0]


def test_429_retry_after_beyond_backoff_max_raises_at_once(
    rsps: responses.RequestsMock,
) -> None:
    rsps.get(URL, status=429, headers={"Retry-After": "120"})
    client, fake = make_client(backoff_max=30.0)
    with pytest.raises(RateLimitError) as info:
        client.get(URL)
    assert info.value.retry_after == 120.0
    assert len(rsps.calls) == 1
    assert fake.sleeps == []


def test_429_without_retry_after_backs_off_then_raises(rsps: responses.RequestsMock) -> None:
    rsps.get(URL, status=429)
    client, fake = make_client(retries=2)
    with pytest.raises(RateLimitError) as info:
        client.get(URL)
    assert info.value.retry_after is None
    assert fake.sleeps == [1.0, 2.0]
    assert len(rsps.calls) == 3


def test_429_http_date_retry_after(rsps: responses.RequestsMock) -> None:
    rsps.get(URL, status=429, headers={"Retry-After": "Fri, 31 Dec 2100 23:59:59 GMT"})
    client, _ = make_client()
    with pytest.raises(RateLimitError) as info:
        client.get(URL)
    assert info.value.retry_after is not None and info.value.retry_after > 1e9


def test_429_garbage_retry_after_falls_back_to_backoff(rsps: responses.RequestsMock) -> None:
    rsps.get(URL, status=429, headers={"Retry-After": "soon"})
    rsps.get(URL, json={})
    client, fake = make_client()
    client.get(URL)
    assert fake.sleeps == [1.0]


def test_error_messages_hold_no_query_or_secret(rsps: responses.RequestsMock) -> None:
    url = "https://user:pw@hiscores.test/m=hiscore_oldschool/index_lite.json"
    rsps.get(url, status=500)
    client, _ = make_client(retries=0, api_key="sekrit")
    with pytest.raises(HiscoresUnavailable) as info:
        client.get(url, params="player=Zezima&token=abc")
    message = str(info.value)
    for secret in ("sekrit", "pw", "token", "abc", "Zezima"):
        assert secret not in message
    assert "hiscores.test/m=hiscore_oldschool/index_lite.json" in message


# -- rate limiting through the client ----------------------------------------------------------


def test_client_spaces_network_requests(rsps: responses.RequestsMock) -> None:
    rsps.get(URL, json={})
    client, fake = make_client(rate_per_minute=30)
    for i in range(3):
        client.get(URL, params=f"player=p{i}")
    assert fake.sleeps == [2.0, 2.0]


def test_retries_also_wait_for_the_rate_limit(rsps: responses.RequestsMock) -> None:
    rsps.get(URL, status=500)
    rsps.get(URL, json={})
    client, fake = make_client(rate_per_minute=6, rng=0.0)  # 10 s apart, zero backoff
    client.get(URL)
    assert fake.sleeps == [0.0, 10.0]


# -- cache -------------------------------------------------------------------------------------


def test_cache_hit_within_ttl_skips_network_and_limiter(rsps: responses.RequestsMock) -> None:
    rsps.get(URL, json={"n": 1})
    client, fake = make_client(cache_ttl=300, rate_per_minute=60)
    first = client.get(URL, params="player=Lynx%20Titan")
    second = client.get(URL, params="player=Lynx%20Titan")
    assert second.json() == first.json() == {"n": 1}
    assert len(rsps.calls) == 1
    assert (client.requests_made, client.cache_hits) == (1, 1)
    assert fake.sleeps == []  # a cache hit does not wait for a network slot


def test_cache_is_per_url(rsps: responses.RequestsMock) -> None:
    rsps.get(URL, json={})
    client, _ = make_client(cache_ttl=300)
    client.get(URL, params="player=a")
    client.get(URL, params="player=b")
    assert len(rsps.calls) == 2


def test_cache_false_bypasses_cache(rsps: responses.RequestsMock) -> None:
    rsps.get(URL, json={})
    client, _ = make_client(cache_ttl=300)
    client.get(URL)
    client.get(URL, cache=False)
    assert len(rsps.calls) == 2
    assert client.cache_hits == 0
    # ...and did not write either: the original entry still answers.
    client.get(URL)
    assert len(rsps.calls) == 2


@pytest.mark.parametrize("status", [404, 500])
def test_only_200_is_cached(rsps: responses.RequestsMock, status: int) -> None:
    rsps.get(URL, status=status)
    client, _ = make_client(cache_ttl=300, retries=0)
    for _ in range(2):
        try:
            client.get(URL)
        except HiscoresUnavailable:
            pass
    assert len(rsps.calls) == 2
    assert client.cache_hits == 0


@pytest.mark.parametrize(
    ("body", "content_type"),
    [("<html>maintenance</html>", "text/html"), ("  <!DOCTYPE html>", "application/json")],
)
def test_html_200_is_not_cached(rsps: responses.RequestsMock, body: str, content_type: str) -> None:
    rsps.get(URL, body=body, content_type=content_type)
    client, _ = make_client(cache_ttl=300)
    client.get(URL)
    client.get(URL)
    assert len(rsps.calls) == 2
    assert client.cache_hits == 0


def test_cache_expires_after_ttl(rsps: responses.RequestsMock) -> None:
    rsps.get(URL, json={})
    client, _ = make_client(cache_ttl=1)
    client.get(URL)
    client.get(URL)
    assert len(rsps.calls) == 1
    time.sleep(1.1)  # requests-cache reads the wall clock; 1 s is its smallest TTL unit here
    client.get(URL)
    assert len(rsps.calls) == 2


def test_ttl_zero_means_no_cache(rsps: responses.RequestsMock) -> None:
    rsps.get(URL, json={})
    client, _ = make_client(cache_ttl=0)
    client.get(URL)
    client.get(URL)
    assert len(rsps.calls) == 2


def test_sqlite_cache_persists_across_clients_and_hides_key(
    rsps: responses.RequestsMock, tmp_path: Path
) -> None:
    rsps.get(URL, json={"persisted": True})
    path = str(tmp_path / "http-cache.sqlite")
    first, _ = make_client(cache_ttl=300, cache_path=path, api_key="sekrit-key-42")
    first.get(URL)
    first.close()
    second, _ = make_client(cache_ttl=300, cache_path=path, api_key="sekrit-key-42")
    assert second.get(URL).json() == {"persisted": True}
    second.close()
    assert len(rsps.calls) == 1
    assert b"sekrit-key-42" not in Path(path).read_bytes()


def test_a_new_client_drops_expired_responses_from_the_sqlite_cache(
    rsps: responses.RequestsMock, tmp_path: Path
) -> None:
    """Hourly cron runs with a 5-minute TTL must not pile up every player's old response."""
    import sqlite3

    rsps.get(URL, json={"big": "x" * 1000})
    path = str(tmp_path / "http-cache.sqlite")
    first, _ = make_client(cache_ttl=1, cache_path=path)
    first.get(URL)
    first.close()

    def rows() -> int:
        with sqlite3.connect(path) as conn:
            return conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    assert rows() == 1
    time.sleep(1.1)
    second, _ = make_client(cache_ttl=1, cache_path=path)
    second.get(URL + "?other=1")  # the session opens: the expired entry goes
    second.close()
    assert rows() == 1  # only the new response remains
    assert len(rsps.calls) == 2


def test_unopenable_cache_warns_once_and_runs_uncached(
    rsps: responses.RequestsMock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a directory should be")
    rsps.get(URL, json={})
    client, _ = make_client(cache_ttl=300, cache_path=str(blocker / "cache.sqlite"))
    with caplog.at_level(logging.WARNING, logger="osrs_notify.http"):
        client.get(URL)
        client.get(URL)
    assert len(rsps.calls) == 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "without a cache" in warnings[0].getMessage()


def test_cache_failure_mid_run_falls_back(
    rsps: responses.RequestsMock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import sqlite3

    rsps.get(URL, json={"ok": 1})
    client, _ = make_client(cache_ttl=300, cache_path=str(tmp_path / "c.sqlite"))
    client.get(URL, params="player=a")
    session = client._get_session()

    def broken(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    session.cache.get_response = broken
    with caplog.at_level(logging.WARNING, logger="osrs_notify.http"):
        assert client.get(URL, params="player=a").json() == {"ok": 1}
        assert client.get(URL, params="player=a").json() == {"ok": 1}
    assert len(rsps.calls) == 3
    assert sum(r.levelno == logging.WARNING for r in caplog.records) == 1


def test_concurrent_gets_share_one_sqlite_cache(
    rsps: responses.RequestsMock, tmp_path: Path
) -> None:
    rsps.get(URL, json={})
    client, _ = make_client(cache_ttl=300, cache_path=str(tmp_path / "c.sqlite"))
    names = [f"player=p{i % 10}" for i in range(40)]
    # Warm each key once so the threaded phase is deterministic: 30 hits, no new requests.
    for params in names[:10]:
        client.get(URL, params=params)
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda p: client.get(URL, params=p).status_code, names[10:]))
    assert statuses == [200] * 30
    assert client.requests_made == 10
    assert client.cache_hits == 30
    client.close()


def test_concurrent_misses_are_all_counted(rsps: responses.RequestsMock) -> None:
    rsps.get(URL, json={})
    client, _ = make_client(cache_ttl=300)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda i: client.get(URL, params=f"player=q{i}"), range(50)))
    assert client.requests_made == 50 == len(rsps.calls)


def test_injected_session_is_used(rsps: responses.RequestsMock) -> None:
    rsps.get(URL, json={})
    session = requests.Session()
    fake = FakeClock()
    client = HttpClient(
        HttpConfig(user_agent=UA, rate_per_minute=60),
        session=session,
        sleep=fake.sleep,
        clock=fake.clock,
    )
    client.get(URL)
    client.get(URL)
    assert session.headers["User-Agent"] == UA
    assert client.requests_made == 2
    assert fake.sleeps == [1.0]  # the limiter still gates an injected session


def test_close_then_reuse_reopens(rsps: responses.RequestsMock) -> None:
    rsps.get(URL, json={})
    with make_client(cache_ttl=300)[0] as client:
        client.get(URL)
        client.close()
        client.get(URL)
    assert len(rsps.calls) == 2  # the in-memory cache went with the closed session
