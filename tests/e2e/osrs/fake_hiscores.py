"""A fake OSRS hiscores server on 127.0.0.1 for end-to-end runs of the real CLI.

The test process owns the server and scripts what each player's next request returns; the CLI
runs as a subprocess pointed at it with OSRS_API_ENDPOINT.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from poller import game

MAINTENANCE_HTML = (
    "<!DOCTYPE html><html><head><title>RuneScape - Hiscores</title></head>"
    "<body><p>The hiscores are currently unavailable due to maintenance.</p></body></html>"
)


def hiscores_body(
    skills_xp: Mapping[str, int] | None = None,
    activities: Mapping[str, int] | None = None,
) -> dict[str, object]:
    """A real-shaped index_lite.json body: every skill and activity row, named, in order.

    Unlisted skills are unranked ({"rank":-1,"level":1,"xp":-1}); unlisted activities -1.
    """
    skills_xp = dict(skills_xp or {})
    activities = dict(activities or {})
    rows = []
    total_level = total_xp = 0
    for i, skill in enumerate(game.SKILLS, start=1):
        xp = skills_xp.get(skill)
        if xp is None:
            rows.append({"id": i, "name": skill, "rank": -1, "level": 1, "xp": -1})
            total_level += 10 if skill == "Hitpoints" else 1
        else:
            level = game.level_for_xp(xp)
            rows.append({"id": i, "name": skill, "rank": 1000 + i, "level": level, "xp": xp})
            total_level += level
            total_xp += xp
    overall = {"id": 0, "name": "Overall", "rank": 500, "level": total_level, "xp": total_xp}
    acts = [
        {"id": i, "name": name, "rank": (100 + i) if name in activities else -1,
         "score": activities.get(name, -1)}
        for i, name in enumerate(game.ACTIVITIES)
    ]
    return {"skills": [overall, *rows], "activities": acts}


# The boards ``mode = "auto"`` reads, by account type, and the boards each type is listed on:
# an ironman is on the regular board too, a hardcore or an ultimate on the ironman board too.
BOARDS: Mapping[str, str] = {
    "regular": "hiscore_oldschool",
    "ironman": "hiscore_oldschool_ironman",
    "hardcore": "hiscore_oldschool_hardcore_ironman",
    "ultimate": "hiscore_oldschool_ultimate",
}
LISTED_ON: Mapping[str, tuple[str, ...]] = {
    "regular": ("regular",),
    "ironman": ("regular", "ironman"),
    "hardcore": ("regular", "ironman", "hardcore"),
    "ultimate": ("regular", "ironman", "ultimate"),
}


@dataclass
class Reply:
    status: int = 200
    body: str = ""
    content_type: str = "application/json"


@dataclass
class FakeHiscores:
    """Scripted replies per (board, normalised player name); records every request."""

    replies: dict[tuple[str, str], Reply] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    default: Reply | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set_player(
        self, name: str, body: Mapping[str, object], board: str = "hiscore_oldschool"
    ) -> None:
        self.replies[(board, _key(name))] = Reply(body=json.dumps(body))

    def set_raw(self, name: str, text: str, board: str = "hiscore_oldschool") -> None:
        """Any body at all, sent as JSON: for answers no real parser should accept."""
        self.replies[(board, _key(name))] = Reply(body=text)

    def set_status(self, name: str, status: int, board: str = "hiscore_oldschool") -> None:
        self.replies[(board, _key(name))] = Reply(status=status, body="", content_type="text/plain")

    def set_html(self, name: str, board: str = "hiscore_oldschool") -> None:
        self.replies[(board, _key(name))] = Reply(body=MAINTENANCE_HTML, content_type="text/html")

    def set_account(self, name: str, body: Mapping[str, object], account_type: str) -> None:
        """``body`` on every board an account of this type is listed on (the same stats on
        each, as the real boards show them); 404 on the other account-type boards."""
        for kind, board in BOARDS.items():
            if kind in LISTED_ON[account_type]:
                self.set_player(name, body, board)
            else:
                self.replies.pop((board, _key(name)), None)

    def set_dead_hardcore(
        self, name: str, body: Mapping[str, object], at_death: Mapping[str, object]
    ) -> None:
        """A hardcore who died: the regular and ironman boards go on (``body``), the
        hardcore board stays frozen at the stats of the death."""
        self.set_account(name, body, "ironman")
        self.set_player(name, at_death, BOARDS["hardcore"])

    def set_deironed(
        self, name: str, body: Mapping[str, object], at_deiron: Mapping[str, object]
    ) -> None:
        """An ironman who became a regular account: the ironman board stays frozen."""
        self.set_account(name, body, "regular")
        self.set_player(name, at_deiron, BOARDS["ironman"])

    def asked(self, name: str) -> list[str]:
        """The boards asked about ``name``, in order."""
        with self.lock:
            return [board for board, player in self.requests if _key(player) == _key(name)]

    def outage(self) -> None:
        """Every player gets the maintenance page (HTTP 200 with HTML, as Jagex does)."""
        self.default = Reply(body=MAINTENANCE_HTML, content_type="text/html")

    def recover(self) -> None:
        self.default = None

    def reply_for(self, board: str, player: str) -> Reply:
        with self.lock:
            self.requests.append((board, player))
        if self.default is not None:
            return self.default
        return self.replies.get((board, _key(player)), Reply(status=404, content_type="text/plain"))


def _key(name: str) -> str:
    return " ".join(name.replace("_", " ").replace("-", " ").lower().split())


class _Handler(BaseHTTPRequestHandler):
    fake: FakeHiscores

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        parts = urlsplit(self.path)
        board = unquote(parts.path.strip("/").split("/")[0]).removeprefix("m=")
        player = parse_qs(parts.query).get("player", [""])[0]
        if not parts.path.endswith("/index_lite.json") or not player:
            self._send(Reply(status=400, body="bad request", content_type="text/plain"))
            return
        self._send(self.fake.reply_for(board, player))

    def _send(self, reply: Reply) -> None:
        body = reply.body.encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass


class FakeServer:
    def __init__(self, fake: FakeHiscores) -> None:
        handler = type("Handler", (_Handler,), {"fake": fake})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        # A short poll interval: shutdown() waits for it, at the end of every test.
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
