"""3. Delivery: 1,000 events for 100 players through the real `osrs-notify deliver` to one webhook
of the strict loopback fake Discord (tests/e2e/osrs/fake_discord.py: 5 requests per 2 s per
webhook, real X-RateLimit-* headers, a JSON 429 past the bucket).

    python -m tests.bench.bench_delivery              # about 90 s
    python -m tests.bench.bench_delivery --reps 1

The outbox is filled by the real pipeline (``run_once`` over bodies in memory, SQLite), then the
CLI sends it. Two shapes of the same 1,000 events:

- burst: one poll in which each of 100 players gained a level in 10 skills (10 events each):
  one embed per player, packed ten to a message;
- backlog: ten polls each giving every player one level (what a Discord outage leaves behind):
  one embed per player and poll, 1,000 embeds.

The bucket's bound for M messages: the fake's window opens at the first request, so the last of
M requests can go out at the earliest 2 s x (ceil(M / 5) - 1) after the first. Efficiency =
bound / delivery span (the fake's first request to its last); the CLI's whole wall time (start-up
and the outbox read included) is shown beside it.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from poller import game

from .common import (
    ACTIVITY_ROWS,
    OSRS_NOTIFY,
    MemoryFetcher,
    Player,
    cli_env,
    header,
    load_e2e,
    median,
    spread,
    table,
    verdict,
    write_config,
)

PLAYERS = 100
SKILLS = ("Cooking", "Woodcutting", "Fletching", "Fishing", "Firemaking", "Crafting", "Smithing",
          "Mining", "Herblore", "Agility")  # not combat skills: exactly one event per level
BUCKET, WINDOW = 5, 2.0
TARGET = 0.9


def roster() -> list[Player]:
    out = []
    for i in range(PLAYERS):
        xp = {s: game.xp_for_level(50) for s in game.SKILLS}
        score = dict.fromkeys(ACTIVITY_ROWS, -1)
        out.append(Player(f"Deliver{i:03d}", xp, score))
    return out


def fill_outbox(home: Path, hook_url: str, shape: str) -> int:
    """Baseline, then the polls of ``shape``; returns the events queued."""
    from poller.config import load_settings
    from poller.pipeline import run_once
    from poller.store import open_store

    team = roster()
    config = write_config(home, [p.name for p in team], webhook_url=hook_url,
                          database=f"sqlite:///{home / 'state.db'}")
    settings = load_settings(config, environ={})
    store = open_store(settings.database_url)
    clock = iter(datetime(2026, 7, 1, 12, tzinfo=timezone.utc) + timedelta(minutes=m)
                 for m in range(10_000))
    fetcher = MemoryFetcher({p.name: p.body() for p in team})
    run_once(settings, store, fetcher, now=lambda: next(clock))
    events = 0
    rounds = [SKILLS] if shape == "burst" else [(s,) for s in SKILLS]
    for skills in rounds:
        for p in team:
            for s in skills:
                p.xp[s] = game.xp_for_level(game.level_for_xp(p.xp[s]) + 1)
        fetcher.bodies = {p.name: p.body() for p in team}
        events += run_once(settings, store, fetcher, now=lambda: next(clock)).events
    store.close()
    return events


def run(shape: str) -> dict[str, float]:
    fake_discord = load_e2e("fake_discord")
    with fake_discord.FakeDiscord(bucket_limit=BUCKET, bucket_window=WINDOW) as discord:
        hook = discord.add_webhook(name="clan")
        with tempfile.TemporaryDirectory(prefix="osrs-bench-deliver-") as tmp:
            home = Path(tmp)
            events = fill_outbox(home, discord.webhook_url(hook.id), shape)
            env = cli_env(DISCORD_API_BASE=discord.api_base)
            start = time.perf_counter()
            out = subprocess.run([OSRS_NOTIFY, "--config", str(home / "osrs-notify.toml"),
                                  "deliver"], env=env, capture_output=True, text=True, timeout=300)
            wall = time.perf_counter() - start
        if out.returncode != 0:
            raise SystemExit(f"deliver exited {out.returncode}:\n{out.stdout}\n{out.stderr}")
        with discord.lock:
            reqs = list(discord.requests)
            messages = discord.messages_for(hook.id)
    times = sorted(r.time for r in reqs)
    m = len(messages)
    bound = WINDOW * (math.ceil(m / BUCKET) - 1)
    span = times[-1] - times[0] if times else 0.0
    embeds = sum(len(msg.body.get("embeds", [])) for msg in messages)
    return {
        "events": events,
        "messages": m,
        "requests": len(reqs),
        "429": sum(1 for r in reqs if r.status == 429),
        "embeds": embeds,
        "bound": bound,
        "span": span,
        "wall": wall,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=2, help="runs of each shape")
    args = ap.parse_args(argv)
    header(f"3. Delivery of 1,000 events for {PLAYERS} players to one webhook "
           f"({BUCKET} requests per {WINDOW:g} s)")
    rows = []
    for shape in ("burst", "backlog"):
        runs = []
        for rep in range(args.reps):
            r = run(shape)
            runs.append(r)
            print(f"  {shape} run {rep + 1}/{args.reps}: {r['events']} events, {r['messages']} "
                  f"messages ({r['embeds']} embeds), {r['requests']} requests, {r['429']} x 429, "
                  f"span {r['span']:.2f} s (bound {r['bound']:.1f} s), wall {r['wall']:.2f} s",
                  flush=True)
        span = median(r["span"] for r in runs)
        wall = median(r["wall"] for r in runs)
        b = median(r["bound"] for r in runs)
        throttled = sum(r["429"] for r in runs)
        eff = b / span if span else float("nan")
        rows.append([
            shape, f"{median(r['events'] for r in runs):.0f}",
            f"{median(r['messages'] for r in runs):.0f} ({median(r['embeds'] for r in runs):.0f} "
            "embeds)", f"{b:.1f}", f"{span:.2f} ({spread([r['span'] for r in runs])})",
            f"{wall:.2f}", f"{eff:.2f} / {b / wall:.2f}", str(throttled),
            f"≥ {TARGET}: {verdict(eff >= TARGET)}; no 429: {verdict(throttled == 0)}",
        ])
    print(table(
        f"Delivery to one webhook, strict fake Discord (median of {args.reps} runs; efficiency "
        "= bound / time)",
        ["shape", "events", "messages", "bucket bound s", "delivery span s (range)", "CLI wall s",
         "efficiency span / wall", "429s (all runs)", "target"],
        rows,
    ))
    return 0


if __name__ == "__main__":
    sys.exit(main())
