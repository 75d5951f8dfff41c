"""WebhookSender against Discord's answers, served by `responses` (no network, fake clock).

Every token here is an obvious fake; the last tests check that none of them ever leaks.
"""

from __future__ import annotations

import json
import logging

import pytest
import requests
import responses

from notifier.sender import DEFAULT_BAN_PAUSE, SendResult, WebhookSender, backoff
from notifier.webhook import WebhookAddress

import support

API = "https://discord.test/api/v10"
TOKEN_A = "FAKE_TOKEN_A_" + "a" * 55
TOKEN_B = "FAKE_TOKEN_B_" + "b" * 55
A = WebhookAddress("123456789012345678", TOKEN_A)
B = WebhookAddress("223456789012345678", TOKEN_B)
URL_A = A.url(API)
URL_B = B.url(API)
BODY = {"content": "Lynx Titan — Attack 69 → 70", "allowed_mentions": {"parse": []}}
EPOCH = 1_700_000_000.0


class FakeClock(support.FakeClock):
    """The sender's clock, plus the wall time it would read at that moment."""

    def wall(self) -> float:
        return EPOCH + (self.now - 1000.0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sender(clock: FakeClock) -> WebhookSender:
    return WebhookSender(
        API, clock=clock, sleep=clock.sleep, wall_clock=clock.wall, max_wait=30.0
    )


@pytest.fixture
def mocked():
    with responses.RequestsMock() as rsps:
        yield rsps


def ok(rsps: responses.RequestsMock, url: str = URL_A, **headers: str) -> None:
    rsps.add(responses.POST, url, json={"id": "999000000000000001"}, headers=headers)


def limited(
    rsps: responses.RequestsMock,
    retry_after: float,
    *,
    url: str = URL_A,
    is_global: bool = False,
    headers: dict[str, str] | None = None,
) -> None:
    doc = {"message": "You are being rate limited.", "retry_after": retry_after,
           "global": is_global}
    rsps.add(responses.POST, url, status=429, json=doc, headers=headers or {})


# --- success and the request itself ---------------------------------------------------------


def test_sent_posts_json_with_wait_true(sender: WebhookSender, mocked) -> None:
    ok(mocked)
    result = sender.send(A, BODY)
    assert result == SendResult("sent", 200, None, None, 1, 0.0, "999000000000000001")
    assert result.ok and not result.permanent and not result.transient
    request = mocked.calls[0].request
    assert request.url == f"{URL_A}?wait=true"
    assert json.loads(request.body) == BODY
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == "osrs-notify"


def test_thread_id_goes_in_the_query(sender: WebhookSender, mocked) -> None:
    ok(mocked)
    assert sender.send(A, BODY, thread_id="876543210987654321").outcome == "sent"
    assert mocked.calls[0].request.url == f"{URL_A}?wait=true&thread_id=876543210987654321"


def test_custom_api_base_and_user_agent(clock: FakeClock, mocked) -> None:
    base = "http://127.0.0.1:9999/proxy/api/v10/"
    sender = WebhookSender(base, clock=clock, sleep=clock.sleep, user_agent="osrs-notify/9 (x)")
    mocked.add(responses.POST, A.url(base.rstrip("/")), status=204)
    result = sender.send(A, BODY)
    assert result.outcome == "sent" and result.message_id is None
    assert mocked.calls[0].request.headers["User-Agent"] == "osrs-notify/9 (x)"


def test_unserialisable_body_is_rejected_without_a_request(sender: WebhookSender, mocked) -> None:
    result = sender.send(A, {"content": object()})
    assert result.outcome == "reject" and result.attempts == 0 and result.status is None
    assert "not JSON" in (result.error or "")
    assert len(mocked.calls) == 0


# --- waiting before a request would be refused ---------------------------------------------


def test_empty_bucket_waits_for_reset_after_on_that_webhook_only(
    sender: WebhookSender, clock: FakeClock, mocked
) -> None:
    ok(mocked, **{"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0",
                  "X-RateLimit-Reset-After": "1.5", "X-RateLimit-Bucket": "abcd"})
    ok(mocked, url=URL_B, **{"X-RateLimit-Remaining": "4", "X-RateLimit-Reset-After": "2"})
    assert sender.send(A, BODY).outcome == "sent"
    assert clock.sleeps == []

    assert sender.send(B, BODY).outcome == "sent"  # another webhook: its own bucket
    assert clock.sleeps == []

    result = sender.send(A, BODY)
    assert result.outcome == "sent"
    assert clock.sleeps == [1.5]
    assert result.elapsed == pytest.approx(1.5)
    assert len(mocked.calls) == 3


def test_remaining_above_zero_does_not_wait(
    sender: WebhookSender, clock: FakeClock, mocked
) -> None:
    ok(mocked, **{"X-RateLimit-Remaining": "1", "X-RateLimit-Reset-After": "1.5"})
    sender.send(A, BODY)
    sender.send(A, BODY)
    assert clock.sleeps == []


def test_reset_epoch_is_used_without_reset_after(
    sender: WebhookSender, clock: FakeClock, mocked
) -> None:
    ok(mocked, **{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": f"{EPOCH + 2.25}"})
    sender.send(A, BODY)
    sender.send(A, BODY)
    assert clock.sleeps == [pytest.approx(2.25)]


def test_reset_after_is_preferred_over_reset(
    sender: WebhookSender, clock: FakeClock, mocked
) -> None:
    ok(mocked, **{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": f"{EPOCH + 9}",
                  "X-RateLimit-Reset-After": "0.5"})
    sender.send(A, BODY)
    sender.send(A, BODY)
    assert clock.sleeps == [0.5]


def test_a_wait_past_max_wait_pauses_without_a_request(
    sender: WebhookSender, clock: FakeClock, mocked
) -> None:
    ok(mocked, **{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "45"})
    sender.send(A, BODY)
    result = sender.send(A, BODY)
    assert result.outcome == "paused" and result.transient
    assert result.attempts == 0 and result.status is None
    assert result.retry_after == pytest.approx(45)
    assert clock.sleeps == [] and len(mocked.calls) == 1
    assert sender.paused_until(A) == pytest.approx(clock.now + 45)
    assert sender.paused_until(B) is None and sender.paused_until() is None


# --- 429 ------------------------------------------------------------------------------------


def test_429_waits_retry_after_float_then_sends(
    sender: WebhookSender, clock: FakeClock, mocked
) -> None:
    limited(mocked, 0.75, headers={"Retry-After": "1", "X-RateLimit-Remaining": "0",
                                   "X-RateLimit-Reset-After": "0.75"})
    ok(mocked)
    result = sender.send(A, BODY)
    assert result.outcome == "sent" and result.attempts == 2
    assert clock.sleeps == [0.75]
    assert result.elapsed == pytest.approx(0.75)


def test_429_without_retry_after_in_body_uses_the_header(
    sender: WebhookSender, clock: FakeClock, mocked
) -> None:
    mocked.add(responses.POST, URL_A, status=429, json={"message": "You are being rate limited."},
               headers={"Retry-After": "2"})
    ok(mocked)
    assert sender.send(A, BODY).outcome == "sent"
    assert clock.sleeps == [2.0]


def test_429_is_retried_at_most_three_times(
    sender: WebhookSender, clock: FakeClock, mocked
) -> None:
    for _ in range(3):
        limited(mocked, 0.25)
    result = sender.send(A, BODY)
    assert result.outcome == "paused" and result.status == 429
    assert result.attempts == 3 and len(mocked.calls) == 3
    assert result.retry_after == 0.25
    assert clock.sleeps == [0.25, 0.25]


def test_429_longer_than_max_wait_pauses_this_webhook_only(
    sender: WebhookSender, clock: FakeClock, mocked
) -> None:
    limited(mocked, 120.5)
    ok(mocked, url=URL_B)
    result = sender.send(A, BODY)
    assert result.outcome == "paused" and result.retry_after == 120.5 and result.attempts == 1
    assert "429" in (result.error or "") and "webhook" in (result.error or "")
    assert clock.sleeps == []

    again = sender.send(A, BODY)  # still waiting: no request, no 429 collected
    assert again.outcome == "paused" and again.attempts == 0
    assert again.retry_after == pytest.approx(120.5)

    assert sender.send(B, BODY).outcome == "sent"
    assert sender.global_pause_remaining() == 0.0
    assert len(mocked.calls) == 2


@pytest.mark.parametrize(
    ("is_global", "headers"),
    [
        (True, {}),
        (False, {"X-RateLimit-Global": "true"}),
        (False, {"X-RateLimit-Scope": "global"}),
    ],
    ids=["body", "global-header", "scope-header"],
)
def test_global_429_pauses_every_webhook(
    sender: WebhookSender, clock: FakeClock, mocked, is_global: bool, headers: dict[str, str]
) -> None:
    limited(mocked, 60.0, is_global=is_global, headers=headers)
    result = sender.send(A, BODY)
    assert result.outcome == "paused" and result.retry_after == 60.0
    assert "global" in (result.error or "")

    other = sender.send(B, BODY)
    assert other.outcome == "paused" and other.attempts == 0
    assert other.retry_after == pytest.approx(60.0)
    assert len(mocked.calls) == 1
    assert sender.global_pause_remaining() == pytest.approx(60.0)
    assert sender.paused_until() == pytest.approx(clock.now + 60.0)


def test_short_global_429_is_waited_out_by_every_webhook(
    sender: WebhookSender, clock: FakeClock, mocked
) -> None:
    limited(mocked, 1.25, is_global=True)
    ok(mocked)
    ok(mocked, url=URL_B)
    assert sender.send(A, BODY).outcome == "sent"
    assert clock.sleeps == [1.25]
    assert sender.send(B, BODY).outcome == "sent"  # the pause is over
    assert clock.sleeps == [1.25]


def test_global_pause_blocks_another_webhook_within_max_wait(
    sender: WebhookSender, clock: FakeClock, mocked
) -> None:
    sender.pause_all(3.0)
    ok(mocked, url=URL_B)
    assert sender.send(B, BODY).outcome == "sent"
    assert clock.sleeps == [3.0]


def test_html_429_is_an_edge_ban_pausing_everything(
    sender: WebhookSender, clock: FakeClock, mocked
) -> None:
    page = "<!DOCTYPE html><html><title>Error 1015</title>You are being rate limited</html>"
    mocked.add(responses.POST, URL_A, status=429, content_type="text/html", body=page)
    result = sender.send(A, BODY)
    assert result.outcome == "paused" and result.status == 429 and result.attempts == 1
    assert result.retry_after == DEFAULT_BAN_PAUSE == 3600.0
    assert "Cloudflare" in (result.error or "")
    assert clock.sleeps == []
    assert sender.global_pause_remaining() == pytest.approx(3600.0)
    assert sender.send(B, BODY).outcome == "paused"
    assert len(mocked.calls) == 1


def test_ban_pause_is_configurable(clock: FakeClock, mocked) -> None:
    sender = WebhookSender(API, clock=clock, sleep=clock.sleep, ban_pause=7200.0)
    mocked.add(responses.POST, URL_A, status=429, body="<html>banned</html>",
               content_type="text/html")
    assert sender.send(A, BODY).retry_after == 7200.0


def test_pause_can_be_saved_and_restored_across_runs(clock: FakeClock) -> None:
    first = WebhookSender(API, clock=clock, sleep=clock.sleep)
    first.pause_all(900.0)
    first.pause_all(10.0)  # never shortens
    clock.now += 100.0
    saved = first.global_pause_remaining()
    assert saved == pytest.approx(800.0)

    second = WebhookSender(API, clock=clock, sleep=clock.sleep)
    assert second.paused_until() is None
    second.pause_all(saved)
    assert second.paused_until() == pytest.approx(clock.now + 800.0)
    assert second.send(A, BODY).outcome == "paused"


# --- failures -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kwargs", "retry_after"),
    [
        (500, {"json": {"message": "500: Internal Server Error", "code": 0}}, None),
        (502, {"body": "<html>502 Bad Gateway</html>", "content_type": "text/html"}, None),
        (503, {"body": "upstream overloaded", "headers": {"Retry-After": "7"}}, 7.0),
    ],
)
def test_server_errors_are_retried_later_not_now(
    sender: WebhookSender, clock: FakeClock, mocked, status: int, kwargs: dict, retry_after
) -> None:
    mocked.add(responses.POST, URL_A, status=status, **kwargs)
    result = sender.send(A, BODY)
    assert result.outcome == "retry" and result.transient and not result.permanent
    assert result.status == status and result.attempts == 1
    assert result.retry_after == retry_after
    assert str(status) in (result.error or "")
    assert clock.sleeps == [] and len(mocked.calls) == 1


@pytest.mark.parametrize(
    "exc",
    [
        requests.exceptions.ConnectTimeout(
            f"HTTPSConnectionPool(host='discord.test', port=443): Max retries exceeded with "
            f"url: /api/v10/webhooks/{A.id}/{TOKEN_A}?wait=true (connect timeout=10)"
        ),
        requests.exceptions.ReadTimeout("Read timed out. (read timeout=10)"),
        requests.exceptions.ConnectionError(
            f"Failed to establish a new connection: {URL_A}?wait=true refused"
        ),
    ],
)
def test_timeouts_and_connection_errors_are_retried_later(
    sender: WebhookSender, mocked, exc: Exception
) -> None:
    mocked.add(responses.POST, URL_A, body=exc)
    result = sender.send(A, BODY)
    assert result.outcome == "retry" and result.status is None and result.attempts == 1
    assert result.error and "\n" not in result.error
    assert TOKEN_A not in result.error


@pytest.mark.parametrize(
    ("status", "doc", "expected"),
    [
        (404, {"message": "Unknown Webhook", "code": 10015}, "404 Unknown Webhook (10015)"),
        (401, {"message": "Invalid Webhook Token", "code": 50027},
         "401 Invalid Webhook Token (50027)"),
    ],
)
def test_deleted_webhook_or_bad_token_disables(
    sender: WebhookSender, mocked, status: int, doc: dict, expected: str
) -> None:
    mocked.add(responses.POST, URL_A, status=status, json=doc)
    result = sender.send(A, BODY)
    assert result.outcome == "disable" and result.permanent
    assert result.status == status and result.error == expected and result.attempts == 1


def test_404_that_is_not_discords_says_to_check_the_api_base(
    sender: WebhookSender, mocked
) -> None:
    mocked.add(responses.POST, URL_A, status=404, body="<html>nginx</html>",
               content_type="text/html")
    result = sender.send(A, BODY)
    assert result.outcome == "disable"
    assert "DISCORD_API_BASE" in (result.error or "")


def test_400_records_discords_error(sender: WebhookSender, mocked) -> None:
    doc = {
        "message": "Invalid Form Body",
        "code": 50035,
        "errors": {"embeds": {"0": {"description": {"_errors": [
            {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 4096 or fewer in length."}
        ]}}}},
    }
    mocked.add(responses.POST, URL_A, status=400, json=doc)
    result = sender.send(A, BODY)
    assert result.outcome == "reject" and result.permanent and result.attempts == 1
    assert result.error == (
        "400 Invalid Form Body (50035): embeds.0.description: Must be 4096 or fewer in length"
    )


def test_400_lists_every_error(sender: WebhookSender, mocked) -> None:
    doc = {"message": "Invalid Form Body", "code": 50035, "errors": {
        "content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH",
                                 "message": "Must be 2000 or fewer in length."}]},
        "embeds": {"_errors": [{"code": "MAX_EMBED_SIZE_EXCEEDED",
                                "message": "Embed size exceeds maximum size of 6000"}]},
    }}
    mocked.add(responses.POST, URL_A, status=400, json=doc)
    assert sender.send(A, BODY).error == (
        "400 Invalid Form Body (50035): content: Must be 2000 or fewer in length; "
        "embeds: Embed size exceeds maximum size of 6000"
    )


def test_400_without_errors_tree(sender: WebhookSender, mocked) -> None:
    mocked.add(responses.POST, URL_A, status=400,
               json={"message": "Cannot send an empty message", "code": 50006})
    assert sender.send(A, BODY).error == "400 Cannot send an empty message (50006)"


def test_413_asks_the_caller_to_split(sender: WebhookSender, mocked) -> None:
    mocked.add(responses.POST, URL_A, status=413,
               json={"message": "Request entity too large", "code": 40005})
    result = sender.send(A, BODY)
    assert result.outcome == "too_large" and result.status == 413
    assert result.error == "413 Request entity too large (40005)"


def test_other_4xx_is_rejected(sender: WebhookSender, mocked) -> None:
    mocked.add(responses.POST, URL_A, status=403, json={"message": "Missing Access", "code": 50001})
    result = sender.send(A, BODY)
    assert result.outcome == "reject" and result.error == "403 Missing Access (50001)"


# --- the token stays secret -----------------------------------------------------------------


def test_token_appears_in_no_result_and_no_log(
    clock: FakeClock, mocked, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sender = WebhookSender(API, clock=clock, sleep=clock.sleep, max_wait=1.0)
    echo = f"/api/v10/webhooks/{A.id}/{TOKEN_A}?wait=true"
    mocked.add(responses.POST, URL_A, json={"id": "1"})
    mocked.add(responses.POST, URL_A, status=400, json={"message": f"bad {echo}", "code": 0})
    mocked.add(responses.POST, URL_A, status=404, json={"message": "Unknown Webhook",
                                                        "code": 10015})
    mocked.add(responses.POST, URL_A, status=401, body=f"denied {URL_A}")
    mocked.add(responses.POST, URL_A, status=500, body=f"oops at {echo}")
    mocked.add(responses.POST, URL_A, body=requests.exceptions.ConnectionError(f"no route {echo}"))
    mocked.add(responses.POST, URL_A, body=requests.exceptions.ReadTimeout(f"slow {echo}"))
    mocked.add(responses.POST, URL_A, status=429, json={"retry_after": 5.0, "global": False})
    results = [sender.send(A, BODY) for _ in range(8)]
    mocked.add(responses.POST, URL_B, status=429, body=f"<html>{URL_B}</html>",
               content_type="text/html")
    results.append(sender.send(B, BODY))
    results.append(sender.send(A, BODY))  # paused: no request

    outcomes = [r.outcome for r in results]
    assert outcomes == ["sent", "reject", "disable", "disable", "retry", "retry", "retry",
                        "paused", "paused", "paused"]
    for result in results:
        for token in (TOKEN_A, TOKEN_B):
            assert token not in repr(result)
            assert token not in str(result.error)
    assert caplog.records, "the sender logs what it does"
    for token in (TOKEN_A, TOKEN_B):
        assert token not in caplog.text
    assert repr(A) == "WebhookAddress('…/webhooks/123…/****')"


def test_urllib3_request_lines_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    """At DEBUG, urllib3 logs each request line with its path; the path holds the token."""
    WebhookSender(API)  # installs the mask on the library's loggers
    caplog.set_level(logging.DEBUG)
    logging.getLogger("urllib3.connectionpool").debug(
        '%s://%s:%s "%s %s %s" %s %s', "https", "discord.com", 443, "POST",
        f"/api/v10/webhooks/{A.id}/{TOKEN_A}?wait=true", "HTTP/1.1", 204, 0,
    )
    assert TOKEN_A not in caplog.text
    assert "/webhooks/123…/****?wait=true" in caplog.text


# --- backoff --------------------------------------------------------------------------------


def test_backoff_grows_exponentially_under_full_jitter() -> None:
    top = [backoff(n, rng=lambda: 0.999999) for n in range(1, 10)]
    assert top[:4] == pytest.approx([30.0, 60.0, 120.0, 240.0], rel=1e-5)
    assert top[-1] == pytest.approx(3600.0, rel=1e-5)  # capped
    assert all(a <= b for a, b in zip(top, top[1:], strict=False))


def test_backoff_has_a_floor_and_a_cap() -> None:
    assert backoff(1, rng=lambda: 0.0) == 5.0
    assert backoff(0, rng=lambda: 0.5) == 15.0  # attempts below 1 count as 1
    assert backoff(10_000, rng=lambda: 1.0) == 3600.0  # no overflow
    assert backoff(3, base=1.0, cap=2.0, rng=lambda: 1.0) == 2.0
    assert backoff(3, base=1.0, cap=2.0, rng=lambda: 0.0) == 2.0  # the floor never passes the cap


def test_backoff_is_jittered() -> None:
    values = {round(backoff(5), 6) for _ in range(50)}
    assert len(values) > 10
    assert all(5.0 <= v <= 480.0 for v in values)
