"""Queue the periodic jobs when due: ``manage.py ops_scheduler [--once]`` (see liangyi/ops/jobs.py)."""

from __future__ import annotations

import time as clock

from django.core.management.base import BaseCommand

from liangyi.ops import jobs
from liangyi.ops.backends import tidy_connections

TICK_SECONDS = 30


class Command(BaseCommand):
    help = ("Queue each periodic job once per day (daily ones from LIANGYI_JOBS_DAILY_AT) as a background task. "
            "Two schedulers running at once queue each job once.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="look once, queue what is due, and stop")

    def handle(self, *args, once: bool, **options) -> None:
        while True:
            tidy_connections()  # a scheduler lives for months: drop broken or expired connections
            try:
                queued = jobs.tick()
            except Exception as exc:  # a database restart must not stop the scheduler for good
                self.stderr.write(f"scheduler: {type(exc).__name__}: {exc}")
                queued = []
            for name in queued:
                self.stdout.write(f"queued {name}")
            if once:
                return
            clock.sleep(TICK_SECONDS)
