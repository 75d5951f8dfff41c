"""The fake Discord server used by end-to-end tests, checked with plain requests on 127.0.0.1.

If the fake is wrong, every end-to-end test built on it is wrong, so its answers are pinned here:
limits, buckets and headers, faults, auth errors and the record of delivered messages.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e" / "osrs"))
from fake_discord import BAN_HTML, FakeDiscord  # noqa: E402

from notifier.sender import WebhookSender  # noqa: E402
from notifier.webhook import parse_webhook_url  # noqa: E402

OK = {"content": "hello", "allowed_mentions": {"parse": []}}


@pytest.fixture
def discord() -> Iterator[FakeDiscord]:
    with FakeDiscord() as fake:
        yield fake


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def post(http: requests.Session, discord: FakeDiscord, hook_id: str, body: object, **params: str):
    url = f"{discord.api_base}/webhooks/{hook_id}/{discord.token(hook_id)}"
    return http.post(url, json=body, params=params or {"wait": "true"}, timeout=5)


# --- routes, auth, recording ----------------------------------------------------------------


def test_accepted_message_is_recorded_and_returned(discord: FakeDiscord, http) -> None:
    hook = discord.add_webhook()
    resp = post(http, discord, hook.id, OK, wait="true", thread_id="444444444444444444")
    assert resp.status_code == 200
    doc = resp.json()
    assert doc["webhook_id"] == hook.id and doc["content"] == "hello"
    assert doc["channel_id"] == "444444444444444444"
    [delivery] = discord.messages
    assert delivery.webhook_id == hook.id and delivery.body == OK
    assert delivery.thread_id == "444444444444444444" and delivery.message_id == doc["id"]
    assert abs(delivery.time - time.time()) < 5


def test_without_wait_the_answer_is_204(discord: FakeDiscord, http) -> None:
    hook = discord.add_webhook()
    resp = post(http, discord, hook.id, OK, wait="false")
    assert resp.status_code == 204 and resp.content == b""
    assert len(discord.messages) == 1


def test_pasted_url_and_api_base_reach_the_same_webhook(discord: FakeDiscord, http) -> None:
    hook = discord.add_webhook(name="clan")
    pasted = discord.webhook_url(hook.id)
    assert pasted.startswith("http://127.0.0.1:") and "/api/webhooks/" in pasted
    address = parse_webhook_url(pasted)
    assert (address.id, address.token) == (hook.id, hook.token)
    assert http.post(pasted, json=OK, timeout=5).status_code == 204
    assert http.post(address.url(discord.api_base), json=OK, timeout=5).status_code == 204
    got = http.get(address.url(discord.api_base), timeout=5)
    assert got.status_code == 200
    assert got.json()["id"] == hook.id and got.json()["name"] == "clan"
    assert got.json()["channel_id"]
    assert len(discord.messages_for(hook.id)) == 2  # a GET posts nothing


def test_unknown_webhook_wrong_token_and_deleted(discord: FakeDiscord, http) -> None:
    hook = discord.add_webhook()
    base = f"{discord.api_base}/webhooks"
    unknown = http.post(f"{base}/999/{hook.token}", json=OK, timeout=5)
    assert unknown.status_code == 404
    assert unknown.json() == {"message": "Unknown Webhook", "code": 10015}
    wrong = http.post(f"{base}/{hook.id}/not-the-token", json=OK, timeout=5)
    assert wrong.status_code == 401
    assert wrong.json() == {"message": "Invalid Webhook Token", "code": 50027}
    assert http.get(f"{base}/{hook.id}/not-the-token", timeout=5).status_code == 401

    discord.delete(hook.id)
    gone = http.post(f"{base}/{hook.id}/{hook.token}", json=OK, timeout=5)
    assert gone.status_code == 404 and gone.json()["code"] == 10015
    assert discord.messages == []


# --- Discord's limits -----------------------------------------------------------------------


def embed(**fields: object) -> dict:
    return {"embeds": [fields], "allowed_mentions": {"parse": []}}


def field(name: str = "n", value: str = "v") -> dict:
    return {"name": name, "value": value}


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        ({"content": "x" * 2001, "allowed_mentions": {"parse": []}}, ("content",),
         "Must be 2000 or fewer in length."),
        ({"content": "x", "username": "u" * 81, "allowed_mentions": {"parse": []}},
         ("username",), "Must be between 1 and 80 in length."),
        ({"content": "x", "username": "Discord news", "allowed_mentions": {"parse": []}},
         ("username",), 'Username cannot contain "discord"'),
        ({"embeds": [{"title": "t"}] * 11, "allowed_mentions": {"parse": []}}, ("embeds",),
         "Must be 10 or fewer in length."),
        (embed(title="t" * 257), ("embeds", "0", "title"), "Must be 256 or fewer in length."),
        (embed(description="d" * 4097), ("embeds", "0", "description"),
         "Must be 4096 or fewer in length."),
        (embed(fields=[field()] * 26), ("embeds", "0", "fields"),
         "Must be 25 or fewer in length."),
        (embed(fields=[field(), field(name="n" * 257)]), ("embeds", "0", "fields", "1", "name"),
         "Must be 256 or fewer in length."),
        (embed(fields=[field(value="v" * 1025)]), ("embeds", "0", "fields", "0", "value"),
         "Must be 1024 or fewer in length."),
        (embed(fields=[field(value="")]), ("embeds", "0", "fields", "0", "value"),
         "This field is required"),
        (embed(footer={"text": "f" * 2049}), ("embeds", "0", "footer", "text"),
         "Must be 2048 or fewer in length."),
        (embed(author={"name": "a" * 257}), ("embeds", "0", "author", "name"),
         "Must be 256 or fewer in length."),
        ({"embeds": [{"description": "d" * 3001}, {"description": "d" * 3000}],
          "allowed_mentions": {"parse": []}}, ("embeds",),
         "Embed size exceeds maximum size of 6000"),
        ({"content": "x"}, ("allowed_mentions",), None),
        ({"content": "x", "allowed_mentions": {"parse": ["users"]}}, ("allowed_mentions",), None),
    ],
    ids=[
        "content", "username", "username-discord", "embeds", "title", "description", "fields",
        "field-name", "field-value", "field-empty", "footer", "author", "total-6000",
        "no-allowed-mentions", "mentions-allowed",
    ],
)
def test_limits_are_invalid_form_body(
    discord: FakeDiscord, http, body: dict, path: tuple[str, ...], message: str | None
) -> None:
    hook = discord.add_webhook()
    resp = post(http, discord, hook.id, body)
    assert resp.status_code == 400
    doc = resp.json()
    assert doc["code"] == 50035 and doc["message"] == "Invalid Form Body"
    node = doc["errors"]
    for part in path:
        node = node[part]
    [error] = node["_errors"]
    assert error["code"]
    if message is not None:
        assert error["message"] == message
    assert discord.messages == []


def test_everything_exactly_at_the_limits_is_accepted(discord: FakeDiscord, http) -> None:
    hook = discord.add_webhook()
    fields = [field("n" * 10, "v" * 10) for _ in range(25)]  # 500 characters
    body = {
        "content": "c" * 2000,
        "username": "u" * 80,
        "embeds": [
            {"title": "t" * 256, "description": "d" * 4096, "fields": fields,
             "footer": {"text": "f" * 892}, "author": {"name": "a" * 256}},  # 6000 in all
        ],
        "allowed_mentions": {"parse": []},
    }
    assert post(http, discord, hook.id, body).status_code == 200
    ten = {"embeds": [{"title": "t"}] * 10, "allowed_mentions": {"parse": []}}
    assert post(http, discord, hook.id, ten).status_code == 200
    assert len(discord.messages) == 2


def test_empty_and_malformed_bodies(discord: FakeDiscord, http) -> None:
    hook = discord.add_webhook()
    url = f"{discord.api_base}/webhooks/{hook.id}/{hook.token}"
    empty = post(http, discord, hook.id, {"allowed_mentions": {"parse": []}})
    assert empty.status_code == 400 and empty.json()["code"] == 50006
    broken = http.post(url, data=b"{not json", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.json()["code"] == 50109
    form = http.post(url, data={"content": "x"})  # not JSON at all
    assert form.status_code == 400 and form.json()["code"] == 50006


def test_body_over_the_size_limit_is_413_and_the_connection_survives(http) -> None:
    with FakeDiscord(max_body=1000) as discord:
        hook = discord.add_webhook()
        big = {"content": "x" * 1500, "allowed_mentions": {"parse": []}}
        resp = post(http, discord, hook.id, big)
        assert resp.status_code == 413
        assert resp.json() == {"message": "Request entity too large", "code": 40005}
        assert post(http, discord, hook.id, OK).status_code == 200
        assert len(discord.messages) == 1


# --- the bucket -----------------------------------------------------------------------------


def test_sixth_request_in_the_window_is_429_with_real_headers(discord: FakeDiscord, http) -> None:
    hook, other = discord.add_webhook(), discord.add_webhook()
    remaining = []
    for _ in range(5):
        resp = post(http, discord, hook.id, OK)
        assert resp.status_code == 200
        assert resp.headers["X-RateLimit-Limit"] == "5"
        assert resp.headers["X-RateLimit-Bucket"]
        reset_after = float(resp.headers["X-RateLimit-Reset-After"])
        assert 0 < reset_after <= 2.0
        assert float(resp.headers["X-RateLimit-Reset"]) == pytest.approx(
            time.time() + reset_after, abs=0.5
        )
        remaining.append(int(resp.headers["X-RateLimit-Remaining"]))
    assert remaining == [4, 3, 2, 1, 0]

    refused = post(http, discord, hook.id, OK)
    assert refused.status_code == 429
    doc = refused.json()
    assert doc["message"] == "You are being rate limited." and doc["global"] is False
    assert isinstance(doc["retry_after"], float) and 0 < doc["retry_after"] <= 2.0
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert refused.headers["X-RateLimit-Scope"] == "user"
    assert float(refused.headers["Retry-After"]) >= doc["retry_after"]
    assert discord.rate_limited == 1
    assert len(discord.messages_for(hook.id)) == 5

    assert post(http, discord, other.id, OK).status_code == 200  # its own bucket


def test_the_bucket_refills_after_the_window(http) -> None:
    with FakeDiscord(bucket_limit=2, bucket_window=0.3) as discord:
        hook = discord.add_webhook()
        statuses = [post(http, discord, hook.id, OK).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        time.sleep(0.35)
        assert post(http, discord, hook.id, OK).status_code == 200
        assert discord.rate_limited == 1 and len(discord.messages) == 3


# --- faults ---------------------------------------------------------------------------------


def test_fail_next(discord: FakeDiscord, http) -> None:
    hook = discord.add_webhook()
    discord.fail_next(2, status=502)
    assert [post(http, discord, hook.id, OK).status_code for _ in range(3)] == [502, 502, 200]
    discord.fail_next()
    assert post(http, discord, hook.id, OK).status_code == 500
    assert len(discord.messages) == 1
    assert [r.status for r in discord.requests] == [502, 502, 200, 500]


def test_outage_503_and_dropped_connections(discord: FakeDiscord, http) -> None:
    hook = discord.add_webhook()
    discord.outage(True)
    assert post(http, discord, hook.id, OK).status_code == 503
    discord.outage(True, mode="drop")
    with pytest.raises(requests.ConnectionError):
        post(http, discord, hook.id, OK)
    discord.outage(False)
    assert post(http, discord, hook.id, OK).status_code == 200
    assert len(discord.messages) == 1


def test_ban_is_html_429_without_discord_headers(discord: FakeDiscord, http) -> None:
    hook = discord.add_webhook()
    discord.ban(True)
    resp = post(http, discord, hook.id, OK)
    assert resp.status_code == 429
    assert resp.headers["Content-Type"].startswith("text/html")
    assert resp.text == BAN_HTML
    assert "X-RateLimit-Remaining" not in resp.headers and "Via" not in resp.headers
    assert discord.rate_limited == 0  # not a bucket 429
    discord.ban(False)
    assert post(http, discord, hook.id, OK).status_code == 200


def test_delay_makes_clients_time_out(discord: FakeDiscord, http) -> None:
    hook = discord.add_webhook()
    discord.delay(0.5)
    with pytest.raises(requests.Timeout):
        http.post(f"{discord.api_base}/webhooks/{hook.id}/{hook.token}", json=OK, timeout=0.1)
    discord.delay(0)


def test_concurrent_posts_are_all_recorded() -> None:
    with FakeDiscord(bucket_limit=1000) as discord:
        hooks = [discord.add_webhook() for _ in range(4)]

        def worker(i: int) -> None:
            hook = hooks[i % 4]
            url = f"{discord.api_base}/webhooks/{hook.id}/{hook.token}"
            for _ in range(5):
                assert requests.post(url, json=OK, timeout=5).status_code == 204

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(discord.messages) == 40
        assert all(len(discord.messages_for(h.id)) == 10 for h in hooks)


# --- the sender and the fake agree ----------------------------------------------------------


def test_sender_keeps_inside_the_bucket_and_never_logs_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with FakeDiscord(bucket_window=0.5) as discord:
        hook = discord.add_webhook()
        address = parse_webhook_url(discord.webhook_url(hook.id))
        sender = WebhookSender(discord.api_base, timeout=5)
        results = [sender.send(address, OK) for _ in range(7)]
        assert [r.outcome for r in results] == ["sent"] * 7
        assert discord.rate_limited == 0  # waited for the reset instead of collecting a 429
        assert len(discord.messages) == 7

        discord.delete(hook.id)
        gone = sender.send(address, OK)
        assert gone.outcome == "disable" and gone.error == "404 Unknown Webhook (10015)"
    assert "POST /api/v10/webhooks/" in caplog.text  # urllib3's request lines were logged...
    assert hook.token not in caplog.text  # ...with the token masked
