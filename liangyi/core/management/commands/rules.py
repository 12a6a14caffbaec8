"""``manage.py rules [--json]``: print the active rule set (INTERFACES.md)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from liangyi.core import rules


class Command(BaseCommand):
    help = "Print the active rule set: every value with its unit, grade (law / local / open) and source."

    def add_arguments(self, parser):
        parser.add_argument(
            "--json", action="store_true",
            help='A JSON list of {"key", "value", "unit", "grade", "source"} ("why" too for an overridden law value).',
        )

    def handle(self, *args, **options):
        ruleset = rules.current()
        entries = [rule.as_dict() for rule in ruleset.rules.values()]
        if options["json"]:
            self.stdout.write(json.dumps(entries, ensure_ascii=False, indent=2))
            return
        self.stdout.write(f"Rule set {ruleset.name}, version {ruleset.version}")
        key_width = max((len(e["key"]) for e in entries), default=3)
        value_width = max((len(f"{json.dumps(e['value'])} {e['unit']}") for e in entries), default=5)
        self.stdout.write(f"{'key':<{key_width}}  {'value':<{value_width}}  {'grade':<5}  source")
        for e in entries:
            value = f"{json.dumps(e['value'], ensure_ascii=False)} {e['unit']}"
            line = f"{e['key']:<{key_width}}  {value:<{value_width}}  {e['grade']:<5}  {e['source']}"
            if e.get("why"):
                line += f"  [override: {e['why']}]"
            self.stdout.write(line)
