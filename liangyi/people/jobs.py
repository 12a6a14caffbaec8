"""Daily: stamp as sealed any public-security punishment written unsealed (people.sealing)."""

from __future__ import annotations

from datetime import date

from liangyi.ops.jobs import job
from liangyi.people import sealing


@job("people.seal_records", schedule="daily")
def seal_records(today: date) -> dict:
    """Idempotent: rows already sealed are left alone."""
    return {"sealed": sealing.seal_due(on=today)}
