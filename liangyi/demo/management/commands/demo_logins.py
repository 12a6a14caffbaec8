"""``manage.py demo_logins``: the demo accounts worth trying and what to look at with each."""

from __future__ import annotations

import unicodedata

from django.core.management.base import BaseCommand

from liangyi.core.models import User
from liangyi.demo import generator


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


class Command(BaseCommand):
    help = "Print the demo logins (username, password, role, jurisdiction, what to look at)."

    def handle(self, *args, **options) -> None:
        logins = generator.demo_logins()
        present = set(User.objects.filter(username__in=[x.username for x in logins]).values_list("username", flat=True))
        if not present:
            self.stdout.write("The demo city is not loaded: run `python manage.py seed_demo` first. "
                              "/ 尚未载入演示城市，请先运行 seed_demo。")
            return
        header = ("用户名 username", "密码 password", "角色 role", "辖区 jurisdiction", "看什么 what to look at")
        rows = [
            (x.username, generator.PASSWORD, f"{generator.ROLE_ZH[x.role]} {x.role}",
             f"{x.jurisdiction_name} {x.jurisdiction}".strip(), str(x.look_at))
            for x in logins if x.username in present
        ]
        widths = [max(_width(r[i]) for r in [header, *rows]) for i in range(4)]
        self.stdout.write("Demo logins / 演示账号 — http://127.0.0.1:8000/")
        self.stdout.write("")
        for row in [header, *rows]:
            self.stdout.write("  ".join(_pad(c, w) for c, w in zip(row[:4], widths, strict=True)) + "  " + row[4])
        self.stdout.write("")
        self.stdout.write("Other accounts follow the same pattern / 其他账号同理: worker_<township code>, "
                          "social_<township code>, leader_|police_|health_|hr_|civil_|edu_<county code>.")
