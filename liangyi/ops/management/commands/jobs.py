"""List or run the periodic jobs: ``manage.py jobs`` lists; ``manage.py jobs run NAME [--today D] [--force]``.

A run is recorded (ops.JobRun): a day already done is not run again unless ``--force``.
"""

from __future__ import annotations

import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from liangyi.ops import jobs


class Command(BaseCommand):
    help = "List the periodic jobs, or run one (or all daily ones) for a day."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="what")
        sub.add_parser("list", help="list the jobs")
        run = sub.add_parser("run", help="run a job now")
        run.add_argument("name", help="the job's name, or 'daily' for every daily job")
        run.add_argument("--today", type=date.fromisoformat, default=None, help="the day to run for (YYYY-MM-DD)")
        run.add_argument("--force", action="store_true", help="run even if the day is already done")

    def handle(self, *args, what: str | None = None, **options) -> None:
        if what in (None, "list"):
            from liangyi.ops.models import JobRun

            for j in jobs.all_jobs():
                self.stdout.write(f"{j.name:40} {j.schedule:8} {j.doc}")
                last = JobRun.objects.filter(name=j.name).order_by("-day", "-slot").first()
                if last is not None:
                    self.stdout.write(f"{'':40} last run: {last.day} {last.state} (attempt {last.attempts})"
                                      f"{' ' + json.dumps(last.summary, ensure_ascii=False) if last.summary else ''}")
            return
        names = [j.name for j in jobs.all_jobs() if j.schedule == "daily"] if options["name"] == "daily" \
            else [options["name"]]
        day = options["today"] or timezone.localdate()
        for name in names:
            try:
                jobs.get(name)
            except LookupError as exc:
                raise CommandError(str(exc)) from None
            started = timezone.now()
            run = jobs.execute(name, day=day, force=options["force"])
            if run.started_at is None or run.started_at < started:  # not run now: done, or running elsewhere
                self.stdout.write(f"{name}: {run.get_state_display()} for {day} (attempt {run.attempts}); "
                                  f"--force runs it again")
                continue
            self.stdout.write(f"{name}: {json.dumps(run.summary, ensure_ascii=False, default=str)}")
