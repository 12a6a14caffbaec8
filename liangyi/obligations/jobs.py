"""The nightly generation (liangyi/ops/jobs.py): every person's obligations planned to the new horizon.

Services re-plan a person whenever they change what the plan depends on; the night moves the
horizon one day on (and re-checks everything else). ``engine.sync_many`` does it a chunk of
persons at a time, each chunk in its own transaction: a second run on the same day changes
nothing, and a run cut off half-way is finished by the next one without doubling anything.
"""

from __future__ import annotations

from datetime import date, timedelta

from liangyi.obligations import engine
from liangyi.ops.jobs import job


@job("obligations.generate", schedule="daily")
def generate(today: date) -> dict:
    """Plan every person's obligations up to today + the engine's horizon (only the difference is written)."""
    horizon = today + timedelta(days=engine.DEFAULT_HORIZON_DAYS)
    result = engine.sync_many(engine.all_persons(), horizon=horizon)
    return {"horizon": horizon.isoformat(), "created": result.created, "rescheduled": result.rescheduled,
            "removed": result.removed, "unchanged": result.unchanged}
