from datetime import date

import pytest
from django.core.management import CommandError, call_command

from liangyi.ops import jobs


@pytest.mark.django_db
def test_a_declared_job_runs_for_the_given_day(capsys):
    seen: list[date] = []

    @jobs.job("test.echo", schedule="daily")
    def echo(today: date) -> dict:
        """Echo the day."""
        seen.append(today)
        return {"day": today.isoformat()}

    try:
        call_command("jobs", "run", "test.echo", "--today", "2026-02-28")
        assert seen == [date(2026, 2, 28)]
        assert 'test.echo: {"day": "2026-02-28"}' in capsys.readouterr().out
        call_command("jobs", "run", "test.echo", "--today", "2026-02-28")  # recorded: done, not run again
        assert seen == [date(2026, 2, 28)]
        assert "Done for 2026-02-28 (attempt 1); --force runs it again" in capsys.readouterr().out
        call_command("jobs", "run", "test.echo", "--today", "2026-02-28", "--force")
        assert seen == [date(2026, 2, 28)] * 2
        capsys.readouterr()
        call_command("jobs", "list")
        assert 'last run: 2026-02-28 done (attempt 2) {"day": "2026-02-28"}' in capsys.readouterr().out
        call_command("jobs", "list")
        assert "Echo the day." in capsys.readouterr().out
    finally:
        jobs._registry.pop("test.echo", None)


def test_an_unknown_job_is_a_clear_error():
    with pytest.raises(CommandError, match="no job 'nope'"):
        call_command("jobs", "run", "nope")


def test_a_schedule_outside_the_known_ones_is_refused():
    with pytest.raises(ValueError, match="schedule must be one of"):
        jobs.job("x", schedule="weekly")
