"""The fake Discord server used by end-to-end tests, checked with plain requests on 127.0.0.1.

If the fake is wrong, every end-to-end test built on it is wrong, so its answers are pinned here:
limits, buckets and headers, faults, auth errors and the record of delivered messages.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e" / "osrs"))
from fake_discord import (  # noqa: E402
    BAN_HTML,
    EDIT_BUCKET_HASH,
    MAX_FILE,
    PNG_MAGIC,
    FakeDiscord,
)

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


# --- files (multipart) and edits ----------------------------------------------------------------

PNG = PNG_MAGIC + b"\0" * 64  # the fake checks the magic bytes only
CHART = {"allowed_mentions": {"parse": []},
         "embeds": [{"title": "t", "image": {"url": "attachment://chart.png"}}]}


def upload(http: requests.Session, discord: FakeDiscord, hook_id: str, payload: object,
           files: dict | None = None, *, method: str = "POST", message_id: str | None = None,
           raw_payload: str | None = None):
    url = f"{discord.api_base}/webhooks/{hook_id}/{discord.token(hook_id)}"
    if message_id is not None:
        url += f"/messages/{message_id}"
    text = raw_payload if raw_payload is not None else json.dumps(payload)
    files = {"files[0]": ("chart.png", PNG, "image/png")} if files is None else files
    if not files:  # no file: plain JSON, as Discord takes it too
        return http.request(method, url, params={"wait": "true"}, json=payload, timeout=5)
    return http.request(method, url, params={"wait": "true"}, data={"payload_json": text},
                        files=files, timeout=5)


def test_a_message_with_a_png_is_accepted_and_recorded(discord: FakeDiscord, http) -> None:
    hook = discord.add_webhook()
    resp = upload(http, discord, hook.id, CHART)
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    [attachment] = doc["attachments"]
    assert attachment["filename"] == "chart.png" and attachment["size"] == len(PNG)
    [delivery] = discord.messages
    assert delivery.message_id == doc["id"] and delivery.body == CHART
    assert [(f.filename, f.data) for f in delivery.files] == [("chart.png", PNG)]
    assert discord.message(doc["id"]) == delivery


def test_a_file_alone_is_a_message(discord: FakeDiscord, http) -> None:
    hook = discord.add_webhook()
    assert upload(http, discord, hook.id, {"allowed_mentions": {"parse": []}}).status_code == 200


@pytest.mark.parametrize(
    ("payload", "files", "raw", "status", "code", "where"),
    [
        (CHART, {"files[0]": ("chart.png", b"GIF89a....", "image/png")}, None, 400, 50035,
         "files[0]"),
        ({**CHART, "embeds": [{"image": {"url": "attachment://other.png"}}]}, None, None, 400,
         50035, "embeds.0.image.url"),
        ({**CHART, "embeds": [{"title": "x" * 257, "thumbnail": {"url": "attachment://chart.png"}}]},
         None, None, 400, 50035, "embeds.0.title"),
        (None, None, "{not json", 400, 50109, None),
        (CHART, {"files[0]": ("chart.png", PNG, "image/png"),
                 "extra": ("a.txt", b"x", "text/plain")}, None, 400, 50035, "extra"),
        (CHART, {"files[0]": ("", PNG, "image/png")}, None, 400, 50035, "files[0]"),
        ({"embeds": CHART["embeds"]}, None, None, 400, 50035, "allowed_mentions"),
        ({**CHART, "attachments": [{"id": 5}]}, None, None, 400, 50035, "attachments.0.id"),
    ],
    ids=["not-png", "unknown-attachment-name", "over-limits", "bad-json", "stray-field",
         "no-filename", "mentions-policy", "attachments-id"],
)
def test_bad_multipart_is_refused_like_discord(
    discord: FakeDiscord, http, payload, files, raw, status, code, where
) -> None:
    hook = discord.add_webhook()
    resp = upload(http, discord, hook.id, payload, files, raw_payload=raw)
    assert resp.status_code == status, resp.text
    doc = resp.json()
    assert doc["code"] == code
    if where is not None:
        node = doc["errors"]
        for part in where.split("."):
            node = node[part]
        assert node["_errors"]
    assert discord.messages == []


def test_malformed_form_and_oversized_file(discord: FakeDiscord, http) -> None:
    hook = discord.add_webhook()
    url = f"{discord.api_base}/webhooks/{hook.id}/{hook.token}"
    resp = http.post(url, data=b"--xyz\r\nno headers here--xyz--\r\n",
                     headers={"Content-Type": "multipart/form-data; boundary=xyz"}, timeout=5)
    assert resp.status_code == 400 and resp.json()["code"] == 50035
    big = PNG + b"\0" * MAX_FILE
    resp = upload(http, discord, hook.id, CHART, {"files[0]": ("chart.png", big, "image/png")})
    assert resp.status_code == 413 and resp.json()["code"] == 40005
    assert discord.messages == []


def test_edit_replaces_the_body_and_the_file(discord: FakeDiscord, http) -> None:
    hook = discord.add_webhook()
    first = upload(http, discord, hook.id, CHART).json()
    new_png = PNG + b"new"
    edit = {"embeds": [{"title": "t2", "image": {"url": "attachment://chart.png"}}],
            "attachments": [{"id": 0, "filename": "chart.png"}]}
    resp = upload(http, discord, hook.id, edit, {"files[0]": ("chart.png", new_png, "image/png")},
                  method="PATCH", message_id=first["id"])
    assert resp.status_code == 200, resp.text
    assert resp.headers["X-RateLimit-Bucket"] == EDIT_BUCKET_HASH  # its own route and bucket
    current = discord.message(first["id"])
    assert current is not None and current.body["embeds"][0]["title"] == "t2"
    assert [f.data for f in current.files] == [new_png]  # the old chart is gone, not kept beside
    assert len(discord.messages) == 1 and discord.edits == [current]
    # An edit without "attachments" keeps the files; one that drops them all cannot leave the
    # embed referring to the file.
    resp = upload(http, discord, hook.id, {"content": "c"}, {}, method="PATCH",
                  message_id=first["id"])
    assert resp.status_code == 200 and [a["filename"] for a in resp.json()["attachments"]] == [
        "chart.png"
    ]
    resp = upload(http, discord, hook.id, {"attachments": []}, {}, method="PATCH",
                  message_id=first["id"])
    assert resp.status_code == 400 and "embeds" in resp.json()["errors"]


def test_editing_a_deleted_or_foreign_message_is_unknown_message(discord: FakeDiscord, http):
    hook, other = discord.add_webhook(), discord.add_webhook()
    first = upload(http, discord, hook.id, CHART).json()
    resp = upload(http, discord, other.id, CHART, method="PATCH", message_id=first["id"])
    assert resp.status_code == 404 and resp.json()["code"] == 10008
    discord.delete_message(first["id"])
    resp = upload(http, discord, hook.id, CHART, method="PATCH", message_id=first["id"])
    assert resp.status_code == 404 and resp.json() == {"message": "Unknown Message",
                                                       "code": 10008}
    assert discord.message(first["id"]) is None and discord.edits == []


def test_posting_to_a_message_url_is_405(discord: FakeDiscord, http) -> None:
    hook = discord.add_webhook()
    first = upload(http, discord, hook.id, CHART).json()
    resp = upload(http, discord, hook.id, CHART, method="POST", message_id=first["id"])
    assert resp.status_code == 405
