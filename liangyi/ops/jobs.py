"""Periodic jobs (nightly schedules, missed deadlines, KPI snapshots), declared by each app.

An app declares its jobs in its own ``jobs.py``::

    from liangyi.ops.jobs import job

    @job("supervision.missed_reports", schedule="daily")
    def missed_reports(today: date) -> dict:
        ...  # idempotent: running it twice for the same day changes nothing the second time
        return {"opened": 3}

``discover`` imports every installed app's ``jobs`` module at start-up; ``run`` calls one job
for a day; ``execute`` calls it once per day and records a ``JobRun``; ``tick`` is what the
scheduler (``manage.py ops_scheduler``) does every half minute: it queues each job that is due
and not yet done as a background task. ``python manage.py jobs`` lists and runs them.

A job must be safe to re-run after an interruption half-way: it derives what to do from the
database, never from a counter. The ``JobRun`` row (unique per job and day) is what keeps two
schedulers, or a scheduler and an operator, from running the same day twice; a run that failed
or was cut off is queued again, at most ``MAX_ATTEMPTS`` times.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from importlib import import_module, util
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.json import normalize_json

if TYPE_CHECKING:
    from liangyi.ops.models import JobRun

SCHEDULES = ("daily", "hourly")
# Operations, not rules of law: how the scheduler treats runs that failed or went silent.
MAX_ATTEMPTS = 3
RETRY_AFTER = timedelta(minutes=15)
STALE_AFTER = timedelta(hours=2)  # a run "running" this long was cut off (a killed worker)


@dataclass(frozen=True)
class Job:
    name: str
    func: Callable[[date], dict[str, Any]]
    schedule: str
    doc: str


_registry: dict[str, Job] = {}


def job(name: str, *, schedule: str = "daily") -> Callable[[Callable], Callable]:
    if schedule not in SCHEDULES:
        raise ValueError(f"job {name!r}: schedule must be one of {SCHEDULES}")

    def register(func: Callable[[date], dict[str, Any]]) -> Callable[[date], dict[str, Any]]:
        _registry[name] = Job(name, func, schedule, (func.__doc__ or "").strip().split("\n")[0])
        return func

    return register


def discover() -> None:
    for config in apps.get_app_configs():
        if config.name.startswith("liangyi.") and util.find_spec(f"{config.name}.jobs"):
            import_module(f"{config.name}.jobs")


def all_jobs() -> list[Job]:
    return sorted(_registry.values(), key=lambda j: j.name)


def get(name: str) -> Job:
    try:
        return _registry[name]
    except KeyError:
        raise LookupError(f"no job {name!r}; known: {', '.join(sorted(_registry)) or 'none'}") from None


def run(name: str, *, today: date | None = None) -> dict[str, Any]:
    return get(name).func(today or timezone.localdate())


def execute(name: str, *, day: date, slot: int = 0, force: bool = False) -> JobRun:
    """Run a job for a day once and record it; a day already done is left alone unless ``force``."""
    from liangyi.ops.models import JobRun, RunState

    job_ = get(name)
    now = timezone.now()
    with transaction.atomic():
        run, _created = _get_or_create(name, day, slot)
        run = JobRun.objects.select_for_update().get(pk=run.pk)
        busy = run.state == RunState.RUNNING and run.started_at and now - run.started_at < STALE_AFTER
        if not force and (run.state == RunState.DONE or busy):
            return run
        run.state, run.attempts, run.started_at = RunState.RUNNING, run.attempts + 1, now
        run.finished_at, run.error = None, ""
        run.save(update_fields=["state", "attempts", "started_at", "finished_at", "error"])
    try:
        summary = job_.func(day)
    except Exception:
        JobRun.objects.filter(pk=run.pk).update(state=RunState.FAILED, finished_at=timezone.now(),
                                                error=traceback.format_exc()[-8000:])
        raise
    run.state, run.summary, run.finished_at = RunState.DONE, normalize_json(summary or {}), timezone.now()
    run.save(update_fields=["state", "summary", "finished_at"])
    return run


def _get_or_create(name: str, day: date, slot: int) -> tuple[JobRun, bool]:
    from liangyi.ops.models import JobRun

    try:
        with transaction.atomic():
            return JobRun.objects.get_or_create(name=name, day=day, slot=slot)
    except IntegrityError:  # another scheduler made it at the same moment
        return JobRun.objects.get(name=name, day=day, slot=slot), False


def daily_at() -> time:
    return time.fromisoformat(settings.OPS_JOBS_DAILY_AT)


def due(now: datetime) -> list[tuple[str, date, int]]:
    """The (job, day, slot) that should have run by ``now`` (local time)."""
    local = timezone.localtime(now)
    out = []
    for j in all_jobs():
        if j.schedule == "hourly":
            out.append((j.name, local.date(), local.hour))
        elif local.time() >= daily_at():
            out.append((j.name, local.date(), 0))
    return out


def tick(now: datetime | None = None) -> list[str]:
    """Queue every due job not yet done (nor queued, nor running); returns the names queued."""
    from liangyi.ops.models import JobRun, RunState
    from liangyi.ops.tasks import job_run

    now = now or timezone.now()
    queued = []
    for name, day, slot in due(now):
        run, created = _get_or_create(name, day, slot)
        if not created:
            retry = run.state == RunState.FAILED and run.attempts < MAX_ATTEMPTS and (
                run.finished_at is None or now - run.finished_at >= RETRY_AFTER)
            cut_off = run.state == RunState.RUNNING and run.started_at and now - run.started_at >= STALE_AFTER
            lost = run.state == RunState.QUEUED and now - (run.queued_at or run.created_at) >= STALE_AFTER
            if not (retry or cut_off or lost):
                continue
        # Claim it: of two schedulers, only the one whose update matches queues the task.
        claimed = JobRun.objects.filter(pk=run.pk, state=run.state, queued_at=run.queued_at).update(
            state=RunState.QUEUED, queued_at=now)
        if claimed:
            transaction.on_commit(lambda n=name, d=day, s=slot: job_run.enqueue(n, d.isoformat(), s))
            queued.append(name)
    return queued
