"""Competitions in the store (``store.competitions``): rounds as first materialised, the start
snapshot of each participant, and the final standings kept for history.

Each write is an ``INSERT … ON CONFLICT DO NOTHING`` followed by a read: several processes
that materialise the same round (a random metric, say) all end up with the first one's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from ..snapshot import Snapshot
from .db import Db, guarded
from .models import from_db_time

_TRUSTED_LAST = """
SELECT s.player_id, s.id FROM snapshot s
JOIN (SELECT t.player_id AS pid, MAX(t.taken_at) AS last_at FROM snapshot t
      WHERE t.taken_at <= ? AND NOT EXISTS (
          SELECT 1 FROM anomaly a WHERE a.player_id = t.player_id AND a.taken_at = t.taken_at)
      GROUP BY t.player_id) b ON b.pid = s.player_id AND b.last_at = s.taken_at
JOIN player p ON p.id = s.player_id
WHERE p.last_polled_at >= ?
"""


@dataclass(frozen=True, slots=True)
class RoundRow:
    competition: str
    round: str
    metrics: tuple[str, ...]
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class ResultRow:
    round: str
    player: str
    rank: int
    gain: int


def _round(r: Sequence[object]) -> RoundRow:
    start, end = from_db_time(r[3]), from_db_time(r[4])
    assert start is not None and end is not None  # NOT NULL columns
    return RoundRow(str(r[0]), str(r[1]), tuple(json.loads(str(r[2]))), start, end)


class CompetitionLog:
    """``store.competitions`` (see the module docstring)."""

    def __init__(self, db: Db) -> None:
        self.db = db

    @guarded
    def add_round(self, competition: str, key: str, metrics: Sequence[str], start: datetime,
                  end: datetime, now: datetime) -> RoundRow:
        """The round ``key`` as stored: these metrics if it is new, else the first ones."""
        select = ("SELECT competition, round, metrics, starts_at, ends_at FROM competition_round "
                  "WHERE competition = ? AND round = ?")
        with self.db.atomic():
            self.db.execute(
                "INSERT INTO competition_round (competition, round, metrics, starts_at, ends_at, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (competition, round) DO NOTHING",
                [competition, key, json.dumps(list(metrics)), self.db.t(start), self.db.t(end),
                 self.db.t(now)],
            )
            row = self.db.execute(select, [competition, key]).fetchone()
        return _round(row)

    @guarded
    def rounds(self, competition: str) -> list[RoundRow]:
        """Every round materialised so far, oldest first."""
        rows = self.db.execute(
            "SELECT competition, round, metrics, starts_at, ends_at FROM competition_round "
            "WHERE competition = ? ORDER BY round", [competition]).fetchall()
        return [_round(r) for r in rows]

    @guarded
    def record_starts(self, competition: str, key: str, player_ids: Iterable[int],
                      since: datetime, now: datetime) -> int:
        """Each of ``player_ids`` polled at or after ``since`` enters the round with their
        latest trusted snapshot (what that poll saw: a poll that sees no change stores no
        row). A player already entered keeps their first entry. How many entered now."""
        wanted = set(player_ids)
        if not wanted:
            return 0
        found = self.db.execute(_TRUSTED_LAST, [self.db.t(now), self.db.t(since)]).fetchall()
        entered = 0
        with self.db.atomic():
            for pid, sid in found:
                if pid in wanted:
                    cur = self.db.execute(
                        "INSERT INTO competition_entry (competition, round, player_id, "
                        "snapshot_id, recorded_at) VALUES (?, ?, ?, ?, ?) "
                        "ON CONFLICT (competition, round, player_id) DO NOTHING",
                        [competition, key, pid, sid, self.db.t(now)],
                    )
                    entered += max(0, int(cur.rowcount))
        return entered

    @guarded
    def entered(self, competition: str, key: str) -> set[int]:
        """The ids of the players entered in round ``key`` (no snapshot read)."""
        rows = self.db.execute(
            "SELECT player_id FROM competition_entry WHERE competition = ? AND round = ?",
            [competition, key]).fetchall()
        return {int(r[0]) for r in rows}

    @guarded
    def starts(self, competition: str, key: str) -> dict[str, tuple[datetime, Snapshot]]:
        """The recorded start of each entrant, by current display name."""
        rows = self.db.execute(
            "SELECT p.name, e.recorded_at, s.data FROM competition_entry e "
            "JOIN snapshot s ON s.id = e.snapshot_id JOIN player p ON p.id = e.player_id "
            "WHERE e.competition = ? AND e.round = ?", [competition, key]).fetchall()
        out: dict[str, tuple[datetime, Snapshot]] = {}
        for name, at, data in rows:
            when = from_db_time(at)
            assert when is not None
            out[str(name)] = (when, Snapshot.decode(bytes(data)))
        return out

    @guarded
    def save_results(self, competition: str, key: str,
                     rows: Iterable[tuple[str, int, int]]) -> None:
        """The final standings of a round: (player, rank, gain); kept once."""
        with self.db.atomic():
            for player, rank, gain in rows:
                self.db.execute(
                    "INSERT INTO competition_result (competition, round, player, rank, gain) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (competition, round, player) DO NOTHING",
                    [competition, key, player, rank, gain],
                )

    @guarded
    def results(self, competition: str) -> list[ResultRow]:
        """Every kept standing of every round, by round then rank."""
        rows = self.db.execute(
            "SELECT round, player, rank, gain FROM competition_result WHERE competition = ? "
            "ORDER BY round, rank, player", [competition]).fetchall()
        return [ResultRow(str(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in rows]
