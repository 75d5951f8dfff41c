"""The reference a player's new snapshot is judged against: pure functions of snapshots.

Normally the reference is the last snapshot. After a rollback it is a high-water mark, so a
player re-earning rolled-back levels is not congratulated twice, while real progress is still
news once the data is trusted again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from . import game
from .snapshot import Snapshot, union_layouts


def high_water(a: Snapshot, b: Snapshot) -> Snapshot:
    """Element-wise maximum of two snapshots.

    After a rollback the stored reference keeps the highest value ever seen per metric, so a
    player re-earning levels Jagex rolled back is not announced twice — the flood of false
    "achievements" that follows every rollback in naive trackers. Ratings (which may go down)
    take the newest value instead.
    """

    def merge(old: Mapping[str, int], new: Mapping[str, int]) -> dict[str, int]:
        out = dict(old)
        for name, value in new.items():
            prev = out.get(name)
            if prev is None or value > prev or not game.is_monotonic(name):
                out[name] = value
        return out

    level = max((v for v in (a.overall_level, b.overall_level) if v is not None), default=None)
    return Snapshot(
        skills=merge(a.skills, b.skills),
        activities=merge(a.activities, b.activities),
        overall_level=level,
        ranks=b.ranks,
        # Rows either side had: a metric the reference knew as unranked can still "appear".
        layout=union_layouts(a.layout, b.layout),
    )


def with_ratings(reference: Snapshot, current: Snapshot) -> Snapshot:
    """``reference`` with the newest value of each metric that may go down (LMS, PvP Arena).

    What a rollback snapshot leaves as the reference: its gains are not folded in (they are
    announced once the data is trusted again), and rolled-back highs are kept.
    """
    ratings = {k: v for k, v in current.activities.items() if not game.is_monotonic(k)}
    if not ratings:
        return reference
    return dataclasses.replace(reference, activities={**reference.activities, **ratings})
