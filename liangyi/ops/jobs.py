"""Periodic jobs (nightly schedules, missed deadlines, KPI snapshots), declared by each app.

An app declares its jobs in its own ``jobs.py``::

    from liangyi.ops.jobs import job

    @job("supervision.missed_reports", schedule="daily")
    def missed_reports(today: date) -> dict:
        ...  # idempotent: running it twice for the same day changes nothing the second time
        return {"opened": 3}

``discover`` imports every installed app's ``jobs`` module at start-up; ``run`` calls one job
for a day; ``python manage.py jobs`` lists and runs them. A job must be safe to re-run after an
interruption half-way: it derives what to do from the database, never from a counter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from importlib import import_module, util
from typing import Any

from django.apps import apps
from django.utils import timezone

SCHEDULES = ("daily", "hourly")


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
