"""6. A weekly digest of 500 players from SQLite, beside one poll of the same players.

    python -m tests.bench.bench_digest                # about 2 minutes
    python -m tests.bench.bench_digest --reps 3 --profile

The database: 500 players (``common.players``) polled hourly for a week through the Store API —
``sync_players``, then ``record_poll`` with ``PollRecord``\\ s back-dated an hour apart: a
baseline an hour before the week, then 168 polls of every player, ~10% of whom played in each
hour (xp in 1-3 skills, often boss kills: ``Player.play``). As in the pipeline, a poll that
changed nothing adds no snapshot row (only ``last_polled_at`` moves), and the changed ones carry
the events ``poller.events.derive`` finds (level-ups, 99s, achievements) with their notices, kept
for history (no webhook). The week is Monday 2026-11-30 00:00 to Monday 2026-12-07 00:00 UTC;
"now" is five minutes after it ended (``OSRS_NOTIFY_CLOCK`` for the subprocesses).

Measured side by side, repetition by repetition in a rotating order (medians; ratios taken per
repetition, then the median):

- **poll**: one `osrs-notify poll` of the 500 players, run as ``tests.bench.poll_driver`` (the
  real CLI in a fresh process with only the hiscores rate limiter off — at the highest allowed
  rate, 6,000/min, 500 players would wait 5 s for the limiter alone) against a loopback hiscores
  answering at once, on a fresh copy of the week's database: every last snapshot is loaded,
  ~10% of the players changed since the last hour. No webhook: events are stored, none sent.
  Beside it, for reference, the installed `osrs-notify poll` of the same at the highest allowed
  rate (``--no-rated`` skips it): what a cron poll of 500 players costs at best.
- **digest**: `osrs-notify digest weekly --dry-run` (the installed console script, a fresh
  process) on the week's database: what a user pays for the digest, chart included.
- in process: ``poller.digests.gather`` (the week's snapshots read and decoded, ``clan_gains``
  for "overall" and "bosses", the 99s and achievements counted) and
  ``poller.digest_message.render(..., final=True)`` with the chart (matplotlib, Agg) warm;
- in a fresh process each: the first render, which imports matplotlib.

Wall seconds and CPU seconds (user + system of the child process, or of this process in
process): the machine is shared, and CPU time is what other work stretches least.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .common import (
    OSRS_NOTIFY,
    PYTHON,
    ROOT,
    SlowHiscores,
    cli_env,
    header,
    median,
    players,
    spread,
    table,
    verdict,
    write_config,
)

N = 500
HOURS = 168
START = datetime(2026, 11, 30, tzinfo=timezone.utc)  # a Monday: the digest's week, UTC
NOW = START + timedelta(hours=HOURS, minutes=5)
RATE = 6000  # requests a minute: the highest poll.rate_limit allowed
DIGEST = '\n[[digest]]\nname = "weekly"\nevery = "week"\nweekday = "monday"\n' \
    'metrics = ["overall", "bosses"]\n'


# -- the week's database -------------------------------------------------------------------------


def seed(home: Path, n: int, changing: float, seed_: int) -> tuple[Path, list, dict[str, int]]:
    """The digest's config and a database holding a week of hourly polls of ``n`` players.
    Returns (config path, the roster as it is at the end of the week, facts)."""
    from poller.config import load_settings
    from poller.events import derive
    from poller.hiscores import parse_json
    from poller.notices import event_notice
    from poller.store import OutboxEntry, PollRecord, open_store

    rng = random.Random(seed_)
    roster = players(n, seed_)
    db = home / "state.db"
    config = write_config(home, [p.name for p in roster], database=f"sqlite:///{db}",
                          extra=DIGEST)
    settings = load_settings(config, environ={})
    store = open_store(settings.database_url)
    store.sync_players([(p.name, "regular") for p in roster], START - timedelta(days=1))
    ids = {p.name: p.id for p in store.active_players(with_snapshots=False)}
    last = {p.name: parse_json(p.body()) for p in roster}
    at = START - timedelta(hours=1)
    facts: dict[str, int] = defaultdict(int)
    store.record_poll([PollRecord(ids[name], at, snap, reference=snap)
                       for name, snap in last.items()])
    for hour in range(1, HOURS + 1):
        at = START + timedelta(hours=hour)
        changed = {p.name for p in rng.sample(roster, round(n * changing))}
        records = []
        for p in roster:
            if p.name not in changed:
                records.append(PollRecord(ids[p.name], at, last[p.name]))  # adds no row
                continue
            p.play(rng)
            cur = parse_json(p.body())
            events = derive(last[p.name], cur, settings.rules).events
            outbox = tuple(
                OutboxEntry(e.kind, event_notice(e, player=p.name, mode="regular", snapshot=cur,
                                                 taken_at=at).to_json())
                for e in events
            )
            records.append(PollRecord(ids[p.name], at, cur, outbox=outbox, reference=cur))
            last[p.name] = cur
            for e in events:
                facts[e.kind] += 1
        facts["snapshots"] += store.record_poll(records).snapshots_added
    store.close()
    checkpoint(db)
    return config, roster, dict(facts)


def checkpoint(db: Path) -> None:
    """Fold the WAL into the file, so that a copy of the file alone is the whole database."""
    con = sqlite3.connect(db)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()


# -- the measured commands -----------------------------------------------------------------------


def child(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    """(wall s, CPU s of the child, stdout) of one command run to its end."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise SystemExit(f"{cmd} exited {out.returncode}:\n{out.stdout[-2000:]}\n"
                         f"{out.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, out.stdout


def cpu_wall(fn):  # type: ignore[no-untyped-def]
    """(wall s, CPU s of this process, result) of ``fn()``."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def in_process(config: Path):  # type: ignore[no-untyped-def]
    """(settings, store, digest, period) for the in-process measurements."""
    from poller.config import load_settings
    from poller.digests import digest_period
    from poller.store import open_store

    settings = load_settings(config, environ={})
    digest = settings.digests[0]
    return (settings, open_store(settings.database_url), digest,
            digest_period(digest, NOW, settings.timezone, offset=-1))


def render_child(config: Path) -> None:
    """In a fresh process: gather once, then the first render (importing matplotlib) and a warm
    one; the timings as one JSON line on stdout."""
    from poller.digest_message import render
    from poller.digests import gather

    settings, store, digest, period = in_process(config)
    data = gather(store, digest, period)
    store.close()
    before = "matplotlib" in sys.modules
    first, first_cpu, content = cpu_wall(lambda: render(digest, data, settings.timezone,
                                                        final=True, now=NOW))
    warm, warm_cpu, _ = cpu_wall(lambda: render(digest, data, settings.timezone, final=True,
                                                now=NOW))
    print(json.dumps({"first": first, "first_cpu": first_cpu, "warm": warm, "warm_cpu": warm_cpu,
                      "matplotlib_before": before, "png": len(content.chart or b"")}))


def profile(config: Path) -> None:
    """cProfile of one gather and one warm render, in this process."""
    from poller.digest_message import render
    from poller.digests import gather

    settings, store, digest, period = in_process(config)
    data = gather(store, digest, period)
    render(digest, data, settings.timezone, final=True, now=NOW)  # matplotlib imported
    profiler = cProfile.Profile()
    profiler.enable()
    data = gather(store, digest, period)
    render(digest, data, settings.timezone, final=True, now=NOW)
    profiler.disable()
    store.close()
    for key in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(key).print_stats(22)
        print(f"\n-- cProfile of one gather + one warm render (by {key}) --")
        print("\n".join(out.getvalue().splitlines()[:45]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--players", type=int, default=N)
    ap.add_argument("--changing", type=float, default=0.1,
                    help="share of the players who play in each hour (default 0.1)")
    ap.add_argument("--reps", type=int, default=7, help="repetitions (default 7)")
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--no-rated", dest="rated", action="store_false",
                    help="skip the installed `osrs-notify poll` at the highest allowed rate")
    ap.add_argument("--profile", action="store_true",
                    help="also cProfile one gather and one warm render")
    ap.add_argument("--render-child", metavar="CONFIG", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.render_child:
        render_child(Path(args.render_child))
        return 0

    header("6. A weekly digest beside one poll of the same players")
    with tempfile.TemporaryDirectory(prefix="osrs-bench-digest-") as tmp:
        home = Path(tmp)
        (home / "week").mkdir()
        seconds = time.perf_counter()
        config, roster, facts = seed(home / "week", args.players, args.changing, args.seed)
        seconds = time.perf_counter() - seconds
        db = home / "week" / "state.db"
        events = ", ".join(f"{k} {v:,}" for k, v in sorted(facts.items()) if k != "snapshots")
        print(f"seeded in {seconds:.0f} s: {args.players} players x {HOURS + 1} hourly polls, "
              f"{facts['snapshots']:,} snapshot rows ({db.stat().st_size / 2**20:.1f} MB), "
              f"events {events}", flush=True)
        # The next hour's play, for the poll: as many changed since the week's last poll.
        rng = random.Random(args.seed + 1)
        for p in rng.sample(roster, round(len(roster) * args.changing)):
            p.play(rng)
        bodies = {p.name: p.body(rng) for p in roster}
        results = measure(args, home, config, db, bodies)
        report(args, results, facts)
        if args.profile:
            profile(config)
    return 0


def measure(args, home: Path, config: Path, db: Path,  # type: ignore[no-untyped-def]
            bodies: dict[str, bytes]) -> dict[str, list[float]]:
    from poller.digest_message import render
    from poller.digests import gather

    clock = {"OSRS_NOTIFY_CLOCK": NOW.isoformat()}
    settings, store, digest, period = in_process(config)
    got: dict[str, list[float]] = defaultdict(list)
    with SlowHiscores(lambda name: bodies.get(name), delay=0.0) as fake:
        poll_env = cli_env(OSRS_API_ENDPOINT=fake.url, PYTHONPATH=str(ROOT), **clock)

        def a_poll(key: str, r: int, rated: bool) -> None:
            run = home / f"{key}-{r}"
            run.mkdir()
            shutil.copy(db, run / "state.db")  # the same week, the same changes, each time
            cfg = write_config(run, list(bodies), webhook_url=None,
                               poll={"rate_limit": RATE} if rated else None,
                               database=f"sqlite:///{run / 'state.db'}")
            cmd = [OSRS_NOTIFY] if rated else [PYTHON, "-m", "tests.bench.poll_driver"]
            fake.reset()
            wall, cpu, _ = child([*cmd, "--config", str(cfg), "poll"], poll_env, ROOT)
            assert len(fake.arrivals) == len(bodies), len(fake.arrivals)
            got[key].append(wall)
            got[f"{key}_cpu"].append(cpu)
            shutil.rmtree(run)

        def poll(r: int) -> None:
            a_poll("poll", r, rated=False)

        def poll_rated(r: int) -> None:
            if args.rated:
                a_poll("rated", r, rated=True)

        def digest_cli(r: int) -> None:
            wall, cpu, out = child([OSRS_NOTIFY, "--config", str(config), "digest", "weekly",
                                    "--dry-run"], cli_env(**clock), home)
            assert "[chart gains.png" in out, out[-1000:]
            got["digest"].append(wall)
            got["digest_cpu"].append(cpu)

        def fresh_render(r: int) -> None:
            _, _, out = child([PYTHON, "-m", "tests.bench.bench_digest", "--render-child",
                               str(config)], cli_env(), ROOT)
            doc = json.loads(out.splitlines()[-1])
            assert not doc["matplotlib_before"] and doc["png"] > 0, doc
            got["first_render"].append(doc["first"])
            got["first_render_cpu"].append(doc["first_cpu"])

        def here(r: int) -> None:
            wall, cpu, data = cpu_wall(lambda: gather(store, digest, period))
            got["gather"].append(wall)
            got["gather_cpu"].append(cpu)
            wall, cpu, content = cpu_wall(lambda: render(digest, data, settings.timezone,
                                                         final=True, now=NOW))
            got["render"].append(wall)
            got["render_cpu"].append(cpu)
            got["rows"].append(sum(len(v) for v in store.snapshots_between(
                period.start, period.end).values()))
            got["png"].append(len(content.chart or b""))
            got["nineties"].append(len(data.nineties))
            got["achievements"].append(data.achievements)

        # Warm-up, not counted: the page cache, and matplotlib's font cache (built once per
        # machine, not once per digest).
        render(digest, gather(store, digest, period), settings.timezone, final=True, now=NOW)
        digest_cli(-1)
        got.clear()
        steps = [poll, digest_cli, fresh_render, here, poll_rated]
        for r in range(args.reps):
            k = r % len(steps)
            for step in steps[k:] + steps[:k]:
                step(r)
            print(f"  rep {r + 1}/{args.reps}: poll {got['poll'][-1]:.2f} s, digest "
                  f"{got['digest'][-1]:.2f} s, gather {got['gather'][-1]:.2f} s, render warm "
                  f"{got['render'][-1]:.2f} s, first render {got['first_render'][-1]:.2f} s",
                  flush=True)
    store.close()
    return dict(got)


def report(args, got: dict[str, list[float]], facts: dict[str, int]) -> None:  # type: ignore[no-untyped-def]
    def ratio(key: str) -> float:
        return median(a / b for a, b in zip(got[key], got["poll"], strict=True))

    def cpu_ratio(key: str) -> float:
        return median(a / b for a, b in zip(got[f"{key}_cpu"], got["poll_cpu"], strict=True))

    def row(what: str, key: str, target: str = "") -> list[str]:
        return [what, f"{median(got[key]):.2f}", spread(got[key]),
                f"{median(got[f'{key}_cpu']):.2f}", f"{ratio(key):.2f}x",
                f"{cpu_ratio(key):.2f}x", target]

    both = [g + r for g, r in zip(got["gather"], got["render"], strict=True)]
    got["gather+render"] = both
    got["gather+render_cpu"] = [g + r for g, r in zip(got["gather_cpu"], got["render_cpu"],
                                                      strict=True)]
    ok_wall, ok_cpu = ratio("digest") < 1, cpu_ratio("digest") < 1
    n = args.players
    rows = [
        row(f"poll of {n} players (CLI in a fresh process, rate limiter off, loopback hiscores "
            f"answering at once; {args.changing:.0%} changed)", "poll"),
        *([row(f"the installed `osrs-notify poll` at rate_limit = {RATE} (the most allowed: "
                f"{n} requests take {n / (RATE / 60):.0f} s of limiter alone)", "rated")]
          if "rated" in got else []),
        row("`osrs-notify digest weekly --dry-run` (fresh process, chart on)", "digest",
            f"< poll: wall {verdict(ok_wall)}, CPU {verdict(ok_cpu)}"),
        row("  in process: gather (read + decode the week, gains of 2 metrics, 99s)", "gather"),
        row("  in process: render with the chart, warm", "render"),
        row("  in process: gather + warm render", "gather+render"),
        row("  fresh process: first render (imports matplotlib)", "first_render"),
    ]
    print(f"\nweek: {median(got['rows']):,.0f} snapshot rows read ({median(got['rows']) / n:.1f} "
          f"per player), {median(got['nineties']):.0f} 99s and {median(got['achievements']):.0f} "
          f"achievements counted; chart {median(got['png']) / 1024:.0f} KB")
    print(table(
        f"A weekly digest of {n} players ({HOURS} hourly polls, {args.changing:.0%} changing per "
        f"hour) beside one poll of them (median of {args.reps} interleaved repetitions; ratios "
        "per repetition, then the median)",
        ["what", "wall s", "range s", "CPU s", "wall x poll", "CPU x poll", "target"],
        rows,
    ))
    print(f"\ntarget (SPEC): a digest of {n} players over a week costs less than one poll of "
          f"them: wall {ratio('digest'):.2f}x the poll: {verdict(ok_wall)}; CPU "
          f"{cpu_ratio('digest'):.2f}x: {verdict(ok_cpu)}")


if __name__ == "__main__":
    sys.exit(main())
