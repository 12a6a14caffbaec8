"""Background tasks of the operations app (settings.TASKS: immediate, or Redis with a worker)."""

from __future__ import annotations

from datetime import date

from django.tasks import task


@task
def job_run(name: str, day: str, slot: int = 0) -> dict:
    """Run one periodic job for a day (queued by the scheduler); a day already done is a no-op."""
    from liangyi.ops import jobs

    run = jobs.execute(name, day=date.fromisoformat(day), slot=slot)
    return {"state": run.state, "attempts": run.attempts}
