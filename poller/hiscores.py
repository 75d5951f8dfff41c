"""Official OSRS hiscores: fetch a player's ``index_lite.json`` and parse it *by name*.

Positions and ``id`` fields shift whenever Jagex inserts a boss, and every positional parser has
broken on such a day, so the JSON parser looks only at names: an unknown name is ignored (and
logged once), an expected name that is missing is unknown (absent), never zero.

Here: the boards, the client and the JSON decoding. The rows are checked and turned into a
snapshot by :mod:`poller.hiscores_rows`; the CSV ``index_lite.ws``, which has no names at all,
is read by :mod:`poller.hiscores_csv`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .errors import HiscoresUnavailable, OSRSApiError, PlayerNotFound, ValidationError
from .hiscores_rows import parse_rows
from .names import MODES, REGULAR
from .snapshot import Snapshot

if TYPE_CHECKING:
    from datetime import datetime

    from .http import HttpClient


DEFAULT_ENDPOINT = "https://secure.runescape.com"



def profile_url(name: str, mode: str = REGULAR) -> str:
    """The player's personal hiscores page, for people (always the real site, whatever
    OSRS_API_ENDPOINT points the API client at). Regular board for an unknown mode."""
    from urllib.parse import quote

    board = MODES.get(mode, MODES[REGULAR])
    return f"{DEFAULT_ENDPOINT}/m={board}/hiscorepersonal?user1={quote(name, safe='')}"


def board_url(endpoint: str, mode: str) -> str:
    """``{endpoint}/m={board}/index_lite.json`` for a config mode (ValidationError if unknown)."""
    board = MODES.get(mode)
    if board is None:
        raise ValidationError(f"unknown hiscores mode {mode!r}; expected one of {', '.join(MODES)}")
    return f"{endpoint.rstrip('/')}/m={board}/index_lite.json"


class HiscoresClient:
    """Fetches snapshots through the shared :class:`~poller.http.HttpClient`."""

    def __init__(self, http: HttpClient, endpoint: str = DEFAULT_ENDPOINT) -> None:
        self.http = http
        self.endpoint = endpoint.rstrip("/")

    def fetch(
        self, name: str, mode: str = REGULAR, *, not_before: datetime | None = None
    ) -> Snapshot:
        """The player's current snapshot; never a cached answer older than ``not_before``
        (the player's last poll: a poll must see what the hiscores say now).

        Raises PlayerNotFound (404), HiscoresUnavailable (5xx, timeout, HTML page),
        RateLimitError (429) or ValidationError (anything else unexpected).
        """
        url = board_url(self.endpoint, mode)
        who = f"{name!r} on the {mode} hiscores"
        if not name.strip():
            raise ValidationError(f"empty player name for the {mode} hiscores")
        # Encoded by hand so a space is %20: unambiguous under every decoder, where '+' is a
        # space only under form decoding.
        params = "player=" + quote(name, safe="")
        try:
            response = self.http.get(url, params=params, not_before=not_before)
        except OSRSApiError as exc:
            raise _with_context(exc, who) from exc
        status = response.status_code
        if status == 404:
            raise PlayerNotFound(f"{who}: not found (renamed, banned or not on this board)")
        if status != 200:
            raise ValidationError(f"{who}: unexpected HTTP {status}")
        content_type = response.headers.get("Content-Type", "")
        if "html" in content_type.lower():
            raise HiscoresUnavailable(f"{who}: hiscores sent an HTML page (maintenance?)")
        try:
            return parse_json(response.content)
        except OSRSApiError as exc:
            raise _with_context(exc, who) from exc


def _with_context(exc: OSRSApiError, who: str) -> OSRSApiError:
    """The same error type (and retry_after), its message prefixed with player and mode."""
    new = type(exc).__new__(type(exc))
    new.__dict__.update(exc.__dict__)
    new.args = (f"{who}: {exc}",)
    return new


# -- JSON --------------------------------------------------------------------------------------


def parse_json(data: bytes | str | Mapping[str, Any]) -> Snapshot:
    """Parse an ``index_lite.json`` document by name.

    Unranked (rank -1, whatever level and xp say) is absent. Names we do not know are ignored.
    Every value is checked against the game's ranges (see `parse_rows`): a response that is
    malformed or impossible raises ValidationError; an HTML page raises HiscoresUnavailable.
    """
    doc = _load_json(data)
    return parse_rows(doc.get("skills"), doc.get("activities"))




def _load_json(data: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(data, Mapping):
        return data
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValidationError("hiscores response is not UTF-8 text") from exc
    elif isinstance(data, str):
        text = data
    else:
        raise ValidationError(f"cannot parse hiscores data of type {type(data).__name__}")
    if text.lstrip().startswith("<"):
        # Jagex serves an HTML page (maintenance, error, login wall) during outages.
        raise HiscoresUnavailable("hiscores sent an HTML page instead of data")
    try:
        doc = json.loads(text)
    except ValueError as exc:
        # Also a number of more than 4,300 digits: Python refuses to read it.
        raise ValidationError(f"hiscores response is not JSON ({exc.__class__.__name__})") from exc
    except RecursionError:
        # [[[[…]]]] 100,000 deep: the decoder gives up; the answer is garbage, not a crash.
        raise ValidationError("hiscores JSON is nested too deeply to be an answer") from None
    if not isinstance(doc, dict):
        raise ValidationError("hiscores JSON is not an object")
    return doc
