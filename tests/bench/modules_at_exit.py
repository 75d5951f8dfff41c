"""Run a console script and, at exit, write the modules really loaded (one a line) to a file.

    python -X importtime -m tests.bench.modules_at_exit OUT SCRIPT [ARGS...]

``-X importtime`` alone also lists imports that were attempted and failed: ``poller.store``
makes peewee's optional drivers look "not installed" on purpose, so ``psycopg2`` shows up there
in 5 µs without being loaded. ``sys.modules`` at exit is the truth.
"""

from __future__ import annotations

import atexit
import runpy
import sys


def _dump(path: str) -> None:
    with open(path, "w") as f:
        f.write("\n".join(sorted(k for k, v in sys.modules.items() if v is not None)))


if __name__ == "__main__":
    out, script, *rest = sys.argv[1:]
    atexit.register(_dump, out)
    sys.argv = [script, *rest]
    runpy.run_path(script, run_name="__main__")
