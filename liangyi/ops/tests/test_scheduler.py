"""The scheduler and JobRun: once per day, safe with two schedulers, an interrupted run completes."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from liangyi.ops import jobs
from liangyi.ops.models import JobRun, RunState

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Tomorrow night, after the default 01:30: later than anything the runs stamp with the real clock.
DAY = datetime.now(SHANGHAI).date() + timedelta(days=1)
NIGHT = datetime.combine(DAY, time(2, 0), tzinfo=SHANGHAI)

pytestmark = pytest.mark.django_db


@pytest.fixture
def crashing_job():
    """A job that marks five items done (idempotently) and, on its first attempt, dies after two."""
    calls: list[int] = []

    @jobs.job("test.mark_items", schedule="daily")
    def mark_items(today: date) -> dict:
        calls.append(1)
        made = 0
        for i in range(5):
            made += Group.objects.get_or_create(name=f"{today}:{i}")[1]
            if i == 1 and len(calls) == 1:
                raise ConnectionError("the worker was cut off")
        return {"made": made}

    yield calls
    jobs._registry.pop("test.mark_items", None)


@pytest.fixture
def counting_job():
    calls: list[date] = []

    @jobs.job("test.count", schedule="daily")
    def count(today: date) -> dict:
        calls.append(today)
        return {"n": len(calls)}

    yield calls
    jobs._registry.pop("test.count", None)


def only(names: list[str], prefix: str = "test.") -> list[str]:
    return [n for n in names if n.startswith(prefix)]


class TestExecute:
    def test_the_same_day_twice_runs_once(self, counting_job):
        first = jobs.execute("test.count", day=DAY)
        second = jobs.execute("test.count", day=DAY)
        assert counting_job == [DAY]
        assert (second.pk, second.state, second.attempts, second.summary) == (first.pk, RunState.DONE, 1, {"n": 1})

    def test_force_runs_a_done_day_again_and_it_is_visible(self, counting_job):
        jobs.execute("test.count", day=DAY)
        run = jobs.execute("test.count", day=DAY, force=True)
        assert (len(counting_job), run.attempts, JobRun.objects.filter(name="test.count").count()) == (2, 2, 1)

    def test_an_interrupted_run_completes_on_the_rerun_without_doubling(self, crashing_job):
        with pytest.raises(ConnectionError):
            jobs.execute("test.mark_items", day=DAY)
        run = JobRun.objects.get(name="test.mark_items")
        assert run.state == RunState.FAILED
        assert "the worker was cut off" in run.error
        assert Group.objects.count() == 2
        run = jobs.execute("test.mark_items", day=DAY)
        assert (run.state, run.attempts, run.summary) == (RunState.DONE, 2, {"made": 3})
        assert sorted(Group.objects.values_list("name", flat=True)) == [f"{DAY}:{i}" for i in range(5)]


class TestTick:
    def test_nothing_is_due_before_the_daily_time(self, counting_job):
        assert only(jobs.tick(NIGHT.replace(hour=1, minute=0))) == []
        assert not JobRun.objects.exists()

    def test_a_due_job_is_queued_and_run_once_however_often_it_ticks(self, counting_job,
                                                                       django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):  # the task runs when the tick commits
            assert only(jobs.tick(NIGHT)) == ["test.count"]
        assert only(jobs.tick(NIGHT + timedelta(minutes=1))) == []
        assert only(jobs.tick(NIGHT + timedelta(hours=5))) == []
        assert counting_job == [DAY]
        assert JobRun.objects.get(name="test.count").state == RunState.DONE

    def test_two_schedulers_at_the_same_moment_queue_it_once(self, counting_job):
        # Both see no run yet; the unique row and the claiming update let only one queue the task.
        first = only(jobs.tick(NIGHT))
        second = only(jobs.tick(NIGHT))
        assert (first, second) == (["test.count"], [])
        assert JobRun.objects.get(name="test.count").state == RunState.QUEUED  # tasks run on commit

    def test_a_failed_run_is_queued_again_after_a_pause_and_completes(self, crashing_job,
                                                                       django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            jobs.tick(NIGHT)
        assert len(callbacks) >= 1
        assert JobRun.objects.get(name="test.mark_items").state == RunState.FAILED
        JobRun.objects.update(finished_at=NIGHT)  # it failed at once (the run stamps the real clock)
        assert only(jobs.tick(NIGHT + timedelta(minutes=1))) == []  # not at once
        with django_capture_on_commit_callbacks(execute=True):
            assert only(jobs.tick(NIGHT + jobs.RETRY_AFTER + timedelta(minutes=1))) == ["test.mark_items"]
        run = JobRun.objects.get(name="test.mark_items")
        assert (run.state, run.attempts) == (RunState.DONE, 2)
        assert Group.objects.count() == 5

    def test_a_run_cut_off_while_running_is_queued_again_when_stale(self, counting_job):
        JobRun.objects.create(name="test.count", day=DAY, state=RunState.RUNNING, attempts=1,
                              started_at=NIGHT, queued_at=NIGHT)
        assert only(jobs.tick(NIGHT + timedelta(minutes=10))) == []  # may still be running
        assert only(jobs.tick(NIGHT + jobs.STALE_AFTER + timedelta(minutes=1))) == ["test.count"]

    def test_failures_stop_being_retried_after_the_last_attempt(self, counting_job):
        JobRun.objects.create(name="test.count", day=DAY, state=RunState.FAILED, attempts=jobs.MAX_ATTEMPTS,
                              finished_at=NIGHT - timedelta(hours=1))
        assert only(jobs.tick(NIGHT)) == []

    def test_the_scheduler_command_queues_once_and_stops(self, counting_job, capsys, settings,
                                                         django_capture_on_commit_callbacks):
        settings.OPS_JOBS_DAILY_AT = "00:00"
        with django_capture_on_commit_callbacks(execute=True):
            call_command("ops_scheduler", "--once")
        assert "queued test.count" in capsys.readouterr().out
        assert len(counting_job) == 1
