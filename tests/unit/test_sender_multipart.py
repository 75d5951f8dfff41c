"""WebhookSender with files (Discord's multipart form) and edits, against the strict fake Discord
on 127.0.0.1 (a fake clock: the sender never really sleeps)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import responses

from notifier.attachments import MAX_ATTACHMENT, Attachment, encode_body
from notifier.chart import bar_chart
from notifier.sender import UNKNOWN_MESSAGE, WebhookSender
from notifier.webhook import WebhookAddress, parse_webhook_url

from support import FakeClock, fake_discord

PNG = fake_discord.PNG_MAGIC + b"\0" * 64




def chart_body(title: str = "Top gainers", name: str = "chart.png") -> dict:
    return {"allowed_mentions": {"parse": []},
            "embeds": [{"title": title, "image": {"url": f"attachment://{name}"}}]}


@pytest.fixture
def discord() -> Iterator[fake_discord.FakeDiscord]:
    with fake_discord.FakeDiscord() as fake:
        yield fake


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def setup(discord, clock: FakeClock) -> tuple[WebhookSender, WebhookAddress, str]:
    hook = discord.add_webhook()
    sender = WebhookSender(discord.api_base, timeout=5, clock=clock, sleep=clock.sleep)
    return sender, parse_webhook_url(discord.webhook_url(hook.id)), hook.id


def test_a_chart_is_posted_as_an_attachment_the_embed_shows(discord, clock) -> None:
    sender, address, hook_id = setup(discord, clock)
    png = bar_chart("Top gainers", [("Alice", 1_500_000), ("Bob", 20_000)], unit="XP")
    chart = Attachment("chart.png", png, description="Top gainers")
    result = sender.send(address, chart_body(), files=[chart])
    assert result.outcome == "sent" and result.attempts == 1
    [delivery] = discord.messages
    assert result.message_id == delivery.message_id
    assert [(f.filename, f.data) for f in delivery.files] == [("chart.png", png)]
    assert delivery.body["attachments"] == [
        {"id": 0, "filename": "chart.png", "description": "Top gainers"}
    ]


def test_edit_replaces_the_chart(discord, clock) -> None:
    sender, address, _ = setup(discord, clock)
    posted = sender.send(address, chart_body("v1"), files=[Attachment("chart.png", PNG)])
    assert posted.message_id is not None
    new = Attachment("chart.png", PNG + b"v2")
    edited = sender.edit(address, posted.message_id, chart_body("v2"), files=[new])
    assert edited.outcome == "sent" and edited.message_id == posted.message_id
    current = discord.message(posted.message_id)
    assert current.body["embeds"][0]["title"] == "v2"
    assert [f.data for f in current.files] == [PNG + b"v2"]  # replaced, not a second chart
    assert len(discord.messages) == 1 and len(discord.edits) == 1


def test_edit_without_files_is_json_and_keeps_the_chart(discord, clock) -> None:
    sender, address, _ = setup(discord, clock)
    posted = sender.send(address, chart_body(), files=[Attachment("chart.png", PNG)])
    edited = sender.edit(address, posted.message_id, {"content": "updated"})
    assert edited.outcome == "sent"
    current = discord.message(posted.message_id)
    assert current.body["content"] == "updated" and [f.data for f in current.files] == [PNG]


def test_editing_a_deleted_message_is_unknown_message(discord, clock) -> None:
    sender, address, _ = setup(discord, clock)
    posted = sender.send(address, chart_body(), files=[Attachment("chart.png", PNG)])
    discord.delete_message(posted.message_id)
    result = sender.edit(address, posted.message_id, chart_body(),
                         files=[Attachment("chart.png", PNG)])
    assert result.outcome == "unknown_message" and result.status == 404
    assert result.error == f"404 Unknown Message ({UNKNOWN_MESSAGE})"
    assert result.permanent and not result.transient
    # The webhook itself is fine: the caller posts afresh.
    assert sender.send(address, chart_body(), files=[Attachment("chart.png", PNG)]).ok


def test_a_429_on_an_edit_is_waited_out_then_the_edit_succeeds(discord, clock) -> None:
    sender, address, _ = setup(discord, clock)
    posted = sender.send(address, chart_body(), files=[Attachment("chart.png", PNG)])
    discord.throttle_next(1, retry_after=0.25)
    result = sender.edit(address, posted.message_id, chart_body("v2"),
                         files=[Attachment("chart.png", PNG)])
    assert result.outcome == "sent" and result.attempts == 2
    assert clock.sleeps == [0.25]
    assert discord.message(posted.message_id).body["embeds"][0]["title"] == "v2"


def test_edits_keep_their_own_bucket(discord, clock) -> None:
    # Five posts empty the posting bucket; an edit is another route and goes straight out.
    sender, address, _ = setup(discord, clock)
    ids = [sender.send(address, chart_body(), files=[Attachment("chart.png", PNG)]).message_id
           for _ in range(5)]
    assert sender.paused_until(address) is not None  # the posting bucket is empty
    result = sender.edit(address, ids[0], {"content": "x"})
    assert result.outcome == "sent" and clock.sleeps == [] and discord.rate_limited == 0


def test_a_refused_form_is_a_reject_with_discords_reason(discord, clock) -> None:
    sender, address, _ = setup(discord, clock)
    result = sender.send(address, chart_body(name="other.png"),
                         files=[Attachment("chart.png", PNG)])
    assert result.outcome == "reject" and result.status == 400
    assert "embeds.0.image.url" in (result.error or "")
    assert discord.messages == []


def test_an_oversized_file_is_too_large_without_a_request(discord, clock) -> None:
    sender, address, _ = setup(discord, clock)
    big = Attachment("chart.png", PNG + b"\0" * MAX_ATTACHMENT)
    result = sender.send(address, chart_body(), files=[big])
    assert result.outcome == "too_large" and result.attempts == 0
    assert discord.requests == []


def test_a_global_429_on_an_edit_pauses_every_webhook(clock: FakeClock) -> None:
    address = WebhookAddress("123456789012345678", "FAKE_TOKEN_" + "a" * 57)
    api = "https://discord.test/api/v10"
    sender = WebhookSender(api, clock=clock, sleep=clock.sleep, max_wait=30.0)
    url = f"{address.url(api)}/messages/999"
    doc = {"message": "You are being rate limited.", "retry_after": 60.0, "global": True}
    with responses.RequestsMock() as rsps:
        rsps.add(responses.PATCH, url, status=429, json=doc)
        result = sender.edit(address, "999", {"content": "x"})
    assert result.outcome == "paused" and result.retry_after == 60.0
    assert sender.global_pause_remaining() == 60.0


def test_an_unknown_webhook_on_an_edit_still_disables() -> None:
    address = WebhookAddress("123456789012345678", "FAKE_TOKEN_" + "a" * 57)
    api = "https://discord.test/api/v10"
    with responses.RequestsMock() as rsps:
        rsps.add(responses.PATCH, f"{address.url(api)}/messages/1", status=404,
                 json={"message": "Unknown Webhook", "code": 10015})
        result = WebhookSender(api).edit(address, "1", {"content": "x"})
    assert result.outcome == "disable"


def test_encode_body() -> None:
    body, content_type = encode_body({"content": "é"})
    assert (body, content_type) == ('{"content":"é"}'.encode(), "application/json")
    body, content_type = encode_body({"content": "x"}, [Attachment("a.png", PNG)])
    boundary = content_type.removeprefix("multipart/form-data; boundary=")
    assert boundary != content_type
    parts = fake_discord.parse_multipart(content_type, body)
    assert [p.field for p in parts] == ["payload_json", "files[0]"]
    assert json.loads(parts[0].data) == {"content": "x",
                                         "attachments": [{"id": 0, "filename": "a.png"}]}
    assert parts[1].data == PNG and parts[1].content_type == "image/png"
    # A caller's own attachments list (keeping an old file on an edit) is left alone.
    body, content_type = encode_body({"attachments": [{"id": "7"}]}, [Attachment("a.png", PNG)])
    assert json.loads(fake_discord.parse_multipart(content_type, body)[0].data) == {
        "attachments": [{"id": "7"}]
    }


@pytest.mark.parametrize("name", ["", "chart one.png", "../x.png", "é.png", "a/b.png"])
def test_attachment_names_discord_would_rewrite_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        Attachment(name, PNG)
    assert Attachment("chart_1-a.png", PNG).url == "attachment://chart_1-a.png"


@pytest.mark.parametrize("message_id", ["", "12/../34", "1?wait=false", "abc"])
def test_an_edit_of_something_not_a_message_id_sends_nothing(message_id: str) -> None:
    address = WebhookAddress("123456789012345678", "FAKE_TOKEN_" + "a" * 57)
    with responses.RequestsMock():  # any request would fail the test
        result = WebhookSender("https://discord.test/api/v10").edit(address, message_id, {})
    assert result.outcome == "reject" and result.attempts == 0
