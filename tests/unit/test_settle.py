"""poller.deliver.settle: what one send result means for the deliveries it carried.

A table of every outcome the sender reports; the caller applies the action through the store
(tests/unit/test_deliver.py covers that end to end)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from notifier.sender import SendResult
from poller.deliver import Action, Delivered, Disable, Fail, Pause, Retry, Split, settle

AT = datetime(2026, 7, 1, 12, tzinfo=timezone.utc)


def doubling(tries: int) -> float:
    return 30.0 * 2 ** (tries - 1)  # the back-off without its jitter


def later(seconds: float) -> datetime:
    return AT + timedelta(seconds=seconds)


CASES: list[tuple[str, SendResult, tuple[int, ...], int, Action]] = [
    ("sent", SendResult("sent", 204), (1, 2), 0, Delivered()),
    ("5xx, first failure", SendResult("retry", 502, "502 Bad Gateway"), (1,), 0,
     Retry(later(30), "502 Bad Gateway")),
    ("5xx, third failure backs off further", SendResult("retry", 503, "503"), (1,), 2,
     Retry(later(120), "503")),
    ("5xx with a longer Retry-After", SendResult("retry", 503, "503", retry_after=600), (1,), 0,
     Retry(later(600), "503")),
    ("Retry-After capped at an hour", SendResult("retry", 503, "503", retry_after=86_400),
     (1,), 0, Retry(later(3600), "503")),
    ("timeout, no error text", SendResult("retry"), (1,), 0, Retry(later(30), None)),
    ("global 429", SendResult("paused", 429, "429 global rate limit"), (1, 2), 0,
     Pause("429 global rate limit")),
    ("404 unknown webhook", SendResult("disable", 404, "404 Unknown Webhook"), (1,), 0,
     Disable("404 Unknown Webhook")),
    ("401 without text", SendResult("disable", 401), (1,), 0, Disable("refused by Discord")),
    ("400 for several: the first alone, then the rest",
     SendResult("reject", 400, "400 Invalid Form Body"), (1, 2, 3), 0, Split(((1,), (2, 3)))),
    ("413 for several: halves", SendResult("too_large", 413, "413"), (1, 2, 3, 4), 0,
     Split(((1, 2), (3, 4)))),
    ("400 for one: failed with Discord's words",
     SendResult("reject", 400, "400 Invalid Form Body"), (7,), 0, Fail("400 Invalid Form Body")),
    ("413 for one", SendResult("too_large", 413), (7,), 0, Fail("too_large")),
]


@pytest.mark.parametrize(("result", "ids", "attempts", "action"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_settle(result: SendResult, ids: tuple[int, ...], attempts: int, action: Action) -> None:
    assert settle(result, ids, attempts=attempts, at=AT, backoff=doubling) == action


def test_the_default_back_off_is_the_senders() -> None:
    action = settle(SendResult("retry", 500), (1,), attempts=0, at=AT)
    assert isinstance(action, Retry) and later(5) <= action.until <= later(30)
