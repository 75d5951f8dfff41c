"""Reading Discord's answers: its numbers, its JSON error bodies, one masked line for a log.

Shared by every request the sender makes (posts, edits); kept apart so ``notifier.sender`` is
about rate limits and outcomes only. This module imports nothing from ``poller``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import requests

from notifier.webhook import mask_url

__all__ = [
    "MAX_ERROR",
    "as_float",
    "as_int",
    "describe",
    "flatten_errors",
    "json_object",
    "one_line",
    "truthy",
]

MAX_ERROR = 500  # characters of error text kept on a message


def as_float(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def as_int(value: object) -> int | None:
    number = as_float(value)
    return None if number is None else int(number)


def truthy(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def one_line(text: str) -> str:
    """Masked, single-line, bounded: fit for a log line or the outbox's error column."""
    line = " ".join(mask_url(text).split())
    return line if len(line) <= MAX_ERROR else line[: MAX_ERROR - 1] + "…"


def json_object(resp: requests.Response) -> dict[str, Any] | None:
    """The body as a JSON object, or None when it is anything else (an HTML page, empty, ...)."""
    if "json" not in resp.headers.get("Content-Type", "").lower():
        return None
    try:
        doc = resp.json()
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def flatten_errors(errors: object, path: tuple[str, ...] = (), depth: int = 0) -> list[str]:
    """Discord's nested ``errors`` tree → ["embeds.0.description: Must be 4096 or fewer ..."]."""
    found: list[str] = []
    if not isinstance(errors, Mapping) or depth > 20:
        return found
    for key, value in errors.items():
        if key == "_errors" and isinstance(value, list):
            where = ".".join(path) or "body"
            for item in value:
                text = item.get("message") if isinstance(item, Mapping) else item
                found.append(f"{where}: {str(text).rstrip('.')}")
        else:
            found.extend(flatten_errors(value, (*path, str(key)), depth + 1))
    return found


def describe(resp: requests.Response, doc: dict[str, Any] | None) -> str:
    """"400 Invalid Form Body (50035): embeds.0.description: Must be 4096 or fewer in length"."""
    status = resp.status_code
    if doc is None:
        text = (resp.text or "").strip()
        if text and not text.startswith("<"):  # an HTML page says nothing useful in one line
            return one_line(f"{status} {resp.reason or ''}: {text[:120]}")
        return one_line(f"{status} {resp.reason or 'error'} (not Discord's JSON)")
    message = str(doc.get("message") or resp.reason or "error").rstrip(".")
    code = doc.get("code")
    line = f"{status} {message}" + (f" ({code})" if code not in (None, "") else "")
    details = flatten_errors(doc.get("errors"))
    if details:
        line += ": " + "; ".join(details)
    return one_line(line)
