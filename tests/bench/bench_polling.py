"""2. Polling against a slow endpoint: the real `osrs-notify poll` against a loopback hiscores
that answers every request after 200 ms.

    python -m tests.bench.bench_polling               # about 100 s
    python -m tests.bench.bench_polling --reps 1 --naive 50

Two configurations, each a first poll of 1,000 players (every one fetched, a silent baseline
stored): one where the concurrency bounds the run (rate 6000/min, concurrency 16: the bound is
1000 x 0.2 s / 16 = 12.5 s, the rate alone would allow 10 s) and one where the rate does (rate
3000/min, concurrency 16: 1000 / 50 per s = 20 s). The wall time is the whole CLI process, start
to exit (start-up, roster sync and the SQLite writes included); the fetch span is the fake's first
arrival to its last answer. The fake counts the most requests that arrived in any one-second
window [t, t+1).

Beside it the naive baseline: a sequential ``requests`` loop (get, parse) over the same fake.
It needs 1000 x 0.2 s = 200 s, so it runs over the first ``--naive`` players (default 100) and
its time is scaled to 1,000 — said so in the table.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import (
    OSRS_NOTIFY,
    SlowHiscores,
    cli_env,
    header,
    max_in_window,
    median,
    players,
    spread,
    table,
    verdict,
    write_config,
)

N = 1000
LATENCY = 0.2
CASES = (
    # (label, rate per minute, concurrency)
    ("concurrency-bound", 6000, 16),
    ("rate-bound", 3000, 16),
)
TARGET = 0.9


def bound(n: int, rate: int, concurrency: int, latency: float = LATENCY) -> float:
    return max(n / (rate / 60.0), n * latency / concurrency)


def run_cli(fake: SlowHiscores, names: list[str], rate: int, concurrency: int) -> dict[str, float]:
    fake.reset()
    with tempfile.TemporaryDirectory(prefix="osrs-bench-poll-") as tmp:
        home = Path(tmp)
        config = write_config(
            home, names, webhook_url=None,
            poll={"concurrency": concurrency, "rate_limit": rate, "timeout": 10},
        )
        env = cli_env(OSRS_API_ENDPOINT=fake.url)
        start = time.perf_counter()
        out = subprocess.run([OSRS_NOTIFY, "--config", str(config), "poll"], env=env,
                             capture_output=True, text=True, timeout=300)
        wall = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(
            f"poll exited {out.returncode}:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
        )
    arrivals = sorted(fake.arrivals)
    return {
        "wall": wall,
        "span": arrivals[-1] + LATENCY - arrivals[0],
        "requests": len(arrivals),
        "max_1s": max_in_window(arrivals, 1.0),
        "in_flight": fake.max_in_flight,
    }


def run_naive(fake: SlowHiscores, names: list[str]) -> float:
    """The naive loop: one request after the other, parse each (seconds for ``names``)."""
    import requests

    from poller.hiscores import parse_json

    fake.reset()
    session = requests.Session()
    start = time.perf_counter()
    for name in names:
        resp = session.get(f"{fake.url}/m=hiscore_oldschool/index_lite.json",
                           params={"player": name}, timeout=10)
        resp.raise_for_status()
        parse_json(resp.content)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=2, help="runs of each configuration")
    ap.add_argument("--naive", type=int, default=100,
                    help="players in the naive loop (scaled to 1,000)")
    args = ap.parse_args(argv)
    header(f"2. Polling {N:,} players against a loopback hiscores answering in "
           f"{LATENCY * 1000:.0f} ms")
    roster = players(N)
    bodies = {p.name: p.body() for p in roster}
    names = list(bodies)
    rows = []
    with SlowHiscores(bodies.get, LATENCY) as fake:
        for label, rate, conc in CASES:
            b = bound(N, rate, conc)
            runs = []
            for rep in range(args.reps):
                r = run_cli(fake, names, rate, conc)
                runs.append(r)
                print(f"  {label} run {rep + 1}/{args.reps}: wall {r['wall']:.2f} s, fetch span "
                      f"{r['span']:.2f} s, {r['requests']} requests, max {r['max_1s']} in 1 s, "
                      f"{r['in_flight']} in flight at most", flush=True)
            wall = median(r["wall"] for r in runs)
            span = median(r["span"] for r in runs)
            worst = max(r["max_1s"] for r in runs)
            allowed = rate / 60.0
            eff = b / wall
            rows.append([
                f"osrs-notify poll, {label}", f"{rate}/min, {conc}", f"{b:.1f}",
                f"{wall:.2f} ({spread([r['wall'] for r in runs])})", f"{span:.2f}",
                f"{eff:.2f} / {b / span:.2f}",
                f"{worst} (limit {allowed:.0f})",
                f"≥ {TARGET}: {verdict(eff >= TARGET)}; rate: {verdict(worst <= allowed)}",
            ])
        seconds = run_naive(fake, names[: args.naive])
        naive_max = max_in_window(fake.arrivals, 1.0)
        scaled = seconds * N / args.naive
        for label, rate, conc in CASES:
            b = bound(N, rate, conc)
            rows.append([
                f"naive sequential loop ({args.naive} players, scaled x{N // args.naive})",
                f"vs {label}", f"{b:.1f}", f"{scaled:.1f}", "", f"{b / scaled:.2f}",
                f"{naive_max}", "",
            ])
    print(table(
        f"Polling {N:,} players, {LATENCY * 1000:.0f} ms per request (median of {args.reps} "
        "runs; efficiency = bound / time, 1.0 = at the bound)",
        ["client", "rate, concurrency", "bound s", "wall s (range)", "fetch span s",
         "efficiency wall / span", "max req in any 1 s", "target"],
        rows,
    ))
    return 0


if __name__ == "__main__":
    sys.exit(main())
