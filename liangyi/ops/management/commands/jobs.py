"""List or run the periodic jobs: ``manage.py jobs`` lists; ``manage.py jobs run NAME [--today D]``."""

from __future__ import annotations

import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from liangyi.ops import jobs


class Command(BaseCommand):
    help = "List the periodic jobs, or run one (or all daily ones) for a day."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="what")
        sub.add_parser("list", help="list the jobs")
        run = sub.add_parser("run", help="run a job now")
        run.add_argument("name", help="the job's name, or 'daily' for every daily job")
        run.add_argument("--today", type=date.fromisoformat, default=None, help="the day to run for (YYYY-MM-DD)")

    def handle(self, *args, what: str | None = None, **options) -> None:
        if what in (None, "list"):
            for j in jobs.all_jobs():
                self.stdout.write(f"{j.name:40} {j.schedule:8} {j.doc}")
            return
        names = [j.name for j in jobs.all_jobs() if j.schedule == "daily"] if options["name"] == "daily" \
            else [options["name"]]
        for name in names:
            try:
                result = jobs.run(name, today=options["today"])
            except LookupError as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(f"{name}: {json.dumps(result, ensure_ascii=False, default=str)}")
