"""Webhook URL parsing and masking. Every token here is an obvious fake."""

from __future__ import annotations

import pytest

from notifier.webhook import (
    WebhookAddress,
    WebhookURLError,
    mask_url,
    parse_webhook_url,
)

ID = "123456789012345678"
TOKEN = "FAKE_TOKEN_" + "a" * 57  # 68 characters, like a real token, plainly not one
LOCAL_TOKEN = "test-token-not-real"


@pytest.mark.parametrize(
    "url",
    [
        f"https://discord.com/api/webhooks/{ID}/{TOKEN}",
        f"https://discord.com/api/webhooks/{ID}/{TOKEN}/",
        f"https://discord.com/api/v10/webhooks/{ID}/{TOKEN}",
        f"https://discord.com/api/v9/webhooks/{ID}/{TOKEN}",
        f"https://discordapp.com/api/webhooks/{ID}/{TOKEN}",
        f"https://canary.discord.com/api/webhooks/{ID}/{TOKEN}",
        f"https://ptb.discord.com/api/webhooks/{ID}/{TOKEN}",
        f"https://canary.discordapp.com/api/webhooks/{ID}/{TOKEN}",
        f"https://ptb.discordapp.com/api/v10/webhooks/{ID}/{TOKEN}/",
        f"https://discord.com/api/webhooks/{ID}/{TOKEN}?wait=true",
        f"https://discord.com/api/webhooks/{ID}/{TOKEN}?thread_id=987654321098765432",
        f"https://Discord.COM/api/webhooks/{ID}/{TOKEN}",
        f"https://discord.com:443/api/webhooks/{ID}/{TOKEN}",
        f"  https://discord.com/api/webhooks/{ID}/{TOKEN}\n",  # pasted with whitespace
    ],
)
def test_accepted_discord_forms(url: str) -> None:
    assert parse_webhook_url(url) == WebhookAddress(ID, TOKEN)


@pytest.mark.parametrize(
    ("url", "webhook_id", "token"),
    [
        (f"http://127.0.0.1:8080/api/webhooks/1/{LOCAL_TOKEN}", "1", LOCAL_TOKEN),
        (f"http://localhost/webhooks/42/{LOCAL_TOKEN}/", "42", LOCAL_TOKEN),
        (f"https://localhost:9443/fake/discord/webhooks/{ID}/{TOKEN}?wait=true", ID, TOKEN),
        ("http://[::1]:8000/api/v10/webhooks/7/abc", "7", "abc"),
    ],
)
def test_accepted_local_forms(url: str, webhook_id: str, token: str) -> None:
    assert parse_webhook_url(url) == WebhookAddress(webhook_id, token)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (f"http://discord.com/api/webhooks/{ID}/{TOKEN}", "https://"),
        (f"https://discord.com/webhooks/{ID}/{TOKEN}", "not a webhook path"),
        (f"https://discord.com/api/webhooks/{ID}", "not a webhook path"),
        (f"https://discord.com/api/webhooks/{ID}/{TOKEN}/slack", "not a webhook path"),
        (f"https://discord.com/api/webhooks/12345/{TOKEN}", "17–20 digits"),
        (f"https://discord.com/api/webhooks/abc{ID}/{TOKEN}", "17–20 digits"),
        (f"https://discord.com/api/webhooks/{ID}/short-token", "20–100"),
        (f"https://discord.com/api/webhooks/{ID}/{'x' * 101}", "20–100"),
        (f"https://discord.com/api/webhooks/{ID}/{TOKEN}!", "20–100"),
        (f"https://evil.example/api/webhooks/{ID}/{TOKEN}", "not a Discord webhook URL"),
        (f"https://discord.com.evil.example/api/webhooks/{ID}/{TOKEN}", "not a Discord"),
        (f"https://user:pw@discord.com/api/webhooks/{ID}/{TOKEN}", "user name or password"),
        (f"https://discord.com/api/webhooks/{ID}/{TOKEN}#x", "#fragment"),
        (f"https://discord.com:8443/api/webhooks/{ID}/{TOKEN}", "port"),
        (f"ftp://localhost/webhooks/1/{LOCAL_TOKEN}", "http:// or https://"),
        (f"discord.com/api/webhooks/{ID}/{TOKEN}", "not a URL"),
        (TOKEN, "not a URL"),
        ("", "not a URL"),
    ],
)
def test_rejected_forms_never_show_the_token(url: str, reason: str) -> None:
    with pytest.raises(WebhookURLError) as info:
        parse_webhook_url(url)
    message = str(info.value)
    assert reason in message
    assert TOKEN not in message
    assert "aaaaaaaa" not in message  # not even a fragment of it
    assert LOCAL_TOKEN not in message


def test_error_shows_where_the_url_points() -> None:
    with pytest.raises(WebhookURLError) as info:
        parse_webhook_url(f"http://discord.com/api/webhooks/{ID}/{TOKEN}")
    assert str(info.value).endswith("http://discord.com/api/webhooks/123…/****")


def test_url_uses_the_api_base() -> None:
    address = parse_webhook_url(f"https://discordapp.com/api/webhooks/{ID}/{TOKEN}")
    assert address.url("https://discord.com/api/v10") == (
        f"https://discord.com/api/v10/webhooks/{ID}/{TOKEN}"
    )
    assert address.url("http://127.0.0.1:9000/api/") == (
        f"http://127.0.0.1:9000/api/webhooks/{ID}/{TOKEN}"
    )


def test_masked_repr_and_str_hide_the_token() -> None:
    address = WebhookAddress(ID, TOKEN)
    assert address.masked == "…/webhooks/123…/****"
    for text in (repr(address), str(address), f"{address}", repr([address]), repr({"a": address})):
        assert TOKEN not in text
        assert "****" in text


@pytest.mark.parametrize(
    ("webhook_id", "token"),
    [("12a", LOCAL_TOKEN), ("", LOCAL_TOKEN), (ID, "has/slash"), (ID, ""), (ID, "a?b=c")],
)
def test_address_refuses_parts_that_would_break_the_url(webhook_id: str, token: str) -> None:
    with pytest.raises(WebhookURLError) as info:
        WebhookAddress(webhook_id, token)
    if token:
        assert token not in str(info.value)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            f"POST https://discord.com/api/v10/webhooks/{ID}/{TOKEN}?wait=true -> 404",
            "POST https://discord.com/api/v10/webhooks/123…/****?wait=true -> 404",
        ),
        (
            "HTTPSConnectionPool(host='discord.com', port=443): Max retries exceeded with url: "
            f"/api/webhooks/{ID}/{TOKEN}?wait=true (Caused by ...)",
            "HTTPSConnectionPool(host='discord.com', port=443): Max retries exceeded with url: "
            "/api/webhooks/123…/****?wait=true (Caused by ...)",
        ),
        (
            f"url='https://discord.com/api/webhooks/{ID}/{TOKEN}'",
            "url='https://discord.com/api/webhooks/123…/****'",
        ),
        (
            f"a webhooks/{ID}/{TOKEN} and webhooks/{ID}/{TOKEN}/ twice",
            "a webhooks/123…/**** and webhooks/123…/****/ twice",
        ),
        (
            f"proxy?u=https%3A%2F%2Fdiscord.com%2Fapi%2Fwebhooks%2F{ID}%2F{TOKEN}",
            "proxy?u=https%3A%2F%2Fdiscord.com%2Fapi%2Fwebhooks%2F123…/****",
        ),
        ("nothing secret here: /api/users/@me", "nothing secret here: /api/users/@me"),
        ("already masked …/webhooks/123…/****", "already masked …/webhooks/123…/****"),
    ],
)
def test_mask_url_in_log_lines(line: str, expected: str) -> None:
    # The query (wait=true, thread_id) is not secret and helps when reading a log: kept.
    masked = mask_url(line)
    assert masked == expected
    assert TOKEN not in masked
