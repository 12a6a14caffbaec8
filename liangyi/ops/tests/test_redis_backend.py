"""Background work through Redis: a task queued by the web process runs in a worker.

Needs the Redis on 127.0.0.1:6379 (database 15, a queue of the test's own).
"""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from django.core.management import CommandError, call_command
from django.tasks import TaskResultStatus, task_backends

from liangyi.ops import jobs
from liangyi.ops.management.commands.ops_worker import work
from liangyi.ops.models import JobRun, RunState
from liangyi.ops.tasks import job_run

REDIS = "redis://127.0.0.1:6379/15"
DAY = date(2026, 3, 2)

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue_name(settings):
    name = f"test-{uuid.uuid4().hex[:12]}"
    settings.TASKS = {"default": {"BACKEND": "liangyi.ops.backends.RQBackend", "QUEUES": [name],
                                  "OPTIONS": {"URL": REDIS}}}
    backend = task_backends["default"]
    yield name
    queue = backend.queue(name)
    for job_id in [*queue.job_ids, *queue.failed_job_registry.get_job_ids(),
                   *queue.finished_job_registry.get_job_ids()]:
        backend.connection.delete(f"rq:job:{job_id}", f"rq:results:{job_id}")
    queue.delete(delete_jobs=True)
    for key in backend.connection.scan_iter(f"rq:*{name}*"):
        backend.connection.delete(key)


@pytest.fixture
def counting_job():
    calls: list[date] = []

    @jobs.job("test.redis_count", schedule="daily")
    def count(today: date) -> dict:
        calls.append(today)
        return {"n": len(calls)}

    yield calls
    jobs._registry.pop("test.redis_count", None)


def test_a_task_is_stored_in_redis_and_a_worker_runs_it(queue_name, counting_job):
    result = job_run.using(queue_name=queue_name).enqueue("test.redis_count", DAY.isoformat())
    assert result.status == TaskResultStatus.READY
    assert counting_job == []  # queued, not run: no worker has taken it yet
    backend = task_backends["default"]
    assert backend.queue(queue_name).count == 1

    assert work(backend, queues=[queue_name], burst=True, in_process=True)

    assert counting_job == [DAY]
    run = JobRun.objects.get(name="test.redis_count")
    assert (run.state, run.attempts) == (RunState.DONE, 1)
    done = backend.get_result(result.id)
    assert done.status == TaskResultStatus.SUCCESSFUL
    assert done.return_value == {"state": "done", "attempts": 1}
    assert done.args == ["test.redis_count", DAY.isoformat()]


def test_a_task_queued_twice_for_the_same_day_runs_the_job_once(queue_name, counting_job):
    for _ in range(2):
        job_run.using(queue_name=queue_name).enqueue("test.redis_count", DAY.isoformat())
    work(task_backends["default"], queues=[queue_name], burst=True, in_process=True)
    assert counting_job == [DAY]


def test_a_failing_task_is_reported_failed_with_its_traceback(queue_name):
    result = job_run.using(queue_name=queue_name).enqueue("test.no_such_job", DAY.isoformat())
    work(task_backends["default"], queues=[queue_name], burst=True, in_process=True)
    failed = task_backends["default"].get_result(result.id)
    assert failed.status == TaskResultStatus.FAILED
    assert "no job 'test.no_such_job'" in failed.errors[0].traceback


def test_arguments_that_are_not_json_are_refused_at_enqueue(queue_name):
    with pytest.raises(TypeError):
        job_run.using(queue_name=queue_name).enqueue("test.redis_count", DAY)


def test_the_worker_command_says_when_there_is_no_redis(settings):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    with pytest.raises(CommandError, match="REDIS_URL is not set"):
        call_command("ops_worker", "--burst")
