"""The one wall clock. Everything that needs "now" takes a ``now`` callable defaulting to this,
so tests pass their own and nothing waits for real time."""

from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (the only kind the store and the rules compare)."""
    return datetime.now(timezone.utc)
