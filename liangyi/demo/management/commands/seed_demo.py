"""``manage.py seed_demo``: load the synthetic Qujing demo city into an empty local registry."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from liangyi.core import audit
from liangyi.demo import generator, schedules
from liangyi.people.models import STATUS_LABELS_ZH, Person, Status

BAR_WIDTH = 30


class Command(BaseCommand):
    help = "Build the synthetic demo city (Qujing: counties, townships, staff, persons) into an empty database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--persons", type=int, default=generator.DEFAULT_PERSONS,
                            help=f"how many persons (default {generator.DEFAULT_PERSONS})")
        parser.add_argument("--seed", type=int, default=generator.DEFAULT_SEED,
                            help=f"random seed; the same seed gives the same city (default {generator.DEFAULT_SEED})")
        parser.add_argument("--if-empty", action="store_true",
                            help="do nothing (and exit 0) when the registry already holds persons")

    def handle(self, *args, persons: int, seed: int, if_empty: bool, **options) -> None:
        if settings.PRODUCTION:
            raise CommandError("seed_demo refuses to run in production (LIANGYI_ENV=production): the demo city "
                               "is synthetic and must never mix with real persons. / 生产环境禁止载入演示数据。")
        if not settings.DEMO_MODE:
            raise CommandError("seed_demo runs only in demo mode; LIANGYI_SECRET_KEY and LIANGYI_FIELD_KEY are set, "
                               "so this looks like a real deployment. Unset them (or use a separate local "
                               "checkout) to load the demo city. / 已配置正式密钥，不载入演示数据。")
        if persons < 1:
            raise CommandError("--persons must be at least 1.")
        existing = Person.objects.count()
        if existing:
            if if_empty:
                self.stdout.write(f"The registry already holds {existing} persons: the demo city was not loaded. "
                                  f"/ 已有 {existing} 名人员，未载入演示数据。")
                return
            raise CommandError(f"The registry already holds {existing} persons; seed_demo only fills an empty one. "
                               f"Use a fresh database (e.g. LIANGYI_VAR_DIR=/tmp/demo, then migrate). "
                               f"/ 数据库中已有人员，请使用新的空数据库。")

        self.stderr.style_func = None  # the bar is progress, not an error: no red
        started = time.monotonic()
        summary = generator.generate(persons=persons, seed=seed, progress=self.progress, chains=True)
        obligations, overdue = schedules.load(seed=seed, today=timezone.localdate())
        self.stdout.write(f"  obligations / 待办事项: {obligations} ({overdue} overdue / 逾期)")
        audit.record(None, "demo.seeded", username="seed_demo", seed=seed, persons=persons,
                     users=summary.users_created, jurisdictions=summary.jurisdictions_created)
        self.report(summary, time.monotonic() - started)

    def progress(self, done: int, total: int) -> None:
        step = max(1, total // BAR_WIDTH)
        if done != total and done % step:
            return
        filled = BAR_WIDTH * done // total
        self.stderr.write(f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total} persons",
                          ending="\n" if done == total else "")
        self.stderr.flush()

    def report(self, summary: generator.Summary, seconds: float) -> None:
        out = self.stdout
        out.write(self.style.SUCCESS(f"Demo city loaded in {seconds:.1f} s (seed {summary.seed}). / 演示城市已载入。"))
        out.write(f"  jurisdictions created / 新建辖区: {summary.jurisdictions_created}")
        out.write(f"  users created / 新建用户: {summary.users_created}"
                  + (f" (kept existing: {', '.join(summary.users_existing)})" if summary.users_existing else ""))
        out.write(f"  persons / 人员: {summary.persons} (probable duplicates flagged: {summary.duplicates})")
        for status in Status:
            out.write(f"    {status.value:<20} {summary.by_status.get(status, 0):>5}  {STATUS_LABELS_ZH[status]}")
        out.write(f"  family members / 家庭成员: {summary.family_members}")
        out.write(f"  measures / 措施: {summary.measures}")
        out.write(f"  plans / 帮扶计划: {summary.plans}")
        out.write(f"  timeline events / 时间线事件: {summary.timeline_events}")
        out.write(f"All demo users share the password / 演示账号统一密码: {generator.PASSWORD}")
        out.write("See who to log in as: python manage.py demo_logins")
