"""Shared pieces of the benchmarks: real-shaped hiscores bodies, a config writer, loopback fakes,
medians and the table printer.

Bodies follow the row layout of the newest real capture we hold
(``../shared/fixtures/hiscores/lynx_titan_2026-07_noids.json``: names and order), with the
top-level ``name`` and per-row ``id`` fields the live API sends (as in the 2026-01 capture), in
the live API's compact form. Without the fixture the layout of ``poller.game`` is used, as
``tests/e2e/osrs/fake_hiscores.hiscores_body`` does.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from poller import game

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT.parent / "shared" / "fixtures" / "hiscores" / "lynx_titan_2026-07_noids.json"
E2E = ROOT / "tests" / "e2e" / "osrs"
PYTHON = sys.executable
OSRS_NOTIFY = str(Path(sys.executable).with_name("osrs-notify"))


# -- the e2e fakes (tests/e2e/osrs is not a package) ---------------------------------------------


def load_e2e(name: str) -> ModuleType:
    """``tests/e2e/osrs/{name}.py`` as a module (fake_discord, fake_hiscores)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, E2E / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


# -- real-shaped bodies --------------------------------------------------------------------------


def layout() -> tuple[tuple[str, ...], tuple[str, ...], str]:
    """(skill rows incl. Overall, activity rows, where the layout came from)."""
    if FIXTURE.is_file():
        doc = json.loads(FIXTURE.read_text())
        return (
            tuple(e["name"] for e in doc["skills"]),
            tuple(e["name"] for e in doc["activities"]),
            f"fixture {FIXTURE.name}",
        )
    return (game.OVERALL, *game.SKILLS), tuple(game.ACTIVITIES), "poller.game (no fixture)"


SKILL_ROWS, ACTIVITY_ROWS, LAYOUT_SOURCE = layout()
_SKILLS = tuple(s for s in SKILL_ROWS if s != game.OVERALL)
_BOSSY = tuple(
    a for a in ACTIVITY_ROWS
    if game.category(a) in (game.Category.BOSS, game.Category.RAID)
)


@dataclass
class Player:
    """One account's hiscores, mutable so a round can move it on."""

    name: str
    xp: dict[str, int]  # skill -> xp, -1 unranked
    score: dict[str, int]  # activity -> score, -1 unranked
    rank: dict[str, int] = field(default_factory=dict)

    def body(self, rng: random.Random | None = None) -> bytes:
        """The live API's compact JSON. With ``rng`` every rank drifts a little, as ranks do
        between two polls of a player who did nothing (other players overtake)."""
        rows = []
        total_level = total_xp = 0
        for i, skill in enumerate(_SKILLS, start=1):
            xp = self.xp[skill]
            if xp < 0:
                rows.append({"id": i, "name": skill, "rank": -1, "level": 1, "xp": -1})
                total_level += game.start_level(skill)
                continue
            level = game.level_for_xp(xp)
            rows.append({"id": i, "name": skill, "rank": self._rank(skill, rng), "level": level,
                         "xp": xp})
            total_level += level
            total_xp += xp
        overall = {"id": 0, "name": game.OVERALL, "rank": self._rank(game.OVERALL, rng),
                   "level": total_level, "xp": total_xp}
        acts = []
        for i, name in enumerate(ACTIVITY_ROWS):
            score = self.score[name]
            rank = self._rank(name, rng) if score >= 0 else -1
            acts.append({"id": i, "name": name, "rank": rank, "score": score})
        doc = {"name": self.name, "skills": [overall, *rows], "activities": acts}
        return json.dumps(doc, separators=(",", ":")).encode()

    def _rank(self, metric: str, rng: random.Random | None) -> int:
        rank = self.rank.setdefault(metric, 1000 + (hash((self.name, metric)) % 900_000))
        if rng is not None:
            rank = max(1, rank + rng.randint(0, 40))
            self.rank[metric] = rank
        return rank

    def play(self, rng: random.Random) -> None:
        """A session of play: xp in 1-3 skills (sometimes a level), often a few boss kills."""
        for skill in rng.sample(_SKILLS, rng.randint(1, 3)):
            if self.xp[skill] >= 0:
                self.xp[skill] = min(game.MAX_XP, self.xp[skill] + rng.randint(2_000, 400_000))
        if rng.random() < 0.6:
            boss = rng.choice(_BOSSY)
            old = self.score[boss]
            self.score[boss] = (old if old >= 0 else game.minimum(boss) - 1) + rng.randint(1, 12)


def make_player(i: int, seed: int = 1) -> Player:
    """A mid-game account: every skill 40-99 (1 in 20 has two unranked skills), about a third of
    the activities ranked."""
    rng = random.Random(seed * 1_000_003 + i)
    xp = {}
    for skill in _SKILLS:
        level = min(99, max(40, int(rng.gauss(78, 12))))
        xp[skill] = game.xp_for_level(level) + rng.randint(0, 5_000)
    if rng.random() < 0.05:
        for skill in rng.sample(_SKILLS, 2):
            xp[skill] = -1
    score = {}
    for name in ACTIVITY_ROWS:
        if rng.random() < 0.33:
            score[name] = game.minimum(name) + int(rng.expovariate(1 / 300))
        else:
            score[name] = -1
    return Player(f"Bench{i:05d}", xp, score)


def players(n: int, seed: int = 1) -> list[Player]:
    return [make_player(i, seed) for i in range(n)]


class MemoryFetcher:
    """``pipeline.Fetcher`` over bodies held in memory: the real parser, no network."""

    def __init__(self, bodies: dict[str, bytes]) -> None:
        self.bodies = bodies

    def fetch(self, name: str, mode: str = "regular", **_):  # type: ignore[no-untyped-def]
        from poller.errors import PlayerNotFound
        from poller.hiscores import parse_json

        if mode != "regular":  # regular accounts: every other board answers 404
            raise PlayerNotFound(f"{name!r}: not on the {mode} board")

        return parse_json(self.bodies[name])


# -- configs -------------------------------------------------------------------------------------

RULES = (
    "[rules]\n"
    "levels = { min_level = 1, every = 1, every_from = 90, virtual = false }\n"
    "xp = { every_after_99 = 5_000_000 }\n"
    'bosses = { every = 50, overrides = { "TzKal-Zuk" = 1 } }\n'
    "clues = { every = 100 }\nactivities = { every = 100 }\n"
)


def write_config(
    home: Path,
    names: Iterable[str],
    *,
    webhook_url: str | None = "http://127.0.0.1:9/api/webhooks/1/benchtoken",
    poll: Mapping[str, object] | None = None,
    database: str = "sqlite:///state.db",
    extra: str = "",
) -> Path:
    """An osrs-notify.toml in ``home`` (the example config's rules; one webhook "clan")."""
    lines = [f'database = "{database}"', 'contact = "bench@example.org"', "[poll]"]
    for key, value in (poll or {}).items():
        lines.append(f"{key} = {value}")
    if webhook_url is not None:
        lines += ["[webhooks.clan]", f'url = "{webhook_url}"']
    text = "\n".join(lines) + "\n" + RULES + extra
    text += "".join(f'\n[[players]]\nname = "{n}"\n' for n in names)
    path = home / "osrs-notify.toml"
    path.write_text(text)
    return path


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for a CLI subprocess: ours without OSRS_/DATABASE_/REDIS_ settings."""
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("OSRS_", "DATABASE_", "REDIS_", "DISCORD_"))
    }
    env.update(extra)
    return env


# -- a slow loopback hiscores --------------------------------------------------------------------


class SlowHiscores:
    """A loopback hiscores answering every request after ``delay`` seconds, from ``bodies``
    (player name -> bytes; unknown names 404). Records each request's arrival time and the most
    requests in flight at once. HTTP/1.1 keep-alive, as the live API."""

    def __init__(self, bodies: Callable[[str], bytes | None], delay: float = 0.2) -> None:
        self.bodies = bodies
        self.delay = delay
        self.arrivals: list[float] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        handler = type("Handler", (_SlowHandler,), {"fake": self})
        self.httpd = _Server(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def reset(self) -> None:
        with self.lock:
            self.arrivals.clear()
            self.max_in_flight = 0

    def __enter__(self) -> SlowHiscores:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default 5 drops SYNs under many concurrent clients


class _SlowHandler(BaseHTTPRequestHandler):
    fake: SlowHiscores
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:  # noqa: N802
        fake = self.fake
        with fake.lock:
            fake.arrivals.append(time.monotonic())
            fake.in_flight += 1
            fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
        try:
            if fake.delay:
                time.sleep(fake.delay)
            player = parse_qs(urlsplit(self.path).query).get("player", [""])[0]
            body = fake.bodies(player)
            status = 200 if body is not None else 404
            body = body if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if status == 200 else "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        finally:
            with fake.lock:
                fake.in_flight -= 1

    def log_message(self, format: str, *args: object) -> None:
        pass


def max_in_window(times: Sequence[float], window: float = 1.0) -> int:
    """The most of ``times`` inside any half-open window [t, t + window)."""
    ts = sorted(times)
    best = lo = 0
    for hi, t in enumerate(ts):
        while ts[lo] <= t - window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


# -- numbers and tables --------------------------------------------------------------------------


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def spread(values: Sequence[float]) -> str:
    """min-max of the repetitions, for the reader to judge the noise."""
    return f"{min(values):.3g}-{max(values):.3g}" if len(values) > 1 else "-"


def table(title: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub-flavoured markdown table (pastes into the README as is)."""
    rows = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [f"\n### {title}\n", line(header), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    return "\n".join(out)


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} cores ({model}), Python {platform.python_version()} "
            f"({platform.python_implementation()}), {platform.system()} {platform.release()}")


def header(what: str) -> None:
    print(f"# {what}\n\nmachine: {machine()}\nbodies: {LAYOUT_SOURCE}, compact JSON with ids\n"
          f"started: {time.strftime('%Y-%m-%d %H:%M:%S')}", flush=True)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result
