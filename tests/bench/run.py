"""Every benchmark, one after the other (about 9 minutes):

    python -m tests.bench.run             # all
    python -m tests.bench.run cpu digest  # some of: cpu, polling, delivery, startup,
                                          # storage, digest, freshness

Each prints its own table; see the README's "Performance" section.
"""

from __future__ import annotations

import importlib
import sys
import time

ALL = ("cpu", "polling", "delivery", "startup", "storage", "digest", "freshness")


def main(argv: list[str] | None = None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or list(ALL)
    unknown = [n for n in names if n not in ALL]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {', '.join(ALL)}", file=sys.stderr)
        return 2
    for name in names:
        start = time.perf_counter()
        importlib.import_module(f"tests.bench.bench_{name}").main([])
        print(f"\n({name}: {time.perf_counter() - start:.0f} s)\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
