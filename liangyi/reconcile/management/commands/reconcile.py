"""``manage.py reconcile PATH [--out REPORT.csv] [--scope CODE]``: the police export against the registry.

Progress goes to stderr; stdout carries a human summary and, as its last line, one JSON object
with the count per category (every category, zeros included) for scripts. Exit 0 when the file
was read and compared, 2 when it cannot be read (nothing is written then).
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from liangyi.reconcile import report
from liangyi.reconcile.reading import ReconcileFileError

UNREADABLE = 2


class Command(BaseCommand):
    # The system checks import every URLconf and view (about half a second of a run): this command
    # needs none of them, and a misconfigured site is still reported by every other command.
    requires_system_checks: list[str] = []
    help = ("Compare a police dynamic-control export (CSV in GB18030 or UTF-8, or XLSX) with the registry and "
            "write the report. The last line of output is a JSON object with the count per category.")

    def add_arguments(self, parser):
        parser.add_argument("path", help="the police export (CSV or XLSX)")
        parser.add_argument("--out", metavar="REPORT.csv",
                            help="where to write the report (default: PATH's name with .reconcile.csv, beside it)")
        parser.add_argument("--scope", metavar="CODE", default="",
                            help="a jurisdiction code: report missing_in_police only for registry persons inside it")

    def handle(self, *args, **options):
        path = Path(options["path"])
        if not path.is_file():
            raise CommandError(_("Cannot read %(path)s: there is no such file.") % {"path": path},
                               returncode=UNREADABLE)
        out = Path(options["out"]) if options["out"] else path.with_name(path.stem + ".reconcile.csv")
        if not out.parent.is_dir():
            raise CommandError(_("Cannot write the report to %(out)s: the folder does not exist.") % {"out": out},
                               returncode=UNREADABLE)
        try:
            result = report.run(path, out=out, scope=options["scope"].strip(), progress=self.stderr.write,
                                keep_findings=False)
        except ReconcileFileError as exc:
            raise CommandError(_("Cannot read %(path)s: %(reason)s") % {"path": path, "reason": exc.message},
                               returncode=UNREADABLE) from None
        export = result.export
        self.stdout.write(_("%(file)s: %(rows)d data rows compared with %(persons)d registered persons.") % {
            "file": export.file_name, "rows": export.row_count, "persons": result.registry_size})
        if export.ignored_columns:
            self.stdout.write(_("Columns not used: %(columns)s") % {"columns": ", ".join(export.ignored_columns)})
        for category, n in result.counts.items():
            self.stdout.write(f"  {category}: {n}")
        self.stdout.write(_("Report: %(out)s") % {"out": out})
        self.stdout.write(json.dumps(result.counts, ensure_ascii=False, sort_keys=False))
