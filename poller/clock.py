"""The one wall clock. Everything that needs "now" takes a ``now`` callable defaulting to this,
so tests pass their own and nothing waits for real time.

``OSRS_NOTIFY_CLOCK`` sets the installed command's clock for rehearsals and end-to-end tests:
``2026-12-06T20:05:00Z`` starts it at that instant (it then runs at the normal rate), so a
test can run `poll` "on each day of a week" in seconds, and an admin can see what a digest
will do on Sunday evening without waiting for it. Unset (always, in production) it is the
system clock. A value that is not an ISO date-time with an offset is refused at start-up.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone

CLOCK_ENV = "OSRS_NOTIFY_CLOCK"


def _parse(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise SystemExit(f"error: {CLOCK_ENV}={text!r} is not a date-time with an offset "
                         "(e.g. 2026-12-06T20:05:00Z)")
    return value.astimezone(timezone.utc)


_SET = os.environ.get(CLOCK_ENV, "").strip()
_START = (_parse(_SET), time.monotonic()) if _SET else None


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (the only kind the store and the rules compare)."""
    if _START is not None:
        at, since = _START
        return at + timedelta(seconds=time.monotonic() - since)
    return datetime.now(timezone.utc)
