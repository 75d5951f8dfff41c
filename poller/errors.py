"""Typed errors. Each says whether retrying later can help (``transient``), which is what the
pipeline needs to decide between "try again next poll" and "tell the user now"."""

from __future__ import annotations


class OSRSApiError(Exception):
    """Base for every failure talking to the OSRS or prices APIs."""

    transient: bool = True


class PlayerNotFound(OSRSApiError):
    """404 from the hiscores: renamed, banned, not on this board — or a hiscores fault.
    Counted over several polls before a player is called missing."""

    transient = False


class HiscoresUnavailable(OSRSApiError):
    """5xx, timeout, connection failure or an HTML maintenance page: nothing to derive."""


class RateLimitError(OSRSApiError):
    """The API refused us for sending too fast (429)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ValidationError(OSRSApiError):
    """A response (or request) that is not what the API promises: refuse to guess."""

    transient = False


class CacheError(OSRSApiError):
    """The HTTP cache could not be opened or written; callers fall back to no cache."""


def one_line(exc: BaseException, limit: int | None = 300) -> str:
    """An error's whole message folded onto one line (at most ``limit`` characters), or the
    exception's type when it says nothing: for logs and messages that quote a driver or a
    server, whose text often spans lines."""
    text = " ".join(str(exc).split())
    return (text if limit is None else text[:limit]) or type(exc).__name__


def error_line(exc: BaseException) -> str:
    """An error as one short line for a report: its message's first line (at most 300
    characters), or the exception's type when it says nothing."""
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
