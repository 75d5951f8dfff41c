"""A fake OSRS Wiki prices API (and official GE catalogue) on 127.0.0.1 for end-to-end runs.

It answers like the real one where osrs-notify can tell the difference:

- ``{prefix}/mapping``, ``/latest``, ``/5m``, ``/1h``, ``/24h``, ``/timeseries?timestep=&id=``
  with real-shaped JSON (``{"data": {"<id>": {...}}}``, null sides where nothing traded);
- like the Wiki, it refuses (403) a request whose User-Agent is a library default
  (``python-requests/…``) or empty;
- ``/m=itemdb_oldschool/api/catalogue/detail.json?item=ID``: the official GE API's strings
  ("2.9m", "- 4,849", ``"members": "true"``);
- faults: ``outage("503")`` (every prices path answers 503) or ``outage("html")`` (200 with an
  HTML error page, as a Cloudflare front does).

The test scripts prices with ``set_price`` / ``set_average`` and reads ``requests`` to count
calls per path.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

PREFIX = "/api/v1/osrs"
OUTAGE_HTML = (
    "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    "<body><h1>Bad gateway</h1><p>The web server reported a bad gateway error.</p></body></html>"
)

# Real-shaped /mapping entries (the bond has no alch values; one item has no limit).
ITEMS: list[dict[str, Any]] = [
    {"examine": "A mystical bow carved from the twisted remains of the Great Olm.", "id": 20997,
     "members": True, "lowalch": 1600000, "limit": 8, "value": 4000000, "highalch": 2400000,
     "icon": "Twisted bow.png", "name": "Twisted bow"},
    {"examine": "This bond can be redeemed for membership.", "id": 13190, "members": False,
     "value": 2000000, "icon": "Old school bond.png", "limit": 100, "name": "Old school bond"},
    {"examine": "Used for alchemy spells.", "id": 561, "members": False, "lowalch": 72,
     "limit": 12000, "value": 180, "highalch": 108, "icon": "Nature rune.png",
     "name": "Nature rune"},
    {"examine": "A weapon from the Abyss.", "id": 4151, "members": True, "lowalch": 48000,
     "limit": 70, "value": 120001, "highalch": 72000, "icon": "Abyssal whip.png",
     "name": "Abyssal whip"},
    {"examine": "A set of instructions.", "id": 2528, "members": True, "lowalch": 260,
     "value": 650, "highalch": 390, "icon": "Lamp.png", "name": "Lamp"},
]


@dataclass
class FakePrices:
    items: list[dict[str, Any]] = field(default_factory=lambda: [dict(i) for i in ITEMS])
    latest: dict[int, dict[str, int | None]] = field(default_factory=dict)
    averages: dict[str, dict[int, dict[str, int | None]]] = field(default_factory=dict)
    official: dict[int, dict[str, Any]] = field(default_factory=dict)
    down: Literal["503", "html"] | None = None
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, user agent)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set_price(self, item_id: int, high: int | None, low: int | None,
                  *, age: int = 30) -> None:
        now = int(time.time())
        self.latest[item_id] = {
            "high": high, "highTime": now - age if high is not None else None,
            "low": low, "lowTime": now - age - 10 if low is not None else None,
        }

    def set_average(self, window: str, item_id: int, high: int | None, low: int | None) -> None:
        self.averages.setdefault(window, {})[item_id] = {
            "avgHighPrice": high, "highPriceVolume": 120 if high is not None else 0,
            "avgLowPrice": low, "lowPriceVolume": 95 if low is not None else 0,
        }

    def outage(self, kind: Literal["503", "html"] | None = "503") -> None:
        self.down = kind

    def recover(self) -> None:
        self.down = None

    def calls(self) -> Counter[str]:
        with self.lock:
            return Counter(path for path, _ in self.requests)

    # -- answers

    def answer(self, path: str, query: dict[str, list[str]], agent: str) -> tuple[int, str, str]:
        with self.lock:
            self.requests.append((path, agent))
        if path.startswith("/m=itemdb_oldschool/"):
            return self._official(query)
        if not agent.strip() or agent.lower().startswith(("python-requests", "python-urllib")):
            return 403, "text/plain", "Please set a descriptive User-Agent with contact info"
        if not path.startswith(PREFIX):
            return 404, "text/plain", "not found"
        if self.down == "503":
            return 503, "text/plain", "Service Unavailable"
        if self.down == "html":
            return 200, "text/html; charset=utf-8", OUTAGE_HTML
        route = path[len(PREFIX):]
        stamp = int(time.time()) // 300 * 300
        if route == "/mapping":
            return 200, "application/json", json.dumps(self.items)
        if route == "/latest":
            data = {str(k): v for k, v in self.latest.items()}
            return 200, "application/json", json.dumps({"data": data})
        if route in ("/5m", "/1h", "/24h"):
            data = {str(k): v for k, v in self.averages.get(route[1:], {}).items()}
            return 200, "application/json", json.dumps({"data": data, "timestamp": stamp})
        if route == "/timeseries":
            item = int(query.get("id", ["0"])[0])
            avg = self.averages.get("1h", {}).get(item)
            points = [{"timestamp": stamp - 3600 * i, **(avg or {})} for i in range(3, 0, -1)]
            return 200, "application/json", json.dumps({"data": points, "itemId": item})
        return 400, "application/json", json.dumps({"error": "bad route"})

    def _official(self, query: dict[str, list[str]]) -> tuple[int, str, str]:
        item = int(query.get("item", ["0"])[0] or 0)
        detail = self.official.get(item)
        if detail is None:
            return 404, "text/html", "<html>not found</html>"
        return 200, "application/json", json.dumps({"item": detail})


class _Handler(BaseHTTPRequestHandler):
    fake: FakePrices

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        parts = urlsplit(self.path)
        status, ctype, body = self.fake.answer(
            parts.path, parse_qs(parts.query), self.headers.get("User-Agent", "")
        )
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass


class FakePricesServer:
    def __init__(self, fake: FakePrices) -> None:
        handler = type("Handler", (_Handler,), {"fake": fake})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        """What OSRS_PRICES_ENDPOINT is set to."""
        return self.origin + PREFIX

    def __enter__(self) -> FakePricesServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
