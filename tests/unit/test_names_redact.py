"""The small shared homes: player names and game modes (poller.names), secrets kept off screens
and out of logs (poller.redact), and the wall clock (poller.clock)."""

from __future__ import annotations

import logging
from datetime import timedelta, timezone

import pytest

from notifier.webhook import TokenMaskingFilter
from poller.clock import utcnow
from poller.names import (
    CONFIG_MODES,
    DEFAULT_MODE,
    MODES,
    PLAYER_NAME_ALLOWED,
    board_mode,
    normalize_name,
    validate_player_name,
)
from poller.redact import dsn_secrets, mask_dsn, scrub

TOKEN = "FAKE_TOKEN_" + "a" * 57
HOOK = f"https://discord.com/api/webhooks/123456789012345678/{TOKEN}"

# -- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Lynx Titan", "lynx titan"),
        ("lynx_titan", "lynx titan"),
        ("  LYNX-Titan ", "lynx titan"),
        ("Lynx\u00a0Titan", "lynx titan"),  # the hiscores' non-breaking space
        ("a  _- b", "a b"),
        ("", ""),
    ],
)
def test_normalize_name(raw: str, key: str) -> None:
    assert normalize_name(raw) == key


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("Zezima", None),
        ("B0aty", None),
        ("lynx_titan-1", None),
        ("", "is empty"),
        ("a" * 13, "is longer than 12 characters"),
        ("Zez!ma", "has characters not allowed"),
        (" Zezima", "starts or ends with a space"),
    ],
)
def test_validate_player_name(name: str, problem: str | None) -> None:
    assert validate_player_name(name) == problem
    assert "1–12" in PLAYER_NAME_ALLOWED


def test_every_mode_has_its_own_board_and_the_default_is_auto() -> None:
    # "auto" has no board: the type is detected, read from the regular board until known.
    assert DEFAULT_MODE == "auto" and DEFAULT_MODE not in MODES
    assert CONFIG_MODES == ("auto", *MODES)
    assert board_mode("auto") == "regular" and MODES["regular"] == "hiscore_oldschool"
    assert board_mode("auto", "hardcore") == "hardcore" and board_mode("ironman") == "ironman"
    assert len(set(MODES.values())) == len(MODES)
    assert all(board.startswith("hiscore_oldschool") for board in MODES.values())


# -- redaction -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://osrs:hunter2@db:5432/osrs", "postgresql://osrs:****@db:5432/osrs"),
        ("postgres://osrs@db/osrs", "postgres://osrs@db/osrs"),
        ("postgresql://db/osrs?user=u&password=hunter2", "postgresql://db/osrs?user=u&password=****"),
        ("sqlite:////var/lib/osrs.db", "sqlite:////var/lib/osrs.db"),
        ("redis://:s3cret@cache:6379/0", "redis://:****@cache:6379/0"),
        ("rediss://user:p@ss@cache/1", "rediss://user:****@cache/1"),  # '@' in the password
        ("redis://u:pw@[::1", "redis://u:****@[::1"),  # unparsable, still hidden
        ("", ""),
    ],
)
def test_mask_dsn(url: str, masked: str) -> None:
    assert mask_dsn(url) == masked


def test_scrub_removes_every_spelling_of_the_password() -> None:
    url = "postgresql://osrs:p%40ss@db/osrs?password=other"
    assert dsn_secrets(url) == ["p%40ss", "other", "p@ss"]
    text = 'FATAL: password "p@ss" rejected (p%40ss); also other'
    assert scrub(text, url) == 'FATAL: password "****" rejected (****); also ****'
    assert scrub("nothing secret", "sqlite:///x.db") == "nothing secret"


def test_masking_filter_hides_webhook_tokens_in_any_log_record() -> None:
    record = logging.LogRecord("urllib3", logging.DEBUG, __file__, 1, "GET %s 204", (HOOK,), None)
    assert TokenMaskingFilter().filter(record) is True
    line = record.getMessage()
    assert TOKEN not in line and "webhooks/123…/****" in line
    plain = logging.LogRecord("x", logging.INFO, __file__, 1, "%d players", (3,), None)
    TokenMaskingFilter().filter(plain)
    assert plain.args == (3,) and plain.getMessage() == "3 players"  # untouched


# -- clock ---------------------------------------------------------------------------------------


def test_utcnow_is_timezone_aware_utc() -> None:
    now = utcnow()
    assert now.tzinfo is timezone.utc and now.utcoffset() == timedelta(0)
