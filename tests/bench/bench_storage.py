"""5. Storage per poll on SQLite, and peak memory polling 10,000 players.

    python -m tests.bench.bench_storage               # about 90 s
    python -m tests.bench.bench_storage --memory-players 2000

Storage: 1,000 players polled through the real pipeline (bodies in memory, SQLite file), first a
silent baseline, then polls where nobody played (every rank drifted, as it does) and polls where
every player played (xp in 1-3 skills, often boss kills). Bytes added = growth of the pages in
use (page_count - freelist_count, after a WAL checkpoint) per table and index, from SQLite's
``dbstat``, divided by the player-polls. "Snapshot" counts the snapshot table and its index; the
events and deliveries a changed poll queues are shown apart (the outbox, not the history).

Memory: the real `osrs-notify poll` (``tests.bench.poll_driver``: the CLI with only the rate
limiter off) of 10,000 players against a loopback hiscores, in a child process whose peak
resident set (VmHWM, which the child reads at exit) is taken: a first poll (all baselines), a
second one with ~10% changed (the steady state: every last snapshot loaded), beside the same CLI
polling a config with no players (the interpreter and imports alone).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from .common import (
    PYTHON,
    ROOT,
    MemoryFetcher,
    SlowHiscores,
    cli_env,
    header,
    players,
    table,
    verdict,
    write_config,
)

TARGET_CHANGED = 1024  # bytes per changed poll
TARGET_MB = 150


def used_bytes(path: Path) -> dict[str, int]:
    """Bytes of pages in use per table/index (dbstat), after folding the WAL into the file."""
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        try:
            rows = con.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
            return {name: int(size) for name, size in rows}
        except sqlite3.OperationalError:  # SQLite built without dbstat: the whole file
            page = con.execute("PRAGMA page_size").fetchone()[0]
            count = con.execute("PRAGMA page_count").fetchone()[0]
            free = con.execute("PRAGMA freelist_count").fetchone()[0]
            return {"(all)": (count - free) * page}
    finally:
        con.close()


def group(sizes: dict[str, int]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for name, size in sizes.items():
        low = name.lower()
        if "snapshot" in low:
            out["snapshot"] += size
        elif "event" in low or "delivery" in low:
            out["outbox"] += size
        else:
            out["other"] += size
        out["all"] += size
    return out


def storage(n: int, polls: int, seed: int) -> list[list[str]]:
    from poller.config import load_settings
    from poller.pipeline import run_once
    from poller.store import open_store

    rng = random.Random(seed)
    roster = players(n, seed)
    rows = []
    with tempfile.TemporaryDirectory(prefix="osrs-bench-store-") as tmp:
        home = Path(tmp)
        db = home / "state.db"
        config = write_config(home, [p.name for p in roster], database=f"sqlite:///{db}")
        settings = load_settings(config, environ={})
        store = open_store(settings.database_url)
        fetcher = MemoryFetcher({p.name: p.body(rng) for p in roster})
        run_once(settings, store, fetcher)
        for label, play in (("unchanged (ranks drift only)", False), ("changed (everyone played)",
                                                                      True)):
            before = group(used_bytes(db))
            added = events = 0
            for _ in range(polls):
                if play:
                    for p in roster:
                        p.play(rng)
                fetcher.bodies = {p.name: p.body(rng) for p in roster}
                report = run_once(settings, store, fetcher)
                added += report.snapshots_added
                events += report.events
            after = group(used_bytes(db))
            per = {k: (after.get(k, 0) - before.get(k, 0)) / (n * polls) for k in after}
            target = 0 if not play else TARGET_CHANGED
            ok = per["snapshot"] == 0 if not play else per["snapshot"] < TARGET_CHANGED
            rows.append([
                label, f"{n:,} x {polls}", f"{added / (n * polls):.2f}",
                f"{per['snapshot']:.0f}", f"{per.get('outbox', 0):.0f} ({events} events)",
                f"{per.get('other', 0):.0f}", f"{per['all']:.0f}",
                f"{'0' if not play else '< ' + str(target)} B: {verdict(ok)}",
            ])
        store.close()
    return rows


def child_peak(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(peak RSS MB, wall s) of a child process (the child writes its own VmHWM at exit)."""
    with tempfile.NamedTemporaryFile(prefix="osrs-bench-peak-") as peak:
        start = time.perf_counter()
        out = subprocess.run(cmd, env={**env, "OSRS_BENCH_PEAK_FILE": peak.name}, cwd=cwd,
                             capture_output=True, text=True, timeout=300)
        wall = time.perf_counter() - start
        if out.returncode != 0:
            raise SystemExit(f"{cmd} exited {out.returncode}: {out.stderr[-2000:]}")
        return int(Path(peak.name).read_text()) / 1024, wall


def memory(n: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    roster = players(n, seed)
    bodies = {p.name: p.body(rng) for p in roster}
    rows = []
    with tempfile.TemporaryDirectory(prefix="osrs-bench-mem-") as tmp, \
            SlowHiscores(lambda name: bodies.get(name), delay=0.0) as fake:
        home = Path(tmp)
        env = cli_env(OSRS_API_ENDPOINT=fake.url, PYTHONPATH=str(ROOT))
        (home / "none").mkdir()
        empty = write_config(home / "none", [], webhook_url=None,
                             database=f"sqlite:///{home / 'none' / 'state.db'}")
        # cache_ttl 1 s: the second poll (a second later) must reach the fake, as an hourly cron
        # poll would with the default 300 s; the cache is still written on every poll.
        config = write_config(home, list(bodies), webhook_url=None, poll={"cache_ttl": 1},
                              database=f"sqlite:///{home / 'state.db'}")
        driver = [PYTHON, "-m", "tests.bench.poll_driver", "--config"]
        mb, wall = child_peak([*driver, str(empty), "poll"], env, ROOT)
        rows.append(["osrs-notify poll, no players (floor: interpreter + imports)", "-",
                     f"{mb:.0f}", f"{wall:.1f}", "", ""])
        for label, change in (("first poll: all baselines", False),
                              ("second poll: ~10% changed (steady state)", True)):
            if change:
                for p in rng.sample(roster, n // 10):
                    p.play(rng)
                bodies.update({p.name: p.body(rng) for p in roster})
            fake.reset()
            time.sleep(1.1)
            mb, wall = child_peak([*driver, str(config), "poll"], env, ROOT)
            cache = home / "state.db.http-cache"
            cache_mb = cache.stat().st_size / 2**20 if cache.exists() else 0.0
            db_mb = (home / "state.db").stat().st_size / 2**20
            rows.append([f"osrs-notify poll, {label}", f"{n:,} ({len(fake.arrivals)} requests)",
                         f"{mb:.0f}", f"{wall:.1f}", f"db {db_mb:.1f}, http cache {cache_mb:.1f}",
                         f"< {TARGET_MB} MB: {verdict(mb < TARGET_MB)}"])
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--players", type=int, default=1000, help="players for the storage part")
    ap.add_argument("--polls", type=int, default=3, help="polls of each kind (storage)")
    ap.add_argument("--memory-players", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args(argv)
    header("5. Storage per poll (SQLite) and peak memory")
    rows = storage(args.players, args.polls, args.seed)
    print(table(
        "Bytes added to the SQLite database per player-poll (pages in use, from dbstat)",
        ["poll", "player-polls", "snapshot rows / poll", "snapshot B", "outbox B", "other B",
         "all B", "target (snapshot)"],
        rows,
    ), flush=True)
    rows = memory(args.memory_players, args.seed)
    print(table(
        "Peak memory (max RSS of the child process, MB)",
        ["run", "players", "peak MB", "wall s", "files after, MB", "target"],
        rows,
    ))
    return 0


if __name__ == "__main__":
    sys.exit(main())
