"""A Redis-backed backend for Django's tasks framework, on RQ (used when ``REDIS_URL`` is set).

``task.enqueue(...)`` stores the call in a Redis list (RQ's queue, JSON-serialised: a task's
arguments must be JSON anyway); ``manage.py ops_worker`` takes calls off the list and runs them.
Without Redis, settings keep Django's ImmediateBackend and nothing here is imported.

Tasks must be idempotent: a worker killed half-way leaves its job in RQ's failed registry and
the work is started again by re-enqueueing, not resumed (see docs/scale.md).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.db import connections
from django.tasks.backends.base import BaseTaskBackend
from django.tasks.base import Task, TaskContext, TaskError, TaskResult, TaskResultStatus
from django.tasks.exceptions import TaskResultDoesNotExist
from django.utils import timezone
from django.utils.crypto import get_random_string
from django.utils.json import normalize_json
from django.utils.module_loading import import_string

_STATUS = {
    "queued": TaskResultStatus.READY,
    "deferred": TaskResultStatus.READY,
    "scheduled": TaskResultStatus.READY,
    "started": TaskResultStatus.RUNNING,
    "finished": TaskResultStatus.SUCCESSFUL,
    "failed": TaskResultStatus.FAILED,
    "stopped": TaskResultStatus.FAILED,
    "canceled": TaskResultStatus.FAILED,
}
DEFAULT_TIMEOUT = 3600  # seconds one task may run (a 100 000-row import takes minutes)
RESULT_TTL = 7 * 24 * 3600  # results and failures are kept a week, for the operator to look at


def perform(module_path: str, task_id: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """What the worker runs: find the task by its path and call it (RQ's job function)."""
    task = import_string(module_path)
    if not isinstance(task, Task):
        raise TypeError(f"{module_path} is not a task")  # a job can only name a declared task
    tidy_connections()
    try:
        if task.takes_context:
            backend = task.get_backend()
            result = backend.get_result(task_id) if isinstance(backend, RQBackend) else None
            return normalize_json(task.call(TaskContext(task_result=result), *args, **kwargs))
        return normalize_json(task.call(*args, **kwargs))
    finally:
        tidy_connections()


def tidy_connections() -> None:
    """Drop broken or expired database connections between tasks (a worker lives for weeks)."""
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:  # a test's transaction, or a caller's: not ours to close
            conn.close_if_unusable_or_obsolete()


class RQBackend(BaseTaskBackend):
    """OPTIONS: ``URL`` (redis://...), optional ``TIMEOUT`` (seconds per task)."""

    supports_get_result = True

    def __init__(self, alias: str, params: dict[str, Any]):
        super().__init__(alias, params)
        self.url = self.options["URL"]
        self.timeout = int(self.options.get("TIMEOUT", DEFAULT_TIMEOUT))

    @cached_property
    def connection(self):  # noqa: ANN201 (redis.Redis)
        from redis import Redis

        return Redis.from_url(self.url)

    def queue(self, name: str):  # noqa: ANN201 (rq.Queue)
        from rq import Queue
        from rq.serializers import JSONSerializer

        return Queue(name, connection=self.connection, serializer=JSONSerializer, default_timeout=self.timeout)

    def enqueue(self, task: Task, args: Any, kwargs: Any) -> TaskResult:
        self.validate_task(task)
        task_id = get_random_string(32)
        args, kwargs = normalize_json(list(args)), normalize_json(dict(kwargs))
        job = self.queue(task.queue_name).enqueue_call(
            perform, args=[task.module_path, task_id, args, kwargs], job_id=task_id,
            result_ttl=RESULT_TTL, failure_ttl=RESULT_TTL, description=task.name,
        )
        return self._result(task, job)

    def get_result(self, result_id: str) -> TaskResult:
        from rq.exceptions import NoSuchJobError
        from rq.job import Job
        from rq.serializers import JSONSerializer

        try:
            job = Job.fetch(result_id, connection=self.connection, serializer=JSONSerializer)
        except NoSuchJobError:
            raise TaskResultDoesNotExist(result_id) from None
        return self._result(import_string(job.args[0]), job)

    def _result(self, task: Task, job: Any) -> TaskResult:
        status = _STATUS.get(str(getattr(job.get_status(refresh=False), "value", "queued")), TaskResultStatus.READY)
        errors = []
        latest = job.latest_result() if status == TaskResultStatus.FAILED else None
        if latest is not None and latest.exc_string:
            errors.append(TaskError(exception_class_path="builtins.Exception", traceback=latest.exc_string))
        result = TaskResult(
            task=task, id=job.id, status=status, enqueued_at=_aware(job.enqueued_at),
            started_at=_aware(job.started_at), last_attempted_at=_aware(job.started_at),
            finished_at=_aware(job.ended_at), args=job.args[2], kwargs=job.args[3], backend=self.alias,
            errors=errors, worker_ids=[job.worker_name] if job.worker_name else [],
        )
        if status == TaskResultStatus.SUCCESSFUL:
            object.__setattr__(result, "_return_value", job.return_value())
        return result

    def check(self, **kwargs: Any) -> list:
        return []


def _aware(value: Any) -> Any:
    if value is None or timezone.is_aware(value):
        return value
    return timezone.make_aware(value, timezone.UTC)

