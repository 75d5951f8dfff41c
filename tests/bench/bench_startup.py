"""4. Start-up: the cron path with nothing to do, beside the interpreter's own start.

    python -m tests.bench.bench_startup               # about 30 s
    python -m tests.bench.bench_startup --rounds 30

Commands, each a fresh process, interleaved round by round in a rotating order so that all see
the same moments of this shared machine (median of the rounds):

- ``python -c pass`` and ``python -c "import requests"``: the floor and a yardstick;
- ``osrs-notify --help``;
- ``osrs-notify poll`` with nothing to do. ``poll`` polls every configured player on each run,
  so for the cron path "nothing due" is a config with no players and no watches: settings are
  loaded, the SQLite database opened (schema already current), and it exits;
- ``osrs-notify deliver`` with nothing pending (a webhook configured, an empty outbox): the
  other cron entry point, and one that does a little more.

When ``hyperfine`` is on the PATH (``apt-get install hyperfine``) it measures the same commands
too, and its medians are shown beside ours.

Then ``python -X importtime`` over each osrs-notify command: no scheduler (apscheduler), Redis
client (redis) or PostgreSQL driver (psycopg2) may be imported when none is configured.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
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

FORBIDDEN = ("apscheduler", "redis", "psycopg2")
WATCHED = ("requests", "requests_cache", "urllib3", "peewee", "sqlite3", "click", "dotenv",
           "notifier.messages", "poller.pipeline", "poller.store")
TARGETS = {"help": 0.15, "poll": 0.25}


def commands(home: Path) -> dict[str, list[str]]:
    empty = home / "empty" / "osrs-notify.toml"
    hooks = home / "hooks" / "osrs-notify.toml"
    return {
        "python -c pass": [PYTHON, "-c", "pass"],
        'python -c "import requests"': [PYTHON, "-c", "import requests"],
        "osrs-notify --help": [OSRS_NOTIFY, "--help"],
        "osrs-notify poll (no players, no watches)": [OSRS_NOTIFY, "--config", str(empty), "poll"],
        "osrs-notify deliver (nothing pending)": [OSRS_NOTIFY, "--config", str(hooks), "deliver"],
    }


def prepare(home: Path) -> None:
    for name, hook in (("empty", None), ("hooks", "http://127.0.0.1:9/api/webhooks/1/benchtoken")):
        (home / name).mkdir()
        write_config(home / name, [], webhook_url=hook,
                     database=f"sqlite:///{home / name / 'state.db'}")


def run(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"{cmd} exited {out.returncode}: {out.stdout}\n{out.stderr}")
    return seconds


def hyperfine(cmds: dict[str, list[str]], runs: int, home: Path) -> dict[str, float]:
    exe = shutil.which("hyperfine")
    if exe is None:
        return {}
    import shlex

    export = home / "hyperfine.json"
    subprocess.run(
        [exe, "--style", "none", "--warmup", "3", "--runs", str(runs), "-N",
         "--export-json", str(export), *(shlex.join(c) for c in cmds.values())],
        env=cli_env(), capture_output=True, text=True, timeout=300, check=True,
    )
    results = json.loads(export.read_text())["results"]
    return {name: r["median"] for name, r in zip(cmds, results, strict=True)}


def imports(
    cmd: list[str], env: dict[str, str], home: Path
) -> tuple[set[str], list[tuple[int, str]]]:
    """(modules loaded at exit, (cumulative µs, module) of each top-level import, costliest
    first)."""
    dump = home / "modules.txt"
    out = subprocess.run(
        [PYTHON, "-X", "importtime", "-m", "tests.bench.modules_at_exit", str(dump), *cmd],
        env=env, capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    names = set(dump.read_text().split())
    costs: list[tuple[int, str]] = []
    for line in out.stderr.splitlines():
        # "import time:   self [us] |  cumulative | imported package" , then one per module
        if not line.startswith("import time:") or "imported package" in line:
            continue
        _, cumulative, name = line.split("|", 2)
        module = name.strip()
        if module not in names:
            continue  # attempted, failed (or blocked on purpose), not loaded
        if not name.startswith("  "):  # imported by the program itself, not by another module
            costs.append((int(cumulative), module))
    costs.sort(reverse=True)
    return names, costs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args(argv)
    header("4. Start-up")
    env = cli_env()
    with tempfile.TemporaryDirectory(prefix="osrs-bench-start-") as tmp:
        home = Path(tmp)
        prepare(home)
        cmds = commands(home)
        for cmd in cmds.values():  # warm-up: creates the databases, fills the page cache
            run(cmd, env)
        times: dict[str, list[float]] = {name: [] for name in cmds}
        names = list(cmds)
        for r in range(args.rounds):
            k = r % len(names)
            for name in names[k:] + names[:k]:
                times[name].append(run(cmds[name], env))
        hf = hyperfine(cmds, args.rounds, home)

        floor = median(times["python -c pass"])
        rows = []
        for name in names:
            med = median(times[name])
            target = ""
            if "--help" in name:
                target = f"≤ {TARGETS['help']} s: {verdict(med <= TARGETS['help'])}"
            elif " poll" in name:
                target = f"≤ {TARGETS['poll']} s: {verdict(med <= TARGETS['poll'])}"
            elif "deliver" in name:
                target = f"(≤ {TARGETS['poll']} s: {verdict(med <= TARGETS['poll'])})"
            rows.append([name, f"{med * 1000:.0f}", spread([t * 1000 for t in times[name]]),
                         f"{med / floor:.2f}x",
                         f"{hf[name] * 1000:.0f}" if name in hf else "-", target])
        print(table(
            f"Start-up, wall ms per process (median of {args.rounds} interleaved rounds)",
            ["command", "ms", "range ms", "x python -c pass", "hyperfine median ms", "target"],
            rows,
        ))
        if not hf:
            print("\n(hyperfine not on the PATH: only our own timing)")

        # The cron path with work to do, for the imports only: one player, a loopback hiscores.
        (home / "one").mkdir()
        one = write_config(home / "one", ["Bench00000"], webhook_url=None,
                           database=f"sqlite:///{home / 'one' / 'state.db'}")
        body = players(1)[0].body()
        with SlowHiscores(lambda name: body, delay=0.0) as fake:
            checks = {name: cmds[name] for name in names[2:]}
            checks["osrs-notify poll (1 player, loopback hiscores)"] = [
                OSRS_NOTIFY, "--config", str(one), "poll"]
            rows = []
            for name, cmd in checks.items():
                rows.append(import_row(name, cmd, cli_env(OSRS_API_ENDPOINT=fake.url), home))
        print(table(
            "python -X importtime of each command (none of apscheduler, redis, psycopg2 unless "
            "configured)",
            ["command", "forbidden imported", "of note imported",
             "costliest top-level imports (cumulative ms)", "target"],
            rows,
        ))
    return 0


def import_row(name: str, cmd: list[str], env: dict[str, str], home: Path) -> list[str]:
    loaded, costs = imports(cmd, env, home)
    tops = {m.split(".")[0] for m in loaded}
    bad = [m for m in FORBIDDEN if m in tops]
    seen = [m for m in WATCHED if m in loaded]
    heavy = ", ".join(f"{m} {us / 1000:.0f}" for us, m in costs[:5] if m != "tests.bench")
    return [name, ", ".join(bad) or "none", ", ".join(seen) or "-", heavy, verdict(not bad)]


if __name__ == "__main__":
    sys.exit(main())
