"""`osrs-notify poll` exactly as the console script runs it, but with the hiscores rate limiter
off (``--config`` etc. as for the CLI)::

    python -m tests.bench.poll_driver --config PATH poll

The config's ``rate_limit`` cannot go above 6,000/min, so 10,000 players would take 100 s of
waiting per poll; against a loopback fake that wait measures nothing. Everything else — settings,
store, HTTP client and its cache, pipeline, delivery — is the real code path. With
OSRS_BENCH_PEAK_FILE set, the process's peak resident set (kB) is written there at exit.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
from pathlib import Path

from poller.cli import context, main

_http_config = context.http_config


def _unlimited(settings):  # type: ignore[no-untyped-def]
    return dataclasses.replace(_http_config(settings), rate_per_minute=0)


def _peak(path: str) -> None:
    """This process's peak resident set (VmHWM, kB) into ``path``. Read here, not through
    ``wait4``'s ru_maxrss: on Linux that also counts the parent's pages from before exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            Path(path).write_text(line.split()[1])


if __name__ == "__main__":
    if os.environ.get("OSRS_BENCH_PEAK_FILE"):
        atexit.register(_peak, os.environ["OSRS_BENCH_PEAK_FILE"])
    context.http_config = _unlimited
    main()
