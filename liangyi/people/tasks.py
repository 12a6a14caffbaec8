"""Background work of the person register (settings.TASKS: immediate, or Redis with a worker)."""

from __future__ import annotations

from django.tasks import task


@task(queue_name="imports")
def import_run(run_id: str) -> str:
    """Import an uploaded spreadsheet (people.ImportRun); the import page polls its progress."""
    from liangyi.people import importer

    return importer.import_execute(run_id)
