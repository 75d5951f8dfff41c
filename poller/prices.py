"""Grand Exchange prices: the OSRS Wiki real-time API, and the official GE API as a fallback.

The Wiki API (https://prices.runescape.wiki/api/v1/osrs, or ``OSRS_PRICES_ENDPOINT``):

- ``/mapping`` — every tradeable item: id, name, members, buy limit, alch values, icon.
- ``/latest`` — for *every* item at once, the last instant-buy (``high``) and instant-sell
  (``low``) price with their times. Fetched once per run, never once per item.
- ``/5m``, ``/1h``, ``/24h`` — average high/low prices and volumes over the last window.
- ``/timeseries?timestep=5m|1h|6h|24h&id=ID`` — up to 365 points of one item's history.

The Wiki blocks default library agents (``python-requests/x``) and asks for a User-Agent that
says who is calling and how to reach them: :func:`user_agent` puts the configured ``contact``
in it. Any side of any price can be null (no trade yet): None here, never zero.

The official API (``{base}/m=itemdb_oldschool/api/catalogue/detail.json?item=ID``) gives a
rounded daily guide price as text ("2.9m", "- 4,849"); :func:`parse_ge_price` reads it. It is
the fallback of the ``price`` command when the Wiki is down; alerts are never derived from it
(a price rounded to 0.1M would cross thresholds that the real price did not).

What ``price ITEM`` computes from these prices (the GE tax, margins) is :mod:`poller.quote`'s.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .errors import OSRSApiError, RateLimitError, ValidationError
from .items import ItemInfo

if TYPE_CHECKING:
    from .http import HttpClient, HttpConfig
    from .settings import Settings

log = logging.getLogger("osrs_notify.prices")

DEFAULT_ENDPOINT = "https://prices.runescape.wiki/api/v1/osrs"
WINDOWS: tuple[str, ...] = ("5m", "1h", "24h")
TIMESTEPS: tuple[str, ...] = ("5m", "1h", "6h", "24h")

WIKI_RATE_PER_MINUTE = 300


class PricesUnavailable(OSRSApiError):
    """The prices API is down: 5xx, timeout, connection failure or an HTML page.
    Nothing is derived from a run that saw this."""


# -- values ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Latest:
    """One item's last trades: ``high`` = instant-buy price, ``low`` = instant-sell price."""

    high: int | None = None
    high_time: datetime | None = None
    low: int | None = None
    low_time: datetime | None = None

    @property
    def mid(self) -> int | None:
        """The price alerts watch: the midpoint of both sides, or the one side known."""
        if self.high is not None and self.low is not None:
            return (self.high + self.low) // 2
        return self.high if self.high is not None else self.low


@dataclass(frozen=True, slots=True)
class Average:
    """Average prices and volumes over one window (``/5m``, ``/1h``, ``/24h``, a timeseries
    point). A side with no trades in the window is None."""

    high: int | None = None
    low: int | None = None
    high_volume: int = 0
    low_volume: int = 0
    timestamp: datetime | None = None

    @property
    def mid(self) -> int | None:
        if self.high is not None and self.low is not None:
            return (self.high + self.low) // 2
        return self.high if self.high is not None else self.low


@dataclass(frozen=True, slots=True)
class Averages:
    window: str
    timestamp: datetime | None
    items: Mapping[int, Average]


@dataclass(frozen=True, slots=True)
class OfficialPrice:
    """The official GE guide price: rounded text turned into numbers (``approximate`` when the
    text had a k/m/b suffix, so the last digits are unknown)."""

    id: int
    name: str
    price: int | None
    today_change: int | None
    members: bool | None
    approximate: bool
    description: str | None = None
    icon: str | None = None


# -- parsing helpers ------------------------------------------------------------------------------


def _load(data: bytes | str | Any, what: str) -> Any:
    if isinstance(data, (dict, list)):
        return data
    if isinstance(data, (bytes, bytearray)):
        try:
            data = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValidationError(f"{what}: response is not UTF-8 text") from exc
    if not isinstance(data, str):
        raise ValidationError(f"{what}: cannot parse data of type {type(data).__name__}")
    if data.lstrip().startswith("<"):
        raise PricesUnavailable(f"{what}: sent an HTML page instead of data")
    try:
        return json.loads(data)
    except ValueError as exc:
        raise ValidationError(f"{what}: response is not JSON ({exc.__class__.__name__})") from exc


def _int(value: object) -> int | None:
    """An integer field, or None for null / missing / anything not an integer."""
    if type(value) is int:  # not bool: True is an int to Python, not to a price
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    return None


def _time(value: object) -> datetime | None:
    seconds = _int(value)
    if seconds is None or seconds <= 0:
        return None
    try:
        return datetime.fromtimestamp(seconds, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def _data(doc: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), dict):
        raise ValidationError(f"{what}: expected {{\"data\": {{...}}}}")
    return doc["data"]


def _item_id(key: str) -> int | None:
    return int(key) if key.isdigit() else None


# -- Wiki API parsers -----------------------------------------------------------------------------


def parse_mapping(data: bytes | str | Any) -> list[ItemInfo]:
    """``/mapping`` → items. Entries without an integer id or a name are skipped (and
    counted in a log line); a missing ``limit`` or alch value is None."""
    doc = _load(data, "Wiki prices API /mapping")
    if not isinstance(doc, list):
        raise ValidationError("Wiki prices API /mapping: expected a list of items")
    items: list[ItemInfo] = []
    skipped = 0
    for entry in doc:
        if not isinstance(entry, dict):
            skipped += 1
            continue
        item_id, name = _int(entry.get("id")), entry.get("name")
        if item_id is None or item_id < 0 or not isinstance(name, str) or not name.strip():
            skipped += 1
            continue
        icon, examine = entry.get("icon"), entry.get("examine")
        items.append(ItemInfo(
            id=item_id,
            name=name.strip(),
            members=entry.get("members") is True,
            limit=_int(entry.get("limit")),
            value=_int(entry.get("value")),
            highalch=_int(entry.get("highalch")),
            lowalch=_int(entry.get("lowalch")),
            icon=icon if isinstance(icon, str) and icon.strip() else None,
            examine=examine if isinstance(examine, str) else None,
        ))
    if skipped:
        log.info("/mapping: skipped %d entries without an id or a name", skipped)
    if not items and doc:
        raise ValidationError("Wiki prices API /mapping: no usable items")
    return items


_LATEST = "Wiki prices API /latest"


def parse_latest(data: bytes | str | Any) -> dict[int, Latest]:
    """``/latest`` → {item id: Latest}. Null sides stay None."""
    out: dict[int, Latest] = {}
    for key, entry in _data(_load(data, _LATEST), _LATEST).items():
        item_id = _item_id(str(key))
        if item_id is None or not isinstance(entry, dict):
            continue
        out[item_id] = Latest(
            high=_positive(entry.get("high")),
            high_time=_time(entry.get("highTime")),
            low=_positive(entry.get("low")),
            low_time=_time(entry.get("lowTime")),
        )
    return out


def _positive(value: object) -> int | None:
    number = _int(value)
    return number if number is not None and number > 0 else None


def _average(entry: Mapping[str, Any], timestamp: datetime | None = None) -> Average:
    return Average(
        high=_positive(entry.get("avgHighPrice")),
        low=_positive(entry.get("avgLowPrice")),
        high_volume=max(_int(entry.get("highPriceVolume")) or 0, 0),
        low_volume=max(_int(entry.get("lowPriceVolume")) or 0, 0),
        timestamp=timestamp,
    )


def parse_averages(data: bytes | str | Any, window: str = "1h") -> Averages:
    """``/5m``, ``/1h`` or ``/24h`` → Averages; null averages stay None."""
    what = f"Wiki prices API /{window}"
    doc = _load(data, what)
    stamp = _time(doc.get("timestamp")) if isinstance(doc, dict) else None
    items = {
        item_id: _average(entry, stamp)
        for key, entry in _data(doc, what).items()
        if (item_id := _item_id(str(key))) is not None and isinstance(entry, dict)
    }
    return Averages(window, stamp, items)


def parse_timeseries(data: bytes | str | Any) -> list[Average]:
    """``/timeseries`` → points, oldest first."""
    doc = _load(data, "Wiki prices API /timeseries")
    points = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(points, list):
        raise ValidationError("Wiki prices API /timeseries: expected {\"data\": [...]}")
    out = [
        _average(p, _time(p.get("timestamp")))
        for p in points
        if isinstance(p, dict) and _time(p.get("timestamp")) is not None
    ]
    out.sort(key=lambda a: a.timestamp or datetime.min.replace(tzinfo=timezone.utc))
    return out


# -- official GE API ------------------------------------------------------------------------------

_GE_NUMBER = re.compile(r"([+-]?)\s*([0-9][0-9,]*(?:\.[0-9]+)?)\s*([kmb]?)", re.IGNORECASE)
_GE_SCALE = {"": 1, "k": 1_000, "m": 1_000_000, "b": 1_000_000_000}


def parse_ge_price(value: object) -> int | None:
    """The official API's price text → gp: ``"2.9m"`` → 2,900,000; ``"- 4,849"`` → -4,849;
    ``"1,234"`` → 1,234; ``"15.5k"`` → 15,500; ``"+5"`` → 5; an int stays itself. Anything
    else → None."""
    if type(value) is int:
        return value
    if not isinstance(value, str):
        return None
    m = _GE_NUMBER.fullmatch(value.strip())
    if m is None:
        return None
    sign, digits, suffix = m.groups()
    try:
        number = float(digits.replace(",", "")) * _GE_SCALE[suffix.lower()]
    except ValueError:
        return None
    result = int(round(number))
    return -result if sign == "-" else result


def _approximate(value: object) -> bool:
    return isinstance(value, str) and value.strip()[-1:].lower() in ("k", "m", "b")


def parse_ge_detail(data: bytes | str | Any) -> OfficialPrice:
    """``catalogue/detail.json`` → OfficialPrice (``members`` arrives as the string "true")."""
    doc = _load(data, "official GE API")
    item = doc.get("item") if isinstance(doc, dict) else None
    if not isinstance(item, dict) or _int(item.get("id")) is None:
        raise ValidationError("official GE API: expected {\"item\": {\"id\": ...}}")
    current = item.get("current") if isinstance(item.get("current"), dict) else {}
    today = item.get("today") if isinstance(item.get("today"), dict) else {}
    members = item.get("members")
    if isinstance(members, str):
        members = {"true": True, "false": False}.get(members.strip().lower())
    name = item.get("name")
    return OfficialPrice(
        id=_int(item["id"]),  # type: ignore[arg-type]  # checked above
        name=name if isinstance(name, str) else f"item {item['id']}",
        price=parse_ge_price(current.get("price")),
        today_change=parse_ge_price(today.get("price")),
        members=members if isinstance(members, bool) else None,
        approximate=_approximate(current.get("price")),
        description=item.get("description") if isinstance(item.get("description"), str) else None,
        icon=item.get("icon") if isinstance(item.get("icon"), str) else None,
    )


# -- clients --------------------------------------------------------------------------------------


def user_agent(contact: str) -> str:
    """The User-Agent the Wiki asks for: this program, and how to reach whoever runs it."""
    from . import __version__

    who = f"contact: {contact.strip()}" if contact.strip() else "no contact configured"
    return f"osrs-notify/{__version__} (self-hosted Discord notifier; GE price alerts; {who})"


CONTACT_WARNING = (
    "contact is empty: the OSRS Wiki asks price clients for a way to reach their operator and "
    "may block anonymous ones; set contact = \"you@example.com\" (or a Discord handle) in the "
    "config"
)


def wiki_http_config(settings: Settings) -> HttpConfig:
    """The Wiki client's own HTTP settings: never the OSRS API key (that is for a custom
    hiscores endpoint, not for a third party), no response cache (``/latest`` must be fresh;
    the item list is cached in the store)."""
    from .http import HttpConfig

    return HttpConfig(
        user_agent=user_agent(settings.contact),
        timeout=settings.poll.timeout,
        retries=settings.poll.retries,
        # A run makes 2–4 requests (never one per item): spaced, but not a second apart.
        rate_per_minute=WIKI_RATE_PER_MINUTE,
        cache_ttl=0,
        api_key=None,
    )


_WIKI_REFUSED = "the Wiki blocks anonymous User-Agents: set `contact` in the config"


def _check(response: Any, what: str, refused: str = "refused") -> bytes:
    status = response.status_code
    if status in (401, 403):
        raise ValidationError(f"{what}: HTTP {status} ({refused})")
    if status != 200:
        raise ValidationError(f"{what}: unexpected HTTP {status}")
    if "html" in response.headers.get("Content-Type", "").lower():
        raise PricesUnavailable(f"{what}: sent an HTML page instead of data")
    return bytes(response.content)


def _context(exc: OSRSApiError, what: str) -> OSRSApiError:
    """An HTTP-layer error as a prices error: outages become PricesUnavailable (whatever the
    HTTP layer called them), the rest keep their type; the message says which call failed."""
    if isinstance(exc, RateLimitError):
        new: OSRSApiError = RateLimitError(f"{what}: {exc}", exc.retry_after)
    elif exc.transient:
        new = PricesUnavailable(f"{what}: {exc}")
    else:
        new = type(exc)(f"{what}: {exc}")
    return new


class PricesClient:
    """The OSRS Wiki real-time prices API through an :class:`~poller.http.HttpClient`."""

    def __init__(self, http: HttpClient, endpoint: str = DEFAULT_ENDPOINT) -> None:
        self.http = http
        self.endpoint = endpoint.rstrip("/")

    def _get(self, path: str, params: Mapping[str, str] | None = None) -> bytes:
        try:
            response = self.http.get(f"{self.endpoint}{path}", params=params)
        except OSRSApiError as exc:  # its message names the URL
            raise _context(exc, "Wiki prices API") from exc
        return _check(response, f"Wiki prices API {path}", _WIKI_REFUSED)

    def mapping(self) -> list[ItemInfo]:
        return parse_mapping(self._get("/mapping"))

    def latest(self) -> dict[int, Latest]:
        """Every item's latest prices, in one request."""
        return parse_latest(self._get("/latest"))

    def averages(self, window: str = "1h") -> Averages:
        if window not in WINDOWS:
            raise ValueError(f"window must be one of {WINDOWS}, got {window!r}")
        return parse_averages(self._get(f"/{window}"), window)

    def timeseries(self, item_id: int, timestep: str = "1h") -> list[Average]:
        if timestep not in TIMESTEPS:
            raise ValueError(f"timestep must be one of {TIMESTEPS}, got {timestep!r}")
        return parse_timeseries(
            self._get("/timeseries", {"timestep": timestep, "id": str(item_id)})
        )


class OfficialGEClient:
    """The official GE catalogue (Jagex's servers, the hiscores' base URL)."""

    def __init__(self, http: HttpClient, endpoint: str = "https://secure.runescape.com") -> None:
        self.http = http
        self.endpoint = endpoint.rstrip("/")

    def detail(self, item_id: int) -> OfficialPrice:
        what = "official GE API"
        url = f"{self.endpoint}/m=itemdb_oldschool/api/catalogue/detail.json"
        try:
            response = self.http.get(url, params={"item": str(item_id)})
        except OSRSApiError as exc:
            raise _context(exc, what) from exc
        if response.status_code == 404:
            raise ValidationError(f"{what}: item {item_id} is not on the Grand Exchange")
        return parse_ge_detail(_check(response, what))
