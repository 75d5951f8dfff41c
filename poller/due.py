"""Who is due now under the configured schedule: the glue between the store (each player's
activity), the settings (the policy) and the pure rule in :mod:`poller.adaptive`. `run`'s
hiscores job and `poll --due` both ask here, so both poll the same players."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from .adaptive import Policy, due, polling_rates

if TYPE_CHECKING:
    from .settings import Settings
    from .store import Store


def policy_of(settings: Settings) -> Policy:
    p = settings.poll
    return Policy(min_interval=p.min_interval, max_interval=p.max_interval,
                  budget_per_hour=float(p.budget), uniform=p.interval)


def due_ids(settings: Settings, store: Store, now: datetime) -> list[int]:
    """The ids of the active players to poll now, most overdue first."""
    activities = store.activity(now)
    policy = policy_of(settings)
    return due(activities, polling_rates(activities, policy, now), policy, now)
