"""``manage.py import_persons PATH [--dry-run] [--user USERNAME]``: the person template, in bulk.

Prints the created / updated / unchanged / rejected counts (one ``key: number`` line each, for
scripts) and every rejected row with its row number and reasons. Exit 0 when the file was read,
even with rejected rows; exit 2 when it cannot be read or there is nobody to import as.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from liangyi.core.errors import DomainError
from liangyi.core.models import Role, User
from liangyi.people import importer

UNREADABLE = 2


class Command(BaseCommand):
    help = ("Import persons from the template (CSV in UTF-8 or GB18030, or XLSX): creates or updates by ID number. "
            "Exit 0 when the file was read (even with rejected rows), 2 when it cannot be read.")

    def add_arguments(self, parser):
        parser.add_argument("path", help="the CSV or XLSX file")
        parser.add_argument("--dry-run", action="store_true",
                            help="check every row and report what would happen; save nothing")
        parser.add_argument("--user", metavar="USERNAME",
                            help="import as this user, within their role and jurisdiction (default: the first "
                                 "active administrator over every jurisdiction)")

    def handle(self, *args, **options):
        path = Path(options["path"])
        if not path.is_file():
            raise CommandError(_("Cannot read %(path)s: there is no such file.") % {"path": path},
                               returncode=UNREADABLE)
        actor = self._actor(options["user"])
        progress = self._progress if options["verbosity"] >= 2 else None
        try:
            result = importer.import_persons(path, actor=actor, dry_run=options["dry_run"], progress=progress)
        except importer.ImportFileError as exc:
            raise CommandError(_("Cannot import %(path)s: %(reason)s") % {"path": path, "reason": exc.message},
                               returncode=UNREADABLE) from None
        except DomainError as exc:  # the user's role may not import
            raise CommandError(str(exc), returncode=UNREADABLE) from None
        self._report(result)

    def _actor(self, username: str | None) -> User:
        if username:
            user = User.objects.filter(username=username).first()
            if user is None or not user.is_active:
                raise CommandError(_("No active user is called %(name)s.") % {"name": username},
                                   returncode=UNREADABLE)
            return user
        user = (User.objects.filter(is_active=True, role=Role.ADMIN, jurisdiction__isnull=True)
                .order_by("pk").first())
        if user is None:
            raise CommandError(
                _("A system import acts as an administrator over every jurisdiction, and there is none. Create one "
                  "with “python manage.py createsuperuser”, or name a user with --user USERNAME."),
                returncode=UNREADABLE)
        return user

    def _progress(self, done: int) -> None:
        self.stderr.write(_("%(n)d rows done") % {"n": done})

    def _report(self, result: importer.ImportResult) -> None:
        out = self.stdout
        out.write(_("%(file)s (%(format)s%(encoding)s): %(rows)d data rows.") % {
            "file": result.file_name, "format": result.file_format.upper(),
            "encoding": f", {result.encoding_label}" if result.encoding_label else "", "rows": result.rows})
        if result.dry_run:
            out.write(_("Dry run: nothing was saved. The counts say what an import would do."))
        # Fixed keys, not translated: scripts read these four lines.
        for key in ("created", "updated", "unchanged", "rejected"):
            out.write(f"{key}: {getattr(result, key)}")
        if result.ignored_columns:
            out.write(_("Ignored columns (not in the template): %(columns)s")
                      % {"columns": ", ".join(result.ignored_columns)})
        for row in result.rejections:
            who = " ".join(part for part in (row.name, row.id_masked) if part)
            out.write(_("row %(row)d%(who)s: %(reasons)s") % {
                "row": row.row, "who": f" ({who})" if who else "", "reasons": "; ".join(row.reasons)})
        if result.rejections_cut:
            out.write(_("… and %(n)d more rejected rows not listed.") % {"n": result.rejections_cut})
