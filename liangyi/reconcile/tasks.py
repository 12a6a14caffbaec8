"""Background work of the reconciliation (settings.TASKS; the Immediate backend runs it at once)."""

from __future__ import annotations

from django.tasks import task


@task
def reconcile_run(run_id: int) -> str:
    from . import services

    return services.run_execute(run_id).state
